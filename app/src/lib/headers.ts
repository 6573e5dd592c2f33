// Header allow-lists in both directions: what reaches the upstream, and what comes back to clients.
import type { IncomingHttpHeaders } from 'node:http'

/** Client headers worth passing on; everything else (auth, hop-by-hop, cookies, forwarding) stays here. */
const FORWARD_TO_UPSTREAM = ['accept', 'user-agent', 'openai-beta', 'idempotency-key'] as const

/** Upstream headers a client may see. Upstream x-ratelimit-*, set-cookie, server, organization stay here. */
const PASS_TO_CLIENT = ['content-type', 'openai-processing-ms', 'openai-version', 'retry-after', 'retry-after-ms', 'x-should-retry'] as const

export function upstreamRequestHeaders (client: IncomingHttpHeaders, requestId: string, apiKey: string, contentLength: number): Record<string, string> {
  const out: Record<string, string> = {
    'content-type': 'application/json',
    'content-length': String(contentLength),
    'x-request-id': requestId
  }
  for (const name of FORWARD_TO_UPSTREAM) {
    const v = client[name]
    if (typeof v === 'string' && v.length <= 1024) out[name] = v
  }
  if (apiKey !== '') out.authorization = `Bearer ${apiKey}`
  return out
}

export function clientResponseHeaders (upstream: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of PASS_TO_CLIENT) {
    const v = upstream[name]
    if (typeof v === 'string') out[name] = v
    else if (Array.isArray(v) && v.length > 0) out[name] = v[0] as string
  }
  return out
}

export function headerString (headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}
