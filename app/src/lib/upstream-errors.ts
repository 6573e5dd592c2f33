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

/** An upstream 4xx whose own OpenAI error body the client should see (scrubbed). */
export interface UpstreamPassthrough {
  reason: 'status_4xx'
  status: number
  body: string
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

function upstreamErrorMessage (body: string): { message?: string, code?: string } {
  try {
    const doc = JSON.parse(body) as { error?: { message?: unknown, code?: unknown } }
    const message = typeof doc.error?.message === 'string' ? doc.error.message : undefined
    const code = typeof doc.error?.code === 'string' ? doc.error.code : undefined
    return { message, code }
  } catch {
    return {}
  }
}

/** Maps a non-2xx upstream answer. `body` is the upstream's body text (already read, bounded). */
export function fromUpstreamStatus (status: number, headers: IncomingHttpHeaders, body: string, secrets: readonly string[]): UpstreamFailure | UpstreamPassthrough {
  if (status === 401 || status === 403) {
    // Never the upstream's text: it may quote the gateway's own key.
    // A client retry cannot fix the gateway's own key.
    return { reason: 'auth', tryNext: true, error: new GatewayError('upstream_auth_failed', { headers: { 'x-should-retry': 'false' } }) }
  }
  if (status === 429) {
    const { code, message } = upstreamErrorMessage(body)
    const wait = retryAfterMs(headers)
    const quota = code === 'insufficient_quota'
    const outHeaders: Record<string, string> = {}
    if (wait !== undefined) {
      outHeaders['retry-after'] = retryAfterSeconds(wait)
      outHeaders['retry-after-ms'] = String(wait)
    }
    if (quota) outHeaders['x-should-retry'] = 'false'
    return {
      reason: 'status_429',
      tryNext: true,
      error: new GatewayError(quota ? 'insufficient_quota' : 'rate_limit_exceeded', {
        message: message !== undefined ? `Upstream rate limit: ${scrubSecrets(message, secrets).slice(0, 500)}` : 'The upstream service is rate limiting this gateway. Retry after the indicated time.',
        headers: outHeaders
      })
    }
  }
  if (status >= 500) {
    const code = status === 503 ? 'upstream_unavailable' : status === 504 ? 'upstream_timeout' : 'upstream_error'
    return { reason: 'status_5xx', tryNext: true, error: new GatewayError(code, { message: `The upstream service failed with status ${status}.` }) }
  }
  // 400/404/409/413/422 and the rest of 4xx: the client's own mistake, told in the upstream's words.
  const { message, code } = upstreamErrorMessage(body)
  if (message === undefined) {
    return { reason: 'status_4xx', status, body: JSON.stringify(new GatewayError('invalid_request', { status, message: `The upstream service rejected the request with status ${status}.` }).toBody()) }
  }
  const doc = JSON.parse(body) as { error: Record<string, unknown> }
  const error = {
    message: scrubSecrets(message, secrets),
    type: typeof doc.error.type === 'string' ? doc.error.type : 'invalid_request_error',
    param: typeof doc.error.param === 'string' ? doc.error.param : null,
    code: code ?? null
  }
  return { reason: 'status_4xx', status, body: JSON.stringify({ error }) }
}
