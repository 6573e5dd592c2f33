// Watches an upstream SSE stream as it passes: first token time, usage, [DONE], text for estimates.
// It forwards whole events only and never re-serializes one; the single edit it makes is dropping the
// usage-only chunk the gateway asked for on the client's behalf. After the first token, a chunk costs
// a few native byte searches: text is decoded only for the usage event, or at the end when an
// estimate is needed.

export interface ScannedUsage { promptTokens: number, completionTokens: number }

const CONTENT_RE = /"(?:content|text|reasoning_content|arguments)":"((?:[^"\\]|\\.)*)"/g
const FIRST_TOKEN_RE = /"(?:content|text|reasoning_content|arguments)":"(?:[^"\\]|\\.)|"tool_calls"/
/** Bytes of events kept for a token estimate; past it the estimate is scaled by size. */
const MAX_RETAINED_BYTES = 8 * 1024
const EMPTY = Buffer.alloc(0)

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

function dataOf (event: string): string {
  const at = event.indexOf('data:')
  if (at < 0) return ''
  const payload = event.slice(at + 5).trim()
  return payload.includes('\ndata:') ? payload.split(/\r?\ndata:\s?/).join('\n') : payload
}

export function usageFrom (value: unknown): ScannedUsage | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const u = value as { prompt_tokens?: unknown, completion_tokens?: unknown }
  const p = u.prompt_tokens
  const c = u.completion_tokens ?? 0
  if (typeof p !== 'number' || typeof c !== 'number' || !Number.isFinite(p) || !Number.isFinite(c) || p < 0 || c < 0) return undefined
  return { promptTokens: p, completionTokens: c }
}

export class SseScanner {
  /** ms timestamp (performance.now()) of the first event carrying generated content */
  firstTokenAt: number | undefined
  usage: ScannedUsage | undefined
  sawDone = false
  sawError = false
  private pending: Buffer | undefined
  private readonly retained: Buffer[] = []
  private retainedBytes = 0
  private totalBytes = 0

  /** @param stripUsageChunk drop the `choices: []` usage chunk (the client did not ask for usage) */
  constructor (private readonly stripUsageChunk: boolean, private readonly now: () => number = performance.now.bind(performance)) {}

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
    for (const buf of this.retained) {
      const text = buf.toString('utf8')
      CONTENT_RE.lastIndex = 0
      for (let m = CONTENT_RE.exec(text); m !== null; m = CONTENT_RE.exec(text)) {
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
    if (this.firstTokenAt === undefined && FIRST_TOKEN_RE.test(buf.toString('utf8'))) this.firstTokenAt = this.now()
    if (buf.indexOf('[DONE]') >= 0 && /(^|\n)data: ?\[DONE\]/.test(buf.toString('latin1'))) this.sawDone = true
    if (buf.indexOf('{"error"') >= 0) this.sawError = true
    let out = buf
    let from = 0
    for (let at = out.indexOf('"usage":{', from); at >= 0; at = out.indexOf('"usage":{', from)) {
      const [start, end] = eventAround(out, at)
      from = end
      let doc: { usage?: unknown, choices?: unknown }
      try { doc = JSON.parse(dataOf(out.subarray(start, end).toString('utf8'))) as typeof doc } catch { continue }
      const usage = usageFrom(doc.usage)
      if (usage !== undefined) this.usage = usage
      if (this.stripUsageChunk && Array.isArray(doc.choices) && doc.choices.length === 0) {
        out = Buffer.concat([out.subarray(0, start), out.subarray(end)])
        from = start
      }
    }
    return this.stripUsageChunk ? withoutNullUsage(out) : out
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
