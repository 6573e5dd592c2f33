// Stage 1, onRequest: the per-request context (id, timer, surface's error format) and the in-flight gauge.
import fp from 'fastify-plugin'
import type { ErrorFormat } from '../errors.js'
import type { GatewayKey } from '../lib/keys.js'
import type { AbortSide } from '../lib/stream-relay.js'
import type { Usage } from '../lib/usage.js'
import { ROUTE_LABELS } from '../surfaces/index.js'

/** What each pipeline stage learns about a request; stages only add to it, accounting reads it at the end. */
export interface RequestContext {
  start: number
  route: string
  /** the error body the route's clients parse */
  errorFormat: ErrorFormat
  /** metrics label: a configured model id, "other", or "none" */
  model: string
  key?: GatewayKey
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
  /** the response cache's part: served from it (hit), stored or could be (miss), asked for but not usable (bypass) */
  cache?: 'hit' | 'miss' | 'bypass'
  /** a stored answer sent again for a repeated Idempotency-Key: nothing new to charge */
  idempotentReplay?: boolean
}

declare module 'fastify' {
  interface FastifyRequest { ctx: RequestContext }
  interface FastifyInstance { shuttingDown: boolean }
}

const TRACKED = new Set<string>(ROUTE_LABELS)
/** Unknown paths under the Messages API still answer in Anthropic's format. */
const ANTHROPIC_PATH = /^\/v1\/messages(?:[/?]|$)/

export default fp(async function requestContext (app) {
  app.decorate('shuttingDown', false)
  app.decorateRequest('ctx', null as unknown as RequestContext)

  app.addHook('onRequest', async (request, reply) => {
    const url = request.routeOptions.url
    const route = url !== undefined && TRACKED.has(url) ? url : 'other'
    const surface = request.routeOptions.config.surface
    const errorFormat = surface?.errorFormat ?? (url === undefined && ANTHROPIC_PATH.test(request.url) ? 'anthropic' : 'openai')
    request.ctx = { start: performance.now(), route, errorFormat, model: 'none', stream: false }
    reply.header('x-request-id', request.id)
    if (url === '/healthz' || url === '/readyz') return
    app.metrics.requestStarted(route)
    // The request is over for the in-flight gauge now, even if its usage is still being estimated.
    reply.raw.once('close', () => { app.metrics.requestEnded(route) })
    // While draining, requests are still served, but each connection closes after its response:
    // a proxy in front learns the connection is gone without racing an idle close.
    if (app.shuttingDown) reply.header('connection', 'close')
  })
}, { name: 'request-context', dependencies: ['metrics'], decorators: { fastify: ['metrics'] }, fastify: '5.x' })
