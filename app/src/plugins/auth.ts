// Client authentication: `Authorization: Bearer <gateway key>` → a key identity, looked up by SHA-256 hash.
import fp from 'fastify-plugin'
import { GatewayError } from '../errors.js'
import { KeyRing, type GatewayKey } from '../lib/keys.js'

export default fp<{ keys: readonly GatewayKey[] }>(async function auth (app, opts) {
  const ring = new KeyRing(opts.keys)
  app.addHook('onRequest', async (request) => {
    const key = ring.authenticate(request.headers.authorization)
    if (key === undefined) throw new GatewayError('invalid_api_key')
    request.ctx.key = key
  })
}, { name: 'auth', dependencies: ['request-context'], fastify: '5.x' })
