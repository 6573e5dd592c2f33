// Stage 7, account: when a response has closed (and its usage is known), one metrics record, the
// key's reservation settled with the real usage (or refunded), the key's daily usage bucket, and
// one log line. Registered early so it sees every response.
import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { MemoryUsageStore, RedisUsageStore, utcDay, type UsageCounts, type UsageStore } from '../lib/usage-buckets.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** daily usage buckets per key (the admin usage API reads them) */
    usageStore: UsageStore
  }
}

export default fp(async function accounting (app) {
  const retention = app.gatewayConfig.usageRetentionDays
  // Buckets are added up in process and written once a second: no Redis command per request.
  const usageStore: UsageStore = app.redis === undefined
    ? new MemoryUsageStore(retention)
    : new RedisUsageStore(app.redis, retention, (err) => { app.redisFailed('usage', err) })
  app.decorate('usageStore', usageStore)
  // Registered after redis, so this runs before the connection closes.
  app.addHook('onClose', async () => { await usageStore.close() })

  // The request line is info level; at warn and above skip building it at all.
  const logRequests = ['info', 'debug', 'trace'].includes(app.log.level)
  // The request line carries only scalars the gateway chose (ids, codes, counts), never a header or
  // a body, so the logger's redaction paths can match nothing in it; walking them anyway was more
  // than half the line's cost (bench/README.md).
  const requestLog = app.log.child({}, { redact: [] })

  // The bucket's day, recomputed when the UTC day changes rather than formatted for every request.
  let dayEnds = 0
  let day = ''
  const today = (now: number): string => {
    if (now >= dayEnds) {
      day = utcDay(now)
      dayEnds = (Math.floor(now / 86_400_000) + 1) * 86_400_000
    }
    return day
  }

  app.addHook('onRequest', (request, reply, done) => {
    if (!request.ctx.probe) reply.raw.once('close', () => { finish(request, reply, performance.now()) })
    done()
  })

  function finish (request: FastifyRequest, reply: FastifyReply, endedAt: number): void {
    const ctx = request.ctx
    if (ctx.pendingUsage !== undefined) {
      const pending = ctx.pendingUsage
      ctx.pendingUsage = undefined
      pending.then(() => { finish(request, reply, endedAt) }, () => { finish(request, reply, endedAt) })
      return
    }
    const durationS = (endedAt - ctx.start) / 1000
    const res = reply.raw
    const aborted = !res.writableFinished
    if (aborted && ctx.abortedBy === undefined) ctx.abortedBy = 'client'
    // A client that left before any answer is logged as 499, as nginx does.
    const status = aborted && !res.headersSent ? 499 : res.statusCode
    app.metrics.finished({ route: ctx.route, model: ctx.model, status, stream: ctx.stream, durationS })
    // A cache hit carries usage only when hits are charged (CACHE_HITS_CHARGED); without usage its
    // reservation is given back like any answer the upstream did not bill.
    const cacheHit = ctx.cache === 'hit'
    const usage = ctx.usage
    const cost = usage === undefined ? 0 : ctx.costUsd ?? 0
    if (usage !== undefined) {
      app.metrics.usage(ctx.model, usage, cost)
      if (ctx.key !== undefined) app.metrics.keyUsage(ctx.key.id, usage, cost)
    }
    if (ctx.reservation !== undefined) app.budgets.settle(ctx.reservation, usage, cost)
    if (ctx.key !== undefined) {
      const counts: Partial<UsageCounts> = { requests: 1 }
      if (usage !== undefined) {
        counts.prompt_tokens = usage.promptTokens
        counts.cached_prompt_tokens = usage.cachedPromptTokens
        counts.cache_write_tokens = usage.cacheWriteTokens
        counts.completion_tokens = usage.completionTokens
        counts.reasoning_tokens = usage.reasoningTokens
        counts.cost_micro_usd = Math.round(cost * 1e6)
      }
      if (cacheHit) counts.cache_hits = 1
      if (status === 429) counts.rate_limited = 1
      else if (status >= 400) counts.errors = 1
      usageStore.add(today(Date.now()), ctx.key.id, ctx.model, counts)
    }
    if (!logRequests) return
    const u = ctx.usage
    requestLog.info({
      reqId: request.id,
      key: ctx.key?.id,
      method: request.method,
      route: ctx.route,
      model: ctx.model,
      stream: ctx.stream,
      status,
      upstream: ctx.upstream,
      upstream_status: ctx.upstreamStatus,
      error: ctx.errorCode,
      aborted: ctx.abortedBy,
      ms: Math.round(durationS * 1e4) / 10,
      ttft_ms: ctx.ttftMs === undefined ? undefined : Math.round(ctx.ttftMs * 10) / 10,
      prompt_tokens: u?.promptTokens,
      cached_prompt_tokens: u === undefined || u.cachedPromptTokens === 0 ? undefined : u.cachedPromptTokens,
      cache_write_tokens: u === undefined || u.cacheWriteTokens === 0 ? undefined : u.cacheWriteTokens,
      completion_tokens: u?.completionTokens,
      reasoning_tokens: u === undefined || u.reasoningTokens === 0 ? undefined : u.reasoningTokens,
      tokens_source: u?.source,
      cost_usd: ctx.costUsd
    }, 'request')
  }
}, { name: 'accounting', dependencies: ['request-context', 'metrics', 'budgets', 'redis'], decorators: { fastify: ['gatewayConfig', 'metrics', 'budgets'] }, fastify: '5.x' })
