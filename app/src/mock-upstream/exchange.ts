// One request/response pair: the mock's standard headers, timers tied to the connection, sending.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { renderError, type ErrorFormat, type ErrorSpec } from './faults.js'

/** Sent on every response, so a gateway's header allow-list has something to filter. */
const FIXED_HEADERS: Readonly<OutgoingHttpHeaders> = Object.freeze({
  'openai-organization': 'mock-org',
  'set-cookie': 'mock_session=secret; Path=/',
  server: 'mock-upstream',
  'x-ratelimit-limit-requests': '10000',
  'x-ratelimit-remaining-requests': '9999',
  'x-ratelimit-reset-requests': '6ms'
})

export class Exchange {
  /** set when the response closed (finished, aborted by the client, or destroyed by us) */
  closed = false
  /** set when the mock destroys the connection on purpose */
  destroyedByMock = false
  /** the error shape this route's clients parse */
  format: ErrorFormat = 'openai'
  private timers: Set<NodeJS.Timeout> | undefined

  constructor (
    readonly n: number,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly startedAt: number = Date.now()
  ) {}

  /** Runs `fn` after `ms` (at once when 0) unless the connection closed meanwhile. */
  later (ms: number, fn: () => void): void {
    if (this.closed) return
    if (ms <= 0) { fn(); return }
    const timer = setTimeout(() => {
      this.timers?.delete(timer)
      if (!this.closed) fn()
    }, ms)
    ;(this.timers ??= new Set()).add(timer)
  }

  /** Clears every pending timer; called when the response closes. */
  onClosed (): void {
    this.closed = true
    if (this.timers !== undefined) {
      for (const t of this.timers) clearTimeout(t)
      this.timers.clear()
    }
  }

  headers (extra: OutgoingHttpHeaders): OutgoingHttpHeaders {
    return {
      'x-request-id': `mock-${this.n}`,
      'openai-processing-ms': String(Date.now() - this.startedAt),
      ...FIXED_HEADERS,
      ...extra
    }
  }

  writeHead (status: number, extra: OutgoingHttpHeaders): void {
    if (this.closed || this.res.headersSent) return
    this.res.writeHead(status, this.headers(extra))
  }

  sendJson (status: number, body: string, extra: OutgoingHttpHeaders = {}): void {
    if (this.closed || this.res.headersSent) return
    this.res.writeHead(status, this.headers({
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      ...extra
    }))
    this.res.end(body)
  }

  sendError (spec: ErrorSpec, extra: OutgoingHttpHeaders = {}): void {
    this.sendJson(spec.status, renderError(spec, this.format), extra)
  }

  /** Writes `data` and ends the response. */
  end (data: string | Buffer): void {
    if (!this.closed) this.res.end(data)
  }

  write (data: string | Buffer): void {
    if (!this.closed && data.length > 0) this.res.write(data)
  }

  /** Drops the connection with no further bytes, once `data` (if any) reached the socket. */
  destroy (data: string | Buffer = ''): void {
    if (this.closed) return
    this.destroyedByMock = true
    const socket = this.req.socket
    if (data.length === 0) { socket.destroy(); return }
    this.res.write(data, () => socket.destroy())
  }
}
