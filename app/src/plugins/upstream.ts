// The upstream plugin: one Relay (pools, breakers, response affinity) for the app, closed with it.
import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import { Affinity } from '../relay/affinity.js'
import { Relay } from '../relay/relay.js'

export type { RelayJob } from '../relay/relay.js'

declare module 'fastify' {
  interface FastifyInstance {
    relay: Relay
    /** which upstream created a stored response (several upstreams only) */
    affinity: Affinity
  }
}

export default fp<{ config: Config }>(async function upstream (app, opts) {
  let lastWarn = 0
  const affinity = new Affinity(app.redis, opts.config.responsesAffinityTtlS, (err) => {
    if (Date.now() - lastWarn > 10_000) app.log.warn({ err: { message: err.message } }, 'response affinity unavailable in Redis; ids go to their model\'s first target')
    lastWarn = Date.now()
  })
  const relay = new Relay(opts.config, app.metrics, affinity)
  app.decorate('relay', relay)
  app.decorate('affinity', affinity)
  app.addHook('onClose', async () => { await relay.close() })
}, { name: 'upstream', dependencies: ['metrics', 'redis'], fastify: '5.x' })
