// The shared Redis connection (limits across replicas), when REDIS_URL is set; closed with the app.
// Every failed Redis command of the gateway is counted here, by what it was for.
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import type { Metric } from 'prom-client'
import { LeanCounter } from '../lib/lean-metrics.js'

/** What a Redis command was for: the `op` label of llm_gateway_redis_errors_total (a bounded set). */
export const REDIS_OPS = ['limits', 'budgets', 'usage', 'cache', 'idempotency', 'cooldown', 'affinity', 'other'] as const
export type RedisOp = typeof REDIS_OPS[number]

declare module 'fastify' {
  interface FastifyInstance {
    redis: Redis | undefined
    /** counts a failed Redis command (and logs the first of an outage once) */
    redisFailed: (op: RedisOp, err: Error) => void
  }
}

export default fp(async function redis (app) {
  const { redisUrl, limitsOnRedisDown: onDown } = app.gatewayConfig
  const errors = new LeanCounter('llm_gateway_redis_errors_total', 'Failed Redis commands, by what they were for (limits, budgets, usage, cache, …)', ['op'])
  // The registry only needs name, help, type and get(); see lib/lean-metrics.ts.
  app.metrics.registry.registerMetric(errors as unknown as Metric)
  for (const op of ['limits', 'budgets', 'usage'] as const) errors.with(op)
  let outage = false
  app.decorate('redisFailed', (op: RedisOp, err: Error) => {
    errors.with(REDIS_OPS.includes(op) ? op : 'other').value++
    if (outage) return
    outage = true
    app.log.warn({ err: { message: err.message }, op }, onDown === 'closed'
      ? 'redis unavailable: limited requests get 503 limits_unavailable until it is back (LIMITS_ON_REDIS_DOWN=closed)'
      : 'redis unavailable: limits fail open until it is back (LIMITS_ON_REDIS_DOWN=open)')
  })
  if (redisUrl === undefined) {
    app.decorate('redis', undefined)
    app.log.warn('REDIS_URL is not set: rate limits are counted per process, not shared between replicas')
    return
  }
  const client = new Redis(redisUrl, {
    // Fail fast instead of queueing: a limiter that waits on a dead Redis stalls every request.
    enableOfflineQueue: false,
    // Commands issued in the same tick (every request checks its limit) share one socket write.
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 1000,
    retryStrategy: (times) => Math.min(times * 200, 2000)
  })
  let warned = false
  client.on('error', (err: Error) => {
    if (!warned) app.log.warn({ err: { message: err.message } }, `redis connection problem; limits fail ${onDown} until it is back`)
    warned = true
  })
  client.on('ready', () => {
    if (warned || outage) app.log.info('redis is back: limits, budgets and usage counted again')
    warned = false
    outage = false
  })
  // Give Redis a moment at boot so the first requests are already counted; do not block on it.
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 2000)
    timer.unref()
    client.once('ready', () => { clearTimeout(timer); resolve() })
  })
  app.decorate('redis', client)
  app.addHook('onClose', async () => { client.disconnect() })
}, { name: 'redis', dependencies: ['metrics'], decorators: { fastify: ['gatewayConfig'] }, fastify: '5.x' })
