// Watches an upstream SSE stream as it passes: first token time, usage, the created object's id, text
// for estimates. It forwards whole events only and never re-serializes one; the single edit it makes
// is dropping the usage-only chunk the gateway asked for on the client's behalf. After the first
// token, a chunk costs a few native byte searches: text is decoded only for usage events, or at the
// end when an estimate is needed. What to look for comes from the surface's StreamRules.
import type { Json, StreamRules } from '../surfaces/types.js'
import type { Usage } from './usage.js'

/** Bytes of events kept for a token estimate; past it the estimate is scaled by size. */
const MAX_RETAINED_BYTES = 8 * 1024
const EMPTY = Buffer.alloc(0)
const USAGE_KEY = Buffer.from('"usage":')

function eventBoundary (buf: Buffer): number {
  // End (exclusive) of the last complete event: after the last blank line (\n\n or \r\n\r\n).
  const lf = buf.lastIndexOf('\n\n')
  const crlf = buf.lastIndexOf('\r\n\r\n')
  return Math.max(lf < 0 ? -1 : lf + 2, crlf < 0 ? -1 : crlf + 4)
}

/** [start, end) of the event around byte `at`. */
function eventAround (buf: Buffer, at: number): [number, number] {
  const before = Math.max(buf.lastIndexOf('\n\n', at), buf.lastIndexOf('\r\n\r\n', at))
  const start = before < 0 ? 0 : buf[before] === 0x0d ? before + 4 : before + 2
  const lf = buf.indexOf('\n\n', at)
  const crlf = buf.indexOf('\r\n\r\n', at)
  const end = lf < 0 ? (crlf < 0 ? buf.length : crlf + 4) : crlf >= 0 && crlf < lf ? crlf + 4 : lf + 2
  return [start, end]
}

/** The data of one event: its `data:` lines joined (an `event:` line before them is skipped). */
function dataOf (event: string): string {
  const at = event.indexOf('data:')
  if (at < 0) return ''
  const payload = event.slice(at + 5).trim()
  return payload.includes('\ndata:') ? payload.split(/\r?\ndata:\s?/).join('\n') : payload
}

/** Is the byte after `"usage":` (and spaces) an opening brace? */
function objectFollows (buf: Buffer, at: number): boolean {
  let i = at + USAGE_KEY.length
  while (buf[i] === 0x20) i++
  return buf[i] === 0x7b
}

export class SseScanner {
  /** ms timestamp (performance.now()) of the first event carrying generated content */
  firstTokenAt: number | undefined
  usage: Usage | undefined
  /** the id of the object the stream creates (Responses), when the surface names one */
  createdId: string | undefined
  /** the last events the client was sent (a view, replaced each chunk) */
  last: Buffer | undefined
  private pending: Buffer | undefined
  private readonly retained: Buffer[] = []
  private retainedBytes = 0
  private totalBytes = 0

  /**
   * @param rules what the surface's events look like
   * @param stripUsage drop the usage the gateway asked for on the client's behalf
   */
  constructor (private readonly rules: StreamRules, private readonly stripUsage: boolean, private readonly now: () => number = performance.now.bind(performance)) {}

  /** Feeds upstream bytes; returns the bytes to send to the client now (possibly empty). */
  push (chunk: Buffer): Buffer {
    const data = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk])
    const end = eventBoundary(data)
    if (end < 0) {
      this.pending = data
      return EMPTY
    }
    this.pending = end < data.length ? data.subarray(end) : undefined
    return this.scan(end === data.length ? data : data.subarray(0, end))
  }

  /** Whatever is left when the upstream ends (an unterminated last event). */
  flush (): Buffer {
    const rest = this.pending
    this.pending = undefined
    if (rest === undefined || rest.length === 0) return EMPTY
    return this.scan(Buffer.concat([rest, Buffer.from('\n\n')]))
  }

  /** The generated text seen (for a token estimate when usage never comes), and the share it covers. */
  capturedText (): { text: string, scale: number } {
    const parts: string[] = []
    const re = new RegExp(this.rules.content.source, 'g')
    for (const buf of this.retained) {
      const text = buf.toString('utf8')
      for (let m = re.exec(text); m !== null; m = re.exec(text)) {
        const s = m[1] as string
        try { parts.push(JSON.parse(`"${s}"`) as string) } catch { parts.push(s) }
      }
    }
    return { text: parts.join(''), scale: this.retainedBytes === 0 ? 1 : this.totalBytes / this.retainedBytes }
  }

  /** Scans complete events; returns what the client gets (the same buffer unless an event is dropped). */
  private scan (buf: Buffer): Buffer {
    this.totalBytes += buf.length
    if (this.retainedBytes < MAX_RETAINED_BYTES) {
      // A copy, not a view: a view would keep the whole socket read buffer behind it alive.
      const kept = Buffer.from(buf.subarray(0, MAX_RETAINED_BYTES - this.retainedBytes))
      this.retained.push(kept)
      this.retainedBytes += kept.length
    }
    if (this.firstTokenAt === undefined && this.rules.firstToken.test(buf.toString('utf8'))) this.firstTokenAt = this.now()
    if (this.rules.createdId !== undefined && this.createdId === undefined) {
      this.createdId = this.rules.createdId.exec(buf.toString('latin1'))?.[1]
    }
    let out = buf
    let from = 0
    for (let at = out.indexOf(USAGE_KEY, from); at >= 0; at = out.indexOf(USAGE_KEY, from)) {
      if (!objectFollows(out, at)) { from = at + USAGE_KEY.length; continue }
      const [start, end] = eventAround(out, at)
      from = end
      let doc: Json
      try { doc = JSON.parse(dataOf(out.subarray(start, end).toString('utf8'))) as Json } catch { continue }
      if (typeof doc !== 'object' || doc === null) continue
      this.usage = this.rules.usage(doc, this.usage)
      if (this.stripUsage && Array.isArray(doc.choices) && doc.choices.length === 0) {
        out = Buffer.concat([out.subarray(0, start), out.subarray(end)])
        from = start
      }
    }
    const sent = this.stripUsage ? withoutNullUsage(out) : out
    if (sent.length > 0) this.last = sent
    return sent
  }
}

const NULL_USAGE = Buffer.from(',"usage":null')

/**
 * Removes the `"usage":null` an upstream adds to every chunk once asked for usage, so a client
 * that did not ask gets the chunks OpenAI would send it. Only the comma-led form is removed, which
 * leaves valid JSON wherever it stood (inside a string its quotes would be escaped).
 */
function withoutNullUsage (buf: Buffer): Buffer {
  let at = buf.indexOf(NULL_USAGE)
  if (at < 0) return buf
  const parts: Buffer[] = []
  let from = 0
  for (; at >= 0; at = buf.indexOf(NULL_USAGE, from)) {
    parts.push(buf.subarray(from, at))
    from = at + NULL_USAGE.length
  }
  parts.push(buf.subarray(from))
  return Buffer.concat(parts)
}
