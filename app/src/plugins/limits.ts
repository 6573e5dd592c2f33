// Per-key limits: requests (@fastify/rate-limit), then tokens and spend (budgets); shared through Redis when set.
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import type { Redis } from 'ioredis'
import { GatewayError } from '../errors.js'
import { formatDuration, retryAfterSeconds } from '../lib/retry-after.js'

export const WINDOW_MS = 60_000

export interface LimitsOptions {
  defaultRpm: number
  redis: Redis | undefined
}

export default fp<LimitsOptions>(async function limits (app, opts) {
  await app.register(rateLimit, {
    global: false,
    timeWindow: WINDOW_MS,
    redis: opts.redis,
    nameSpace: 'llm-gw:rl:',
    // Redis trouble must not take the API down: requests pass and /readyz reports Redis.
    skipOnError: true
  })
  const check = app.createRateLimit({
    keyGenerator: (request) => request.ctx.key?.id ?? 'anonymous',
    max: (request) => request.ctx.key?.rpm ?? opts.defaultRpm,
    timeWindow: WINDOW_MS
  })

  app.addHook('onRequest', async (request, reply) => {
    const limit = await check(request)
    if (limit.isAllowed) return
    const max = limit.max ?? opts.defaultRpm
    const ttl = limit.ttl ?? WINDOW_MS
    reply.header('x-ratelimit-limit-requests', String(max))
    reply.header('x-ratelimit-remaining-requests', String(limit.remaining ?? 0))
    reply.header('x-ratelimit-reset-requests', formatDuration(ttl))
    if (limit.isExceeded === true) {
      app.metrics.limited('key')
      throw new GatewayError('rate_limit_exceeded', {
        message: `Rate limit reached for this API key: ${max} requests per minute. Retry in ${retryAfterSeconds(ttl)} s.`,
        headers: { 'retry-after': retryAfterSeconds(ttl) }
      })
    }
  })

  // Keys can be replaced while running (SIGHUP), so the hook is always there; a key without a
  // budget passes without a promise or a Redis read.
  app.addHook('onRequest', (request, reply, done) => {
    const key = request.ctx.key
    if (key === undefined || !app.budgets.has(key)) { done(); return }
    app.budgets.check(key, reply).then(() => { done() }, done)
  })
}, { name: 'limits', dependencies: ['auth', 'metrics', 'budgets'], fastify: '5.x' })
