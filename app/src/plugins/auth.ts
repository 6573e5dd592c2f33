// Client authentication: `Authorization: Bearer <gateway key>` (OpenAI SDKs, Claude Code) or `x-api-key`
// (Anthropic SDKs) → a key identity, looked up by SHA-256 hash.
import fp from 'fastify-plugin'
import { GatewayError } from '../errors.js'

// `app.keyRing` is read on every request: SIGHUP may replace its keys while running.
export default fp(async function auth (app) {
  const ring = app.keyRing
  app.addHook('onRequest', async (request) => {
    const apiKey = request.headers['x-api-key']
    const header = request.headers.authorization ?? (typeof apiKey === 'string' ? `Bearer ${apiKey}` : undefined)
    const result = ring.check(header)
    if ('refused' in result) throw new GatewayError(result.refused, result.message === undefined ? {} : { message: result.message })
    request.ctx.key = result.key
  })
}, { name: 'auth', dependencies: ['request-context'], decorators: { fastify: ['keyRing'] }, fastify: '5.x' })
