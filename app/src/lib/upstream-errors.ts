// The one boundary where upstream failures (undici errors, upstream statuses) become the gateway's own errors.
import type { IncomingHttpHeaders } from 'node:http'
import { GatewayError } from '../errors.js'
import { retryAfterMs, retryAfterSeconds } from './retry-after.js'

export type UpstreamFailureReason =
  | 'connect' | 'timeout' | 'idle_timeout' | 'reset'
  | 'status_5xx' | 'status_429' | 'status_4xx' | 'auth' | 'invalid_response' | 'circuit_open'

export interface UpstreamFailure {
  reason: UpstreamFailureReason
  error: GatewayError
  /** another target may succeed where this one failed (and no request was half-processed) */
  tryNext: boolean
  /** the gateway ended the request itself (shutdown): not the upstream's failure */
  byGateway?: true
}

/** Set as the abort reason when the gateway's own total timeout fires. */
export class TotalTimeout extends Error {
  constructor () { super('total upstream time exceeded'); this.name = 'TotalTimeout' }
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL'])
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ECONNABORTED'])

function errorCode (err: unknown): string | undefined {
  let e: unknown = err
  for (let depth = 0; depth < 4 && typeof e === 'object' && e !== null; depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string') return code
    e = (e as { cause?: unknown }).cause
  }
  return undefined
}

/** A transport-level failure (nothing or not all of a response arrived). */
export function fromTransportError (err: unknown): UpstreamFailure {
  if (err instanceof TotalTimeout) {
    return { reason: 'timeout', tryNext: false, error: new GatewayError('upstream_timeout', { message: 'The upstream service did not finish within the gateway\'s total time limit.' }) }
  }
  const code = errorCode(err) ?? ''
  if (code === 'UND_ERR_CONNECT_TIMEOUT') {
    return { reason: 'connect', tryNext: true, error: new GatewayError('upstream_timeout', { message: 'Connecting to the upstream service timed out.' }) }
  }
  if (CONNECT_CODES.has(code)) {
    return { reason: 'connect', tryNext: true, error: new GatewayError('upstream_error', { message: 'The upstream service could not be reached.' }) }
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT') {
    return { reason: 'timeout', tryNext: false, error: new GatewayError('upstream_timeout') }
  }
  if (code === 'UND_ERR_BODY_TIMEOUT') {
    return { reason: 'idle_timeout', tryNext: false, error: new GatewayError('upstream_timeout', { message: 'The upstream service stopped sending data.' }) }
  }
  if (RESET_CODES.has(code)) {
    return { reason: 'reset', tryNext: false, error: new GatewayError('upstream_error', { message: 'The upstream service closed the connection before the response was complete.' }) }
  }
  return { reason: 'invalid_response', tryNext: false, error: new GatewayError('upstream_error', { message: 'The upstream service sent an invalid response.' }) }
}

export function invalidResponse (what: string): UpstreamFailure {
  return { reason: 'invalid_response', tryNext: false, error: new GatewayError('upstream_error', { message: `The upstream service sent an invalid response (${what}).` }) }
}

/** Removes anything secret an upstream may quote back (its key, bearer tokens, sk- style keys). */
export function scrubSecrets (text: string, secrets: readonly string[]): string {
  let out = text
  for (const s of secrets) {
    if (s.length >= 6 && out.includes(s)) out = out.split(s).join('[redacted]')
  }
  return out
    .replace(/Bearer\s+[^\s"'\\]+/gi, 'Bearer [redacted]')
    .replace(/\b(sk|key|api[_-]?key)[-_][A-Za-z0-9_-]{8,}/gi, '$1-[redacted]')
}

interface UpstreamErrorFields { message?: string, code?: string, type?: string, param?: string }

/** The fields of an upstream error body, OpenAI's `{"error":{…}}` or Anthropic's `{"type":"error","error":{…}}`. */
function upstreamErrorFields (body: string): UpstreamErrorFields {
  try {
    const doc = JSON.parse(body) as { error?: Record<string, unknown> }
    const e = doc.error
    if (typeof e !== 'object' || e === null) return {}
    const s = (v: unknown): string | undefined => typeof v === 'string' ? v : undefined
    return { message: s(e.message), code: s(e.code), type: s(e.type), param: s(e.param) }
  } catch {
    return {}
  }
}

/** The upstream's own retry advice, passed on with 429 and 5xx answers. */
function retryHeaders (headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {}
  const wait = retryAfterMs(headers)
  if (wait !== undefined) {
    out['retry-after'] = retryAfterSeconds(wait)
    out['retry-after-ms'] = String(wait)
  }
  const should = headers['x-should-retry']
  if (should === 'true' || should === 'false') out['x-should-retry'] = should
  return out
}

/** Maps a non-2xx upstream answer. `body` is the upstream's body text (already read, bounded). */
export function fromUpstreamStatus (status: number, headers: IncomingHttpHeaders, body: string, secrets: readonly string[]): UpstreamFailure {
  if (status === 401 || status === 403) {
    // Never the upstream's text: it may quote the gateway's own key.
    // A client retry cannot fix the gateway's own key.
    return { reason: 'auth', tryNext: true, error: new GatewayError('upstream_auth_failed', { headers: { 'x-should-retry': 'false' } }) }
  }
  const fields = upstreamErrorFields(body)
  if (status === 429) {
    const quota = fields.code === 'insufficient_quota'
    const outHeaders = retryHeaders(headers)
    if (quota) outHeaders['x-should-retry'] = 'false'
    return {
      reason: 'status_429',
      tryNext: true,
      error: new GatewayError(quota ? 'insufficient_quota' : 'rate_limit_exceeded', {
        message: fields.message !== undefined ? `Upstream rate limit: ${scrubSecrets(fields.message, secrets).slice(0, 500)}` : 'The upstream service is rate limiting this gateway. Retry after the indicated time.',
        headers: outHeaders
      })
    }
  }
  if (status >= 500) {
    const code = status === 503 || status === 529 ? 'upstream_unavailable' : status === 504 ? 'upstream_timeout' : 'upstream_error'
    return { reason: 'status_5xx', tryNext: true, error: new GatewayError(code, { message: `The upstream service failed with status ${status}.`, headers: retryHeaders(headers) }) }
  }
  // 400/404/409/413/422 and the rest of 4xx: the client's own mistake, told in the upstream's words.
  if (fields.message === undefined) {
    return { reason: 'status_4xx', tryNext: false, error: new GatewayError('upstream_rejected', { status, message: `The upstream service rejected the request with status ${status}.` }) }
  }
  return {
    reason: 'status_4xx',
    tryNext: false,
    error: new GatewayError('upstream_rejected', {
      status,
      message: scrubSecrets(fields.message, secrets),
      param: fields.param ?? null,
      upstream: { type: fields.type ?? 'invalid_request_error', code: fields.code ?? null }
    })
  }
}
