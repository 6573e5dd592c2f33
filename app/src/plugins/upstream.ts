// The upstream plugin: one Relay (pools, breakers) for the app, closed with it.
import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import { preloadTokenizer } from '../lib/usage.js'
import { Relay } from '../relay/relay.js'

export type { RelayJob } from '../relay/relay.js'

declare module 'fastify' {
  interface FastifyInstance { relay: Relay }
}

export default fp<{ config: Config }>(async function upstream (app, opts) {
  const relay = new Relay(opts.config, app.metrics)
  preloadTokenizer()
  app.decorate('relay', relay)
  app.addHook('onClose', async () => { await relay.close() })
}, { name: 'upstream', dependencies: ['metrics'], fastify: '5.x' })
