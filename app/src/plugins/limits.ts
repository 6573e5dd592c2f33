// Per-key limits: requests (@fastify/rate-limit) when a request arrives, then tokens and spend
// (budgets) reserved once its body is read; shared through Redis when set.
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import { GatewayError } from '../errors.js'
import { reserveAmount } from '../lib/reservation.js'
import { formatDuration, retryAfterSeconds } from '../lib/retry-after.js'

export const WINDOW_MS = 60_000

export default fp(async function limits (app) {
  const closed = app.gatewayConfig.limitsOnRedisDown === 'closed'
  const defaultRpm = app.gatewayConfig.rateLimitRpm
  await app.register(rateLimit, {
    global: false,
    timeWindow: WINDOW_MS,
    redis: app.redis,
    nameSpace: 'llm-gw:rl:',
    // Store errors come back to the hook below, which counts them and applies LIMITS_ON_REDIS_DOWN.
    skipOnError: false
  })
  const check = app.createRateLimit({
    keyGenerator: (request) => request.ctx.key?.id ?? 'anonymous',
    max: (request) => request.ctx.key?.rpm ?? defaultRpm,
    timeWindow: WINDOW_MS
  })

  app.addHook('onRequest', async (request, reply) => {
    let limit
    try {
      limit = await check(request)
    } catch (err) {
      app.redisFailed('limits', err as Error)
      if (closed) throw new GatewayError('limits_unavailable', { headers: { 'retry-after': '2' }, cause: err })
      return // open: served, not counted
    }
    if (limit.isAllowed) return
    const max = limit.max ?? defaultRpm
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

  // Tokens and spend are reserved once the body is parsed and validated: its max_tokens and prompt
  // size the reservation. Keys can be replaced while running (SIGHUP), so the hook is always
  // there; a key without a budget passes without a promise or a Redis read.
  app.addHook('preHandler', (request, reply, done) => {
    const key = request.ctx.key
    if (key === undefined || !app.budgets.has(key)) { done(); return }
    const body = typeof request.body === 'object' && request.body !== null && !Buffer.isBuffer(request.body) ? request.body as Record<string, unknown> : undefined
    const model = typeof body?.model === 'string' ? app.gatewayConfig.catalog.lookup(body.model) : undefined
    // Only routes that generate text reserve output (not count_tokens or input_tokens, which share a surface name).
    const spec = request.ctx.surface
    const surface = spec?.estimates === true ? spec.name : 'none'
    const amount = reserveAmount(surface, body, model?.price, app.gatewayConfig.limitsReserveOutputTokens)
    app.budgets.reserve(key, amount, reply).then((reservation) => {
      if (reservation !== undefined) request.ctx.reservation = reservation
      done()
    }, done)
  })
}, { name: 'limits', dependencies: ['auth', 'metrics', 'budgets', 'redis'], decorators: { fastify: ['gatewayConfig'] }, fastify: '5.x' })
