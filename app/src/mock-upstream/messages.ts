// The Anthropic Messages API routes: create (JSON or typed SSE) and count_tokens, with Anthropic's usage convention.
import { randomBytes } from 'node:crypto'
import { anthropicInputTokens, completionDeltas } from './content.js'
import type { ErrorSpec } from './faults.js'
import { pacing, sendBody, streamMode, type Handler, type RouteContext } from './route.js'
import { sendStream, typedEvent, type StreamPlan } from './sse.js'
import { anthropicInput, usageFor, type Usage } from './usage.js'

/** Anthropic words its validation errors as `field: problem`; the error type follows the status. */
function fieldError (field: string, problem: string): ErrorSpec {
  return { status: 400, type: 'invalid_request_error', param: field, message: `${field}: ${problem}` }
}

/** Checks the fields both routes need; returns the model, or the 400 Anthropic would answer. */
function validate (c: RouteContext, needMaxTokens: boolean): string | ErrorSpec {
  const { model, messages, max_tokens: maxTokens } = c.body
  if (model === undefined) return fieldError('model', 'Field required')
  if (typeof model !== 'string' || model === '') return fieldError('model', 'Input should be a valid string')
  if (needMaxTokens) {
    if (maxTokens === undefined) return fieldError('max_tokens', 'Field required')
    if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1) return fieldError('max_tokens', 'Input should be a positive integer')
  }
  if (messages === undefined) return fieldError('messages', 'Field required')
  if (!Array.isArray(messages) || messages.length === 0) return fieldError('messages', 'at least one message is required')
  return model
}

function usageOf (c: RouteContext): Usage {
  return usageFor(c.knobs, anthropicInputTokens(c.body.system, c.body.messages))
}

/** `usage` as Anthropic sends it: input_tokens excludes the cache reads and writes. */
function usageObject (u: Usage, outputTokens: number): Record<string, number> {
  return { ...anthropicInput(u), output_tokens: outputTokens }
}

function messageStreamPlan (message: Record<string, unknown>, deltas: readonly string[], usage: Usage): StreamPlan {
  const ev = (type: string, fields: Record<string, unknown> = {}): string => typedEvent(type, { type, ...fields })
  // message_start carries the input counts and a provisional output count of 1, as Anthropic's does
  const head = ev('message_start', { message: { ...message, content: [], stop_reason: null, stop_sequence: null, usage: usageObject(usage, 1) } }) +
    ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }) +
    ev('ping')
  const contents = deltas.map((text) => ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text } }))
  // message_delta repeats the input counts and gives the cumulative output count
  const tail = ev('content_block_stop', { index: 0 }) +
    ev('message_delta', { delta: { stop_reason: message.stop_reason, stop_sequence: null }, usage: usageObject(usage, usage.completion_tokens) }) +
    ev('message_stop')
  return { head, contents, tail, usage }
}

export const createMessage: Handler = (c) => {
  const model = validate(c, true)
  if (typeof model !== 'string') return model
  const usage = usageOf(c)
  const deltas = completionDeltas(c.knobs.chunks)
  const message = {
    id: `msg_01${randomBytes(12).toString('hex')}`,
    type: 'message',
    role: 'assistant',
    model,
    content: [{ type: 'text', text: deltas.join('') }],
    stop_reason: c.knobs.incomplete ? 'max_tokens' : 'end_turn',
    stop_sequence: null,
    usage: usageObject(usage, usage.completion_tokens)
  }
  if (streamMode(c)) {
    sendStream(c.ex, messageStreamPlan(message, deltas, usage), pacing(c), c.recordUsage)
    return undefined
  }
  sendBody(c, JSON.stringify(message), usage)
  return undefined
}

export const countMessageTokens: Handler = (c) => {
  const model = validate(c, false)
  if (typeof model !== 'string') return model
  sendBody(c, JSON.stringify({ input_tokens: usageOf(c).prompt_tokens }))
  return undefined
}
