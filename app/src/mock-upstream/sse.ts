// Server-sent event streams: chat and completion chunks built from string templates, typed events, pacing by the knobs.
import type { Exchange } from './exchange.js'
import { chatUsageJson, type Usage } from './usage.js'

/** A stream as events: the opening event, one per content delta, and the closing events. */
export interface StreamPlan {
  head: string
  contents: string[]
  /** finish chunk, usage chunk (if asked for), `[DONE]` */
  tail: string
  /** set when `tail` carries a usage chunk */
  usage?: Usage
}

export interface StreamHeader { id: string, created: number, model: string, includeUsage: boolean, deepseekUsage: boolean }

/** A typed event (`event:` line), as the Responses and Messages APIs send them. */
export function typedEvent (type: string, data: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`
}

const DONE = 'data: [DONE]\n\n'

/** `chat.completion.chunk` events; every chunk has the same id, created and model. */
export function chatStreamPlan (h: StreamHeader, deltas: readonly string[], usage: Usage): StreamPlan {
  const start = `data: {"id":${JSON.stringify(h.id)},"object":"chat.completion.chunk","created":${h.created},"model":${JSON.stringify(h.model)},"system_fingerprint":"fp_mock","choices":[{"index":0,"delta":`
  // OpenAI adds "usage":null to every chunk once include_usage is asked for
  const end = `,"logprobs":null,"finish_reason":null}]${h.includeUsage ? ',"usage":null' : ''}}\n\n`
  let tail = `${start}{},"logprobs":null,"finish_reason":"stop"}]${h.includeUsage ? ',"usage":null' : ''}}\n\n`
  if (h.includeUsage) {
    tail += `data: {"id":${JSON.stringify(h.id)},"object":"chat.completion.chunk","created":${h.created},"model":${JSON.stringify(h.model)},"system_fingerprint":"fp_mock","choices":[],"usage":${chatUsageJson(usage, h.deepseekUsage)}}\n\n`
  }
  return {
    head: `${start}{"role":"assistant","content":""}${end}`,
    // the deltas are plain words, safe inside a JSON string without escaping
    contents: deltas.map((d) => `${start}{"content":"${d}"}${end}`),
    tail: tail + DONE,
    usage: h.includeUsage ? usage : undefined
  }
}

/** Legacy `text_completion` events: no role event, then one per word, then the finish event. */
export function completionStreamPlan (h: StreamHeader, deltas: readonly string[], usage: Usage): StreamPlan {
  const start = `data: {"id":${JSON.stringify(h.id)},"object":"text_completion","created":${h.created},"model":${JSON.stringify(h.model)},"system_fingerprint":"fp_mock","choices":[{"text":`
  const end = `,"index":0,"logprobs":null,"finish_reason":null}]${h.includeUsage ? ',"usage":null' : ''}}\n\n`
  let tail = `${start}"","index":0,"logprobs":null,"finish_reason":"stop"}]${h.includeUsage ? ',"usage":null' : ''}}\n\n`
  if (h.includeUsage) {
    tail += `data: {"id":${JSON.stringify(h.id)},"object":"text_completion","created":${h.created},"model":${JSON.stringify(h.model)},"system_fingerprint":"fp_mock","choices":[],"usage":${chatUsageJson(usage, h.deepseekUsage)}}\n\n`
  }
  return {
    head: '',
    contents: deltas.map((d) => `${start}"${d}"${end}`),
    tail: tail + DONE,
    usage: h.includeUsage ? usage : undefined
  }
}

export interface Pacing {
  first_chunk_delay_ms: number
  chunk_delay_ms: number
  /** `cut`: drop the connection after `cut_after` contents; `stall`: go silent after them */
  mode: 'normal' | 'cut' | 'stall'
  cut_after: number
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive'
}

/**
 * Sends a planned stream. Timing: the head and the first content event go out together
 * `first_chunk_delay_ms` after the headers; each further content event `chunk_delay_ms` after
 * the one before; the closing events right after the last content event. Consecutive events with
 * no delay between them are written at once, so with zero delays the whole stream is one write.
 */
export function sendStream (ex: Exchange, plan: StreamPlan, p: Pacing, onUsage: (u: Usage) => void): void {
  const limit = p.mode === 'normal' ? plan.contents.length : Math.min(p.cut_after, plan.contents.length)
  const segments: Array<{ delay: number, data: string }> = [{ delay: p.first_chunk_delay_ms, data: plan.head }]
  for (let i = 0; i < limit; i++) {
    const last = segments[segments.length - 1]!
    if (i === 0 || p.chunk_delay_ms <= 0) last.data += plan.contents[i]
    else segments.push({ delay: p.chunk_delay_ms, data: plan.contents[i]! })
  }
  if (p.mode === 'normal') segments[segments.length - 1]!.data += plan.tail

  ex.writeHead(200, SSE_HEADERS)
  if (segments.length === 1 && segments[0]!.delay <= 0) {
    finish(ex, segments[0]!.data, plan, p, onUsage)
    return
  }
  // get the headers out now: a client measures time to headers separately from the first event
  ex.res.flushHeaders()
  let i = 0
  const step = (): void => {
    const seg = segments[i++]!
    if (i === segments.length) { finish(ex, seg.data, plan, p, onUsage); return }
    ex.write(seg.data)
    ex.later(segments[i]!.delay, step)
  }
  ex.later(segments[0]!.delay, step)
}

function finish (ex: Exchange, data: string, plan: StreamPlan, p: Pacing, onUsage: (u: Usage) => void): void {
  // an SSE comment when nothing is due, so the headers reach the client before the cut
  if (p.mode === 'cut') { ex.destroy(data === '' ? ': cut\n\n' : data); return }
  if (p.mode === 'stall') { ex.res.flushHeaders(); ex.write(data); return }
  ex.end(data)
  if (plan.usage !== undefined) onUsage(plan.usage)
}
