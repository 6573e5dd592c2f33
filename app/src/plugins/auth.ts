// Client authentication: `Authorization: Bearer <gateway key>` (OpenAI SDKs, Claude Code) or `x-api-key`
// (Anthropic SDKs) → a key identity, looked up by SHA-256 hash.
import fp from 'fastify-plugin'
import { GatewayError } from '../errors.js'
import type { KeyRing } from '../lib/keys.js'

/** `ring` is shared with the app (`app.keyRing`), which may replace its keys while running. */
export default fp<{ ring: KeyRing }>(async function auth (app, opts) {
  const ring = opts.ring
  app.addHook('onRequest', async (request) => {
    const apiKey = request.headers['x-api-key']
    const header = request.headers.authorization ?? (typeof apiKey === 'string' ? `Bearer ${apiKey}` : undefined)
    const result = ring.check(header)
    if ('refused' in result) throw new GatewayError(result.refused, result.message === undefined ? {} : { message: result.message })
    request.ctx.key = result.key
  })
}, { name: 'auth', dependencies: ['request-context'], fastify: '5.x' })
