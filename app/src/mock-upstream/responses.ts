// The Responses API routes: create (JSON or typed SSE), and the stored response's get, delete, cancel, input_items; input_tokens.
import { completionDeltas, responsesInputTokens } from './content.js'
import type { ErrorSpec } from './faults.js'
import { inputItems, messageItem, newId, responseObject, responseStreamPlan, type Json } from './responses-wire.js'
import { invalid, missing, notFound, pacing, readModel, sendBody, streamMode, unixNow, type Handler, type RouteContext } from './route.js'
import type { StoredResponse } from './response-store.js'
import { sendStream } from './sse.js'
import { usageFor } from './usage.js'

/** The stored response a request chains on; an error when it names one this mock does not hold. */
function previous (c: RouteContext): { id?: string, stored?: StoredResponse } | ErrorSpec {
  const id = c.body.previous_response_id
  if (id === undefined || id === null) return {}
  if (typeof id !== 'string' || id === '') return invalid('previous_response_id', 'previous_response_id must be a non-empty string.')
  c.entry.previous_response_id = id
  const stored = c.store.get(id)
  // how a test proves a chained request reached the upstream that created the response
  if (stored === undefined) return notFound(`Previous response with id '${id}' not found.`, 'previous_response_id', 'previous_response_not_found')
  return { id, stored }
}

function isError (v: object): v is ErrorSpec {
  return 'status' in v && 'message' in v
}

export const createResponse: Handler = (c) => {
  const model = readModel(c.body)
  if (typeof model !== 'string') return model
  const prev = previous(c)
  if (isError(prev)) return prev
  if (c.body.input === undefined && prev.id === undefined) return missing('input')
  const input = c.body.input
  if (input !== undefined && typeof input !== 'string' && !Array.isArray(input)) return invalid('input', 'input must be a string or an array of input items.')

  const usage = usageFor(c.knobs, responsesInputTokens(input, c.body.instructions) + (prev.stored?.contextTokens ?? 0))
  const turn = (prev.stored?.turn ?? 0) + 1
  const words = completionDeltas(c.knobs.chunks)
  // a chained answer says what it chained on, so a test can see the chain reached this upstream
  const deltas = prev.id === undefined ? words : [`previous ${prev.id} turn ${turn}:`, ...words.map((w, i) => (i === 0 ? ` ${w}` : w))]
  const status = c.knobs.incomplete ? 'incomplete' : 'completed'
  const base = { id: newId('resp'), createdAt: unixNow(), model, request: c.body }
  const itemId = newId('msg')
  const final = responseObject({ ...base, status, output: [messageItem(itemId, status, deltas.join(''))], usage })
  c.entry.response_id = base.id
  if (c.body.store !== false) {
    c.store.put(base.id, { response: final, inputItems: inputItems(input), turn, contextTokens: usage.prompt_tokens + usage.completion_tokens })
  }
  if (streamMode(c)) {
    sendStream(c.ex, responseStreamPlan(base, itemId, deltas, final, usage), pacing(c), c.recordUsage)
    return undefined
  }
  sendBody(c, JSON.stringify(final), usage)
  return undefined
}

function stored (c: RouteContext): StoredResponse | ErrorSpec {
  return c.store.get(c.id) ?? notFound(`Response with id '${c.id}' not found.`)
}

export const getResponse: Handler = (c) => {
  const s = stored(c)
  if (isError(s)) return s
  sendBody(c, JSON.stringify(s.response))
  return undefined
}

export const deleteResponse: Handler = (c) => {
  if (!c.store.delete(c.id)) return notFound(`Response with id '${c.id}' not found.`)
  sendBody(c, JSON.stringify({ id: c.id, object: 'response.deleted', deleted: true }))
  return undefined
}

/** Only background responses can really be cancelled; any other stored one comes back unchanged. */
export const cancelResponse: Handler = (c) => {
  const s = stored(c)
  if (isError(s)) return s
  if (s.response.background === true) s.response = { ...s.response, status: 'cancelled' }
  sendBody(c, JSON.stringify(s.response))
  return undefined
}

export const responseInputItems: Handler = (c) => {
  const s = stored(c)
  if (isError(s)) return s
  const order = c.query.get('order') ?? 'desc'
  if (order !== 'asc' && order !== 'desc') return invalid('order', "order must be 'asc' or 'desc'.")
  const limitRaw = c.query.get('limit') ?? '20'
  const limit = Number(limitRaw)
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) return invalid('limit', 'limit must be an integer from 1 to 100.')
  let items = order === 'asc' ? s.inputItems : [...s.inputItems].reverse()
  const after = c.query.get('after')
  if (after !== null) items = items.slice(items.findIndex((i) => i.id === after) + 1)
  const data: Json[] = items.slice(0, limit)
  sendBody(c, JSON.stringify({
    object: 'list',
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: items.length > limit
  }))
  return undefined
}

export const responseInputTokens: Handler = (c) => {
  const prev = previous(c)
  if (isError(prev)) return prev
  const input = c.body.input
  if (input !== undefined && typeof input !== 'string' && !Array.isArray(input)) return invalid('input', 'input must be a string or an array of input items.')
  const usage = usageFor(c.knobs, responsesInputTokens(input, c.body.instructions) + (prev.stored?.contextTokens ?? 0))
  sendBody(c, JSON.stringify({ object: 'response.input_tokens', input_tokens: usage.prompt_tokens }))
  return undefined
}
