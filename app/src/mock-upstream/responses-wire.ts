// The Responses API on the wire: response objects, output items, input items, and the typed event stream.
import { randomBytes } from 'node:crypto'
import type { StreamPlan } from './sse.js'
import { typedEvent } from './sse.js'
import { responsesUsage, type Usage } from './usage.js'

export type Json = Record<string, unknown>

/** OpenAI's ids are a prefix and a long hex string. */
export function newId (prefix: string): string {
  return `${prefix}_${randomBytes(24).toString('hex')}`
}

export interface ResponseParts {
  id: string
  createdAt: number
  model: string
  /** the request body, whose settings a response echoes */
  request: Json
  status: 'in_progress' | 'completed' | 'incomplete'
  output: Json[]
  usage: Usage | null
}

function pick<T> (value: unknown, ok: (v: unknown) => boolean, fallback: T): T {
  return ok(value) ? value as T : fallback
}

const isString = (v: unknown): boolean => typeof v === 'string'
const isNumber = (v: unknown): boolean => typeof v === 'number'
const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v)

/** A `response` object with the fields the official SDK's `Response` type declares, settings echoed from the request. */
export function responseObject (p: ResponseParts): Json {
  const r = p.request
  return {
    id: p.id,
    object: 'response',
    created_at: p.createdAt,
    status: p.status,
    background: r.background === true,
    completed_at: p.status === 'completed' ? p.createdAt : null,
    error: null,
    incomplete_details: p.status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: pick(r.instructions, isString, null),
    max_output_tokens: pick(r.max_output_tokens, isNumber, null),
    metadata: pick(r.metadata, isObject, {}),
    model: p.model,
    output: p.output,
    parallel_tool_calls: r.parallel_tool_calls !== false,
    previous_response_id: pick(r.previous_response_id, isString, null),
    reasoning: pick(r.reasoning, isObject, { effort: null, summary: null }),
    service_tier: 'default',
    store: r.store !== false,
    temperature: pick(r.temperature, isNumber, 1),
    text: pick(r.text, isObject, { format: { type: 'text' } }),
    tool_choice: r.tool_choice ?? 'auto',
    tools: pick(r.tools, Array.isArray, []),
    top_p: pick(r.top_p, isNumber, 1),
    truncation: pick(r.truncation, isString, 'disabled'),
    usage: p.usage === null ? null : responsesUsage(p.usage),
    user: pick(r.user, isString, null)
  }
}

function textPart (text: string): Json {
  return { type: 'output_text', annotations: [], logprobs: [], text }
}

export function messageItem (id: string, status: string, text: string | undefined): Json {
  return { id, type: 'message', status, content: text === undefined ? [] : [textPart(text)], role: 'assistant' }
}

/** The request's `input` as the input_items list shows it: every item a typed object with an id. */
export function inputItems (input: unknown): Json[] {
  const list = typeof input === 'string' ? [input] : Array.isArray(input) ? input : []
  const items: Json[] = []
  for (const item of list) {
    if (typeof item === 'string') {
      items.push({ id: newId('msg'), type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_text', text: item }] })
    } else if (isObject(item)) {
      const o = item as Json
      const type = typeof o.type === 'string' ? o.type : 'message'
      const content = typeof o.content === 'string'
        ? [{ type: o.role === 'assistant' ? 'output_text' : 'input_text', text: o.content }]
        : o.content
      items.push({ id: typeof o.id === 'string' ? o.id : newId(type === 'message' ? 'msg' : 'item'), ...o, type, ...(type === 'message' ? { status: 'completed', content } : {}) })
    }
  }
  return items
}

/**
 * The typed events of a streamed response: created, in_progress, the message item and its text
 * part opened, one `response.output_text.delta` per word, then everything closed and the final
 * `response.completed` (or `response.incomplete`) carrying the usage.
 */
export function responseStreamPlan (base: Omit<ResponseParts, 'status' | 'output' | 'usage'>, itemId: string, deltas: readonly string[], final: Json, usage: Usage): StreamPlan {
  let seq = 0
  const ev = (type: string, fields: Json): string => typedEvent(type, { type, sequence_number: seq++, ...fields })
  const where = { item_id: itemId, output_index: 0, content_index: 0 }
  const opening = responseObject({ ...base, status: 'in_progress', output: [], usage: null })
  const head = ev('response.created', { response: opening }) +
    ev('response.in_progress', { response: opening }) +
    ev('response.output_item.added', { output_index: 0, item: messageItem(itemId, 'in_progress', undefined) }) +
    ev('response.content_part.added', { ...where, part: textPart('') })
  const contents = deltas.map((delta) => ev('response.output_text.delta', { ...where, delta, logprobs: [] }))
  const text = deltas.join('')
  const output = final.output as Json[]
  const tail = ev('response.output_text.done', { ...where, text, logprobs: [] }) +
    ev('response.content_part.done', { ...where, part: textPart(text) }) +
    ev('response.output_item.done', { output_index: 0, item: output[0] }) +
    ev(final.status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response: final })
  return { head, contents, tail, usage }
}
