// Client authentication: `Authorization: Bearer <gateway key>` → a key identity, looked up by SHA-256 hash.
import fp from 'fastify-plugin'
import { GatewayError } from '../errors.js'
import type { KeyRing } from '../lib/keys.js'

/** `ring` is shared with the app (`app.keyRing`), which may replace its keys while running. */
export default fp<{ ring: KeyRing }>(async function auth (app, opts) {
  const ring = opts.ring
  app.addHook('onRequest', async (request) => {
    const key = ring.authenticate(request.headers.authorization)
    if (key === undefined) throw new GatewayError('invalid_api_key')
    request.ctx.key = key
  })
}, { name: 'auth', dependencies: ['request-context'], fastify: '5.x' })
