// What every route handler gets and shares: the request context, 400 builders, and sending a JSON body whole or damaged.
import type { MockOptions } from './config.js'
import type { Exchange } from './exchange.js'
import type { ErrorSpec } from './faults.js'
import type { FilePart } from './multipart.js'
import type { ResponseStore } from './response-store.js'
import type { Pacing } from './sse.js'
import type { RecentRequest } from './stats.js'
import type { Usage } from './usage.js'

/** How the body goes out: whole, or damaged by a fault. */
export type SendMode = 'normal' | 'cut' | 'stall' | 'invalid_json'

export interface RouteContext {
  ex: Exchange
  /** the JSON body, or a multipart body's text fields; `{}` for routes without a body */
  body: Record<string, unknown>
  /** a multipart body's file parts (sizes and hashes only) */
  files: FilePart[]
  /** the `{id}` of a path like `/v1/responses/{id}` */
  id: string
  query: URLSearchParams
  knobs: MockOptions
  mode: SendMode
  /** the stats entry of this request, for handlers that record what they saw */
  entry: RecentRequest
  /** responses created by this mock, for the Responses API's `{id}` routes */
  store: ResponseStore
  /** records usage the client was actually sent */
  recordUsage: (u: Usage) => void
}

/** A handler answers, or returns the error the request deserves. */
export type Handler = (c: RouteContext) => ErrorSpec | undefined

export function invalid (param: string, message: string): ErrorSpec {
  return { status: 400, type: 'invalid_request_error', param, code: 'invalid_value', message }
}

export function missing (param: string): ErrorSpec {
  return { status: 400, type: 'invalid_request_error', param, code: 'missing_required_parameter', message: `Missing required parameter: '${param}'.` }
}

export function notFound (message: string, param: string | null = null, code: string | null = null): ErrorSpec {
  return { status: 404, type: 'invalid_request_error', param, code, message }
}

export function readModel (body: Record<string, unknown>): string | ErrorSpec {
  const model = body.model
  if (model === undefined) return missing('model')
  if (typeof model !== 'string' || model === '') return invalid('model', 'model must be a non-empty string.')
  return model
}

/** A non-stream JSON body, sent whole or as a fault asks. */
export function sendBody (c: RouteContext, body: string, usage?: Usage): void {
  const { ex } = c
  const half = body.slice(0, Math.max(1, body.length >> 1))
  const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
  switch (c.mode) {
    case 'invalid_json':
      ex.sendJson(200, half)
      return
    case 'cut':
      ex.writeHead(200, headers)
      ex.destroy(half)
      return
    case 'stall':
      ex.writeHead(200, headers)
      ex.write(half)
      return
    default:
      ex.sendJson(200, body)
      if (usage !== undefined) c.recordUsage(usage)
  }
}

export function streamMode (c: RouteContext): boolean {
  return c.body.stream === true && c.mode !== 'invalid_json'
}

export function pacing (c: RouteContext): Pacing {
  return {
    first_chunk_delay_ms: c.knobs.first_chunk_delay_ms,
    chunk_delay_ms: c.knobs.chunk_delay_ms,
    mode: c.mode === 'cut' || c.mode === 'stall' ? c.mode : 'normal',
    cut_after: c.knobs.cut_after
  }
}

export const unixNow = (): number => Math.floor(Date.now() / 1000)
