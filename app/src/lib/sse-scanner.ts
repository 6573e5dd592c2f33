// Watches an upstream SSE stream as it passes: first token time, usage, [DONE], content for estimates.
// It forwards whole events only and never re-serializes one; the single edit it makes is dropping the
// usage-only chunk the gateway asked for on the client's behalf.

export interface ScannedUsage { promptTokens: number, completionTokens: number }

const CONTENT_RE = /"(?:content|text|reasoning_content|arguments)":"((?:[^"\\]|\\.)*)"/g
const MAX_CAPTURE_CHARS = 256 * 1024

function eventBoundary (buf: Buffer): number {
  // End (exclusive) of the last complete event: after the last blank line (\n\n or \r\n\r\n).
  const lf = buf.lastIndexOf('\n\n')
  const crlf = buf.lastIndexOf('\r\n\r\n')
  return Math.max(lf < 0 ? -1 : lf + 2, crlf < 0 ? -1 : crlf + 4)
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
  events = 0
  private pending: Buffer | undefined
  private captured: string[] = []
  private capturedChars = 0

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
    const complete = end === data.length ? data : data.subarray(0, end)
    const text = complete.toString('utf8')
    const dropped = this.scan(text)
    return dropped === undefined ? complete : Buffer.from(dropped, 'utf8')
  }

  /** Whatever is left when the upstream ends (an unterminated last event). */
  flush (): Buffer {
    const rest = this.pending ?? EMPTY
    this.pending = undefined
    if (rest.length > 0) {
      const text = rest.toString('utf8') + '\n\n'
      const dropped = this.scan(text)
      return Buffer.from(dropped ?? text, 'utf8')
    }
    return rest
  }

  /** The generated text seen so far (for a token estimate when usage never comes). */
  capturedText (): string {
    return this.captured.map((s) => {
      try { return JSON.parse(`"${s}"`) as string } catch { return s }
    }).join('')
  }

  /** Scans complete events; returns replacement text if an event was dropped, else undefined. */
  private scan (text: string): string | undefined {
    let out: string | undefined
    let start = 0
    while (start < text.length) {
      let sep = text.indexOf('\n\n', start)
      let sepLen = 2
      const crlf = text.indexOf('\r\n\r\n', start)
      if (crlf >= 0 && (sep < 0 || crlf < sep)) { sep = crlf; sepLen = 4 }
      const stop = sep < 0 ? text.length : sep + sepLen
      const event = text.slice(start, stop)
      const keep = this.onEvent(event)
      if (!keep && out === undefined) out = text.slice(0, start)
      else if (keep && out !== undefined) out += event
      start = stop
    }
    return out
  }

  /** Returns false when the event must not reach the client. */
  private onEvent (event: string): boolean {
    const at = event.indexOf('data:')
    if (at < 0) return true // comments, keep-alives, ids
    this.events++
    let payload = event.slice(at + 5).trim()
    if (payload.includes('\ndata:')) payload = payload.split(/\r?\ndata:\s?/).join('\n')
    if (payload === '[DONE]') { this.sawDone = true; return true }
    if (payload.startsWith('{"error"')) { this.sawError = true; return true }
    if (this.firstTokenAt === undefined && payload.includes('"tool_calls"')) this.firstTokenAt = this.now()
    if (this.capturedChars < MAX_CAPTURE_CHARS) {
      CONTENT_RE.lastIndex = 0
      for (let m = CONTENT_RE.exec(payload); m !== null; m = CONTENT_RE.exec(payload)) {
        const s = m[1] as string
        if (s.length === 0) continue
        if (this.firstTokenAt === undefined) this.firstTokenAt = this.now()
        this.captured.push(s)
        this.capturedChars += s.length
      }
    } else if (this.firstTokenAt === undefined) {
      this.firstTokenAt = this.now()
    }
    if (payload.includes('"usage":{')) {
      let doc: { usage?: unknown, choices?: unknown }
      try { doc = JSON.parse(payload) as typeof doc } catch { return true }
      const usage = usageFrom(doc.usage)
      if (usage !== undefined) this.usage = usage
      if (this.stripUsageChunk && Array.isArray(doc.choices) && doc.choices.length === 0) return false
    }
    return true
  }
}

const EMPTY = Buffer.alloc(0)
