// Stage 1, onRequest: the per-request context (id, timer, surface's error format) and the in-flight gauge.
import fp from 'fastify-plugin'
import type { ErrorFormat } from '../errors.js'
import type { GatewayKey } from '../lib/keys.js'
import type { AbortSide } from '../lib/stream-relay.js'
import type { Usage } from '../lib/usage.js'
import { ROUTE_LABELS, type ROUTES } from '../surfaces/index.js'

type SurfaceSpec = (typeof ROUTES)[number]['surface']

/** What each pipeline stage learns about a request; stages only add to it, accounting reads it at the end. */
export interface RequestContext {
  start: number
  route: string
  /** the error body the route's clients parse */
  errorFormat: ErrorFormat
  /** a health probe: not counted, not accounted */
  probe: boolean
  /** the relayed route's surface (undefined for other routes) */
  surface: SurfaceSpec | undefined
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
  interface FastifyInstance {
    /** SIGTERM received: /readyz fails */
    shuttingDown: boolean
    /** the listener is closed: every response closes its connection */
    closingConnections: boolean
  }
}

const TRACKED = new Set<string>(ROUTE_LABELS)
/** Unknown paths under the Messages API still answer in Anthropic's format. */
const ANTHROPIC_PATH = /^\/v1\/messages(?:[/?]|$)/

export default fp(async function requestContext (app) {
  app.decorate('shuttingDown', false)
  app.decorate('closingConnections', false)
  app.decorateRequest('ctx', null as unknown as RequestContext)

  // A callback hook, not an async one: no promise and no extra microtask per request.
  app.addHook('onRequest', (request, reply, done) => {
    // routeOptions builds a new object on every read: read it once.
    const options = request.routeOptions
    const url = options.url
    const probe = url === '/healthz' || url === '/readyz'
    const route = url !== undefined && TRACKED.has(url) ? url : 'other'
    const surface = options.config.surface
    const errorFormat = surface?.errorFormat ?? (url === undefined && ANTHROPIC_PATH.test(request.url) ? 'anthropic' : 'openai')
    request.ctx = { start: performance.now(), route, errorFormat, model: 'none', stream: false, probe, surface }
    reply.header('x-request-id', request.id)
    if (probe) { done(); return }
    app.metrics.requestStarted(route)
    // The request is over for the in-flight gauge now, even if its usage is still being estimated.
    reply.raw.once('close', () => { app.metrics.requestEnded(route) })
    // Once the listener is closed, requests on open connections are still served, but each
    // connection closes after its response: a proxy in front learns it is gone without racing a close.
    if (app.closingConnections) reply.header('connection', 'close')
    done()
  })
}, { name: 'request-context', dependencies: ['metrics'], decorators: { fastify: ['metrics'] }, fastify: '5.x' })
