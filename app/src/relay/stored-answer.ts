// A finished 2xx answer kept for a later identical request (response cache, Idempotency-Key): what
// the client was sent, recorded on the way out, with its usage; and its one byte encoding in Redis.
import type { Usage } from '../lib/usage.js'

export interface StoredAnswer {
  status: number
  /** the headers the client got from the upstream's side (content-type, openai-version, …) */
  headers: Record<string, string>
  /** JSON bytes, or the SSE bytes exactly as the client received them */
  body: Buffer
  stream: boolean
  usage: Usage | undefined
  costUsd: number | undefined
  /** ms since the epoch, on the replica that stored it (the `age` header) */
  storedAt: number
}

type Meta = Omit<StoredAnswer, 'body'>

/** One JSON line of metadata, a newline, then the body bytes as they are (no base64 for a stream). */
export function encodeAnswer (answer: StoredAnswer): Buffer {
  const { body, ...meta } = answer
  return Buffer.concat([Buffer.from(JSON.stringify(meta) + '\n'), body])
}

export function decodeAnswer (buf: Buffer): StoredAnswer | undefined {
  const nl = buf.indexOf(0x0a)
  if (nl < 0) return undefined
  try {
    const meta = JSON.parse(buf.toString('utf8', 0, nl)) as Meta
    if (typeof meta.status !== 'number' || typeof meta.headers !== 'object' || meta.headers === null) return undefined
    return Object.assign(meta, { body: buf.subarray(nl + 1) })
  } catch {
    return undefined
  }
}

/**
 * Collects an answer while it is sent: the relay reports the head, every byte the client got and
 * whether the answer ended whole. Past `maxBytes` it stops collecting and the answer is not kept.
 */
export class AnswerRecorder {
  status = 0
  headers: Record<string, string> = {}
  stream = false
  /** the answer was complete (a whole JSON body, or a stream that reached its final event) */
  complete = false
  /** more bytes than `maxBytes`: not kept */
  overflow = false
  private readonly chunks: Buffer[] = []
  private size = 0

  constructor (private readonly maxBytes: number) {}

  head (status: number, headers: Record<string, string>, stream: boolean): void {
    this.status = status
    this.headers = headers
    this.stream = stream
  }

  bytes (chunk: Buffer): void {
    if (this.overflow || chunk.length === 0) return
    this.size += chunk.length
    if (this.size > this.maxBytes) {
      this.overflow = true
      this.chunks.length = 0
      return
    }
    // The relay may reuse its buffers: keep a copy.
    this.chunks.push(Buffer.from(chunk))
  }

  end (complete: boolean): void {
    this.complete = complete
  }

  /** The answer to keep, or undefined when it must not be kept (not 2xx, cut, too large). */
  answer (usage: Usage | undefined, costUsd: number | undefined): StoredAnswer | undefined {
    if (!this.complete || this.overflow || this.status < 200 || this.status >= 300) return undefined
    return { status: this.status, headers: this.headers, body: Buffer.concat(this.chunks, this.size), stream: this.stream, usage, costUsd, storedAt: Date.now() }
  }
}
