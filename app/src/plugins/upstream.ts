// The upstream plugin: one Relay (pools, breakers, response affinity) and the state it shares with the
// other replicas through Redis (cooldowns, response cache, Idempotency-Key results); closed with the app.
import fp from 'fastify-plugin'
import { Affinity } from '../relay/affinity.js'
import { ResponseCache } from '../relay/cache.js'
import { Cooldowns } from '../relay/cooldown.js'
import { ReplicaEvents } from '../relay/events.js'
import { Idempotency } from '../relay/idempotency.js'
import { Relay } from '../relay/relay.js'
import type { GovernedFeature } from '../relay/serve.js'

export type { RelayJob } from '../relay/relay.js'

declare module 'fastify' {
  interface FastifyInstance {
    relay: Relay
    /** which upstream created a stored response (several upstreams only) */
    affinity: Affinity
  }
}

/** What stops working while Redis is away, said once per outage. */
const DOWN_MESSAGES: Record<GovernedFeature | 'cooldown', string> = {
  cache: 'response cache unavailable (Redis): requests are answered uncached until it is back',
  idempotency: 'Idempotency-Key unavailable (Redis): requests with the header run without it until it is back',
  cooldown: 'shared upstream cooldowns unavailable (Redis): each replica keeps its own until it is back'
}

export default fp(async function upstream (app) {
  const config = app.gatewayConfig
  let lastWarn = 0
  const affinity = new Affinity(app.redis, config.responsesAffinityTtlS, (err) => {
    if (Date.now() - lastWarn > 10_000) app.log.warn({ err: { message: err.message } }, 'response affinity unavailable in Redis; ids go to their model\'s first target')
    lastWarn = Date.now()
  })
  const down = new Set<GovernedFeature | 'cooldown'>()
  const failed = (feature: GovernedFeature | 'cooldown', err: Error): void => {
    if (app.redis !== undefined && app.redis.status === 'ready') app.redisFailed(feature, err)
    if (down.has(feature)) return
    down.add(feature)
    app.log.warn({ err: { message: err.message } }, DOWN_MESSAGES[feature])
  }
  app.redis?.on('ready', () => {
    if (down.size > 0) app.log.info({ features: [...down] }, 'redis is back: response cache, Idempotency-Key and shared cooldowns work again')
    down.clear()
  })
  const events = app.redis === undefined ? undefined : new ReplicaEvents(app.redis, (err) => { failed('cooldown', err) })
  // A probe holds its lock about as long as an upstream may take to answer headers, within reason.
  const cooldowns = new Cooldowns(app.redis, events, { maxMs: config.cooldownMaxMs, probeMs: Math.min(config.timeouts.headersMs, 30_000) }, (err) => { failed('cooldown', err) })
  const cache = new ResponseCache(app.redis, events, config.cache)
  const idempotency = new Idempotency(app.redis, events, config.idempotency)
  const relay = new Relay(config, app.metrics, affinity, { events, cooldowns, cache, idempotency, failed })
  const targetModels = new Set(config.catalog.models.flatMap((m) => m.targets.map((t) => t.model)))
  app.metrics.watchCooldowns(config.upstreams.map((u) => u.name), targetModels, () => cooldowns.snapshot())
  app.decorate('relay', relay)
  app.decorate('affinity', affinity)
  app.addHook('onClose', async () => { await relay.close() })
}, { name: 'upstream', dependencies: ['metrics', 'redis'], decorators: { fastify: ['gatewayConfig'] }, fastify: '5.x' })
