// Per-request context: id, timer, in-flight gauge; at the very end one metrics record and one log line.
import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { GatewayKey } from '../lib/keys.js'
import type { AbortSide } from '../lib/stream-relay.js'
import type { ModelEntry } from '../lib/models.js'
import type { Usage } from '../lib/usage.js'
import { ROUTE_LABELS } from './metrics.js'

/** What each pipeline stage learns about a request; stages only add to it, accounting reads it at the end. */
export interface RequestContext {
  start: number
  route: string
  /** metrics label: a configured model id, "other", or "none" */
  model: string
  key?: GatewayKey
  modelEntry?: ModelEntry
  stream: boolean
  upstream?: string
  upstreamStatus?: number
  ttftMs?: number
  usage?: Usage
  costUsd?: number
  errorCode?: string
  abortedBy?: AbortSide
  /** usage still being estimated when the response ended */
  pendingUsage?: Promise<void>
}

declare module 'fastify' {
  interface FastifyRequest { ctx: RequestContext }
  interface FastifyInstance { shuttingDown: boolean }
}

const TRACKED = new Set<string>(ROUTE_LABELS)

export default fp(async function requestContext (app) {
  app.decorate('shuttingDown', false)
  app.decorateRequest('ctx', null as unknown as RequestContext)

  app.addHook('onRequest', async (request, reply) => {
    const url = request.routeOptions.url
    const route = url !== undefined && TRACKED.has(url) ? url : 'other'
    const ctx: RequestContext = { start: performance.now(), route, model: 'none', stream: false }
    request.ctx = ctx
    reply.header('x-request-id', request.id)
    if (url === '/healthz' || url === '/readyz') return
    app.metrics.requestStarted(route)
    reply.raw.once('close', () => {
      // The request is over for the in-flight gauge now, even if its usage is still being estimated.
      app.metrics.requestEnded(route)
      finish(request, reply, performance.now())
    })
    // While draining, requests are still served, but each connection closes after its response:
    // a proxy in front learns the connection is gone without racing an idle close.
    if (app.shuttingDown) reply.header('connection', 'close')
  })

  // The request line is info level; at warn and above skip building it at all.
  const logRequests = ['info', 'debug', 'trace'].includes(app.log.level)

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
    if (ctx.usage !== undefined) {
      app.metrics.usage(ctx.model, ctx.usage, ctx.costUsd ?? 0)
      if (ctx.key !== undefined) app.budgets.record(ctx.key, ctx.usage, ctx.costUsd ?? 0)
    }
    if (!logRequests) return
    request.log.info({
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
      prompt_tokens: ctx.usage?.promptTokens,
      completion_tokens: ctx.usage?.completionTokens,
      tokens_source: ctx.usage?.source,
      cost_usd: ctx.costUsd
    }, 'request')
  }
}, { name: 'request-context', dependencies: ['metrics'], decorators: { fastify: ['metrics'] }, fastify: '5.x' })
