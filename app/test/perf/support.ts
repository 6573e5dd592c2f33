// Instruments for the performance guard: a real Redis and its command counts, a recording TCP
// relay between gateway and upstream, and an HTTP/1.1 response parser that keeps the framing.
import { Redis } from 'ioredis'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { waitFor } from '../support/wait.js'

/**
 * Counts the commands a Redis server executed, from INFO commandstats (every command the
 * gateway sends, MULTI/EXEC and script calls included). The counter's own INFO calls are left
 * out, so only the gateway's commands are counted.
 */
export class CommandCounter {
  private readonly redis: Redis

  constructor (url: string) {
    this.redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  }

  /** Calls per command name (lower case), INFO excluded. */
  async byCommand (): Promise<Record<string, number>> {
    const text = await this.redis.info('commandstats')
    const out: Record<string, number> = {}
    for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      const name = m[1]!
      if (name !== 'info') out[name] = Number(m[2])
    }
    return out
  }

  async total (): Promise<number> {
    return Object.values(await this.byCommand()).reduce((a, b) => a + b, 0)
  }

  /**
   * The total once it has stopped moving: the gateway writes some counters after the response
   * (token and spend charges), so a count read at once could miss them. Polls, never sleeps a
   * fixed time; gives up after `timeoutMs` with the last value.
   */
  async settledTotal (timeoutMs = 10_000): Promise<number> {
    let last = await this.total()
    let same = 0
    await waitFor(async () => {
      const now = await this.total()
      same = now === last ? same + 1 : 0
      last = now
      return same >= 5
    }, timeoutMs)
    return last
  }

  close (): void { this.redis.disconnect() }
}

/**
 * A TCP relay that records every byte the upstream sends back, per connection: the gateway is
 * pointed at it, so the test sees exactly what the gateway received, with the upstream's own
 * framing, and can compare it with what the gateway wrote to its client.
 */
export class RecordingRelay {
  readonly received: Buffer[][] = []
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()

  async listen (upstreamPort: () => number): Promise<string> {
    this.server = createServer((client) => {
      const chunks: Buffer[] = []
      this.received.push(chunks)
      const upstream = connect(upstreamPort(), '127.0.0.1')
      for (const s of [client, upstream]) {
        this.sockets.add(s)
        s.on('close', () => this.sockets.delete(s))
        s.on('error', () => { client.destroy(); upstream.destroy() })
      }
      upstream.on('data', (d: Buffer) => { chunks.push(d) })
      client.pipe(upstream)
      upstream.pipe(client)
    })
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    const addr = this.server.address()
    return `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`
  }

  /** Every byte the upstream sent on all connections, in order per connection. */
  bytes (): Buffer { return Buffer.concat(this.received.flat()) }

  async close (): Promise<void> {
    for (const s of this.sockets) s.destroy()
    const server = this.server
    if (server !== undefined) await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  }
}

/** One HTTP/1.1 response as it was framed on the wire. */
export interface WireResponse {
  status: number
  headers: Record<string, string>
  headerBytes: number
  /** body bytes on the wire, chunked framing included */
  bodyWireBytes: number
  /** the body's payload, framing removed */
  payload: Buffer
  /** body writes as the receiver saw them: one per HTTP chunk (1 for a Content-Length body) */
  chunks: number
}

/**
 * Splits a byte stream of one or more HTTP/1.1 responses (keep-alive) into responses, keeping
 * how each body was framed. Throws on anything it cannot parse: a guard must not pass on a
 * misread.
 */
export function parseResponses (buf: Buffer): WireResponse[] {
  const out: WireResponse[] = []
  let at = 0
  while (at < buf.length) {
    const headEnd = buf.indexOf('\r\n\r\n', at)
    if (headEnd < 0) throw new Error(`incomplete response head at byte ${at}`)
    const head = buf.subarray(at, headEnd).toString('latin1').split('\r\n')
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head[0] ?? '')?.[1])
    const headers: Record<string, string> = {}
    for (const line of head.slice(1)) {
      const i = line.indexOf(':')
      headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
    }
    const bodyStart = headEnd + 4
    let p = bodyStart
    const parts: Buffer[] = []
    let chunks = 0
    if (headers['transfer-encoding'] === 'chunked') {
      for (;;) {
        const lineEnd = buf.indexOf('\r\n', p)
        if (lineEnd < 0) throw new Error('incomplete chunk size line')
        const size = parseInt(buf.subarray(p, lineEnd).toString('latin1'), 16)
        if (!Number.isInteger(size)) throw new Error('bad chunk size')
        p = lineEnd + 2
        if (size === 0) { p += 2; break }
        parts.push(buf.subarray(p, p + size))
        chunks++
        p += size + 2
      }
    } else {
      const len = Number(headers['content-length'] ?? 0)
      parts.push(buf.subarray(p, p + len))
      chunks = len > 0 ? 1 : 0
      p += len
    }
    if (p > buf.length) throw new Error('response body runs past the bytes received')
    out.push({ status, headers, headerBytes: bodyStart - at, bodyWireBytes: p - bodyStart, payload: Buffer.concat(parts), chunks })
    at = p
  }
  return out
}

/**
 * Sends one request over a fresh TCP connection (Connection: close) and returns every byte of
 * the answer, exactly as the gateway wrote it.
 */
export async function rawExchange (baseUrl: string, path: string, headers: Record<string, string>, body: string): Promise<Buffer> {
  const url = new URL(baseUrl)
  const sock = connect(Number(url.port), url.hostname)
  const chunks: Buffer[] = []
  sock.on('data', (d: Buffer) => { chunks.push(d) })
  const ended = new Promise<void>((resolve, reject) => { sock.on('end', resolve); sock.on('error', reject) })
  const lines = [`POST ${path} HTTP/1.1`, `host: ${url.host}`, 'connection: close', 'content-type: application/json', `content-length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)]
  // write, not end: a half-closed client looks like one that left, and the gateway aborts it
  sock.write(lines.join('\r\n') + '\r\n\r\n' + body)
  await ended
  sock.destroy()
  return Buffer.concat(chunks)
}
