// Header allow-lists in both directions: what reaches the upstream, and what comes back to clients.
import type { IncomingHttpHeaders } from 'node:http'

/** Client headers worth passing on; everything else (auth, hop-by-hop, cookies, forwarding) stays here. */
const FORWARD_TO_UPSTREAM = ['accept', 'user-agent', 'openai-beta', 'idempotency-key'] as const
/** On the Anthropic Messages routes the API version and beta flags are part of the request's meaning. */
const FORWARD_ANTHROPIC = ['anthropic-version', 'anthropic-beta'] as const

/** Upstream headers a client may see. Upstream x-ratelimit-*, set-cookie, server, organization stay here. */
const PASS_TO_CLIENT = ['content-type', 'openai-processing-ms', 'openai-version', 'retry-after', 'retry-after-ms', 'x-should-retry', 'request-id'] as const
/** For byte answers (speech, transcription text) the body's own description passes too. */
const PASS_BINARY = ['content-disposition', 'content-language'] as const

export interface UpstreamAuth { header: 'authorization' | 'x-api-key', value: string }

export interface RequestBodyHeaders {
  contentType: string
  /** undefined: the body is sent chunked (a streamed upload without a declared length) */
  contentLength: number | undefined
}

export function upstreamRequestHeaders (client: IncomingHttpHeaders, requestId: string, auth: UpstreamAuth | undefined, body: RequestBodyHeaders | undefined, anthropic: boolean): Record<string, string> {
  const out: Record<string, string> = { 'x-request-id': requestId }
  if (body !== undefined) {
    out['content-type'] = body.contentType
    if (body.contentLength !== undefined) out['content-length'] = String(body.contentLength)
  }
  for (const name of FORWARD_TO_UPSTREAM) {
    const v = client[name]
    if (typeof v === 'string' && v.length <= 1024) out[name] = v
  }
  if (anthropic) {
    for (const name of FORWARD_ANTHROPIC) {
      const v = client[name]
      if (typeof v === 'string' && v.length <= 1024) out[name] = v
    }
  }
  if (auth !== undefined) out[auth.header] = auth.value
  return out
}

function copy (from: IncomingHttpHeaders | Record<string, string | string[] | undefined>, names: readonly string[], out: Record<string, string>): Record<string, string> {
  for (const name of names) {
    const v = from[name]
    if (typeof v === 'string') out[name] = v
    else if (Array.isArray(v) && v.length > 0) out[name] = v[0] as string
  }
  return out
}

export function clientResponseHeaders (upstream: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string> {
  return copy(upstream, PASS_TO_CLIENT, {})
}

/** The headers of a byte answer passed through as it arrives. */
export function binaryResponseHeaders (upstream: IncomingHttpHeaders): Record<string, string> {
  return copy(upstream, PASS_BINARY, clientResponseHeaders(upstream))
}

export function headerString (headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}
