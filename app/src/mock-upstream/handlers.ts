// The /v1 routes: chat completions, legacy completions, embeddings, models.
import type { MockOptions } from './config.js'
import { chatPromptTokens, completionDeltas, completionText, embeddingInputs, embeddingVector, inputTokens, vectorBase64 } from './content.js'
import type { Exchange } from './exchange.js'
import type { ErrorSpec } from './faults.js'
import { chatStreamPlan, completionStreamPlan, sendStream, usageJson, type Usage } from './sse.js'

/** How the body goes out: whole, or damaged by a fault. */
export type SendMode = 'normal' | 'cut' | 'stall' | 'invalid_json'

export interface RouteContext {
  ex: Exchange
  body: Record<string, unknown>
  knobs: MockOptions
  mode: SendMode
  /** records usage the client was actually sent */
  recordUsage: (u: Usage) => void
}

/** A handler answers, or returns the 400 the request deserves. */
export type Handler = (c: RouteContext) => ErrorSpec | undefined

function invalid (param: string, message: string): ErrorSpec {
  return { status: 400, type: 'invalid_request_error', param, code: 'invalid_value', message }
}

function missing (param: string): ErrorSpec {
  return { status: 400, type: 'invalid_request_error', param, code: 'missing_required_parameter', message: `Missing required parameter: '${param}'.` }
}

/** An older OpenAI-compatible server that does not know `stream_options` (the `reject_stream_options` knob). */
function unknownStreamOptions (c: RouteContext): ErrorSpec | undefined {
  if (!c.knobs.reject_stream_options || c.body.stream_options === undefined) return undefined
  return { status: 400, type: 'invalid_request_error', param: 'stream_options', code: null, message: 'Unrecognized request argument supplied: stream_options' }
}

function readModel (body: Record<string, unknown>): string | ErrorSpec {
  const model = body.model
  if (model === undefined) return missing('model')
  if (typeof model !== 'string' || model === '') return invalid('model', 'model must be a non-empty string.')
  return model
}

/** A non-stream JSON body, sent whole or as a fault asks. */
function sendBody (c: RouteContext, body: string, usage?: Usage): void {
  const { ex } = c
  const half = body.slice(0, Math.max(1, body.length >> 1))
  const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
  switch (c.mode) {
    case 'invalid_json':
      ex.sendJson(200, half)
      return
    case 'cut':
      ex.writeHead(200, headers)
      ex.destroy(half)
      return
    case 'stall':
      ex.writeHead(200, headers)
      ex.write(half)
      return
    default:
      ex.sendJson(200, body)
      if (usage !== undefined) c.recordUsage(usage)
  }
}

function streamMode (c: RouteContext): boolean {
  return c.body.stream === true && c.mode !== 'invalid_json'
}

function includeUsage (body: Record<string, unknown>): boolean {
  const opts = body.stream_options
  return typeof opts === 'object' && opts !== null && (opts as { include_usage?: unknown }).include_usage === true
}

function pacing (c: RouteContext): Parameters<typeof sendStream>[2] {
  return {
    first_chunk_delay_ms: c.knobs.first_chunk_delay_ms,
    chunk_delay_ms: c.knobs.chunk_delay_ms,
    mode: c.mode === 'cut' || c.mode === 'stall' ? c.mode : 'normal',
    cut_after: c.knobs.cut_after
  }
}

const created = (): number => Math.floor(Date.now() / 1000)

export const chatCompletions: Handler = (c) => {
  const rejected = unknownStreamOptions(c)
  if (rejected !== undefined) return rejected
  const model = readModel(c.body)
  if (typeof model !== 'string') return model
  const messages = c.body.messages
  if (messages === undefined) return missing('messages')
  if (!Array.isArray(messages) || messages.length === 0) return invalid('messages', 'messages must be a non-empty array.')
  const usage = { prompt_tokens: chatPromptTokens(messages), completion_tokens: c.knobs.chunks }
  const id = `chatcmpl-mock-${c.ex.n}`
  if (streamMode(c)) {
    const plan = chatStreamPlan({ id, created: created(), model, includeUsage: includeUsage(c.body) }, completionDeltas(c.knobs.chunks), usage)
    sendStream(c.ex, plan, pacing(c), c.recordUsage)
    return undefined
  }
  sendBody(c, `{"id":"${id}","object":"chat.completion","created":${created()},"model":${JSON.stringify(model)},` +
    '"system_fingerprint":"fp_mock","choices":[{"index":0,"message":{"role":"assistant","content":' +
    `"${completionText(c.knobs.chunks)}","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],` +
    `"usage":${usageJson(usage)}}`, usage)
  return undefined
}

export const completions: Handler = (c) => {
  const rejected = unknownStreamOptions(c)
  if (rejected !== undefined) return rejected
  const model = readModel(c.body)
  if (typeof model !== 'string') return model
  const prompt = c.body.prompt
  if (prompt === undefined) return missing('prompt')
  if (typeof prompt !== 'string' && !Array.isArray(prompt)) return invalid('prompt', 'prompt must be a string or an array.')
  const usage = { prompt_tokens: inputTokens(prompt), completion_tokens: c.knobs.chunks }
  const id = `cmpl-mock-${c.ex.n}`
  if (streamMode(c)) {
    const plan = completionStreamPlan({ id, created: created(), model, includeUsage: includeUsage(c.body) }, completionDeltas(c.knobs.chunks), usage)
    sendStream(c.ex, plan, pacing(c), c.recordUsage)
    return undefined
  }
  sendBody(c, `{"id":"${id}","object":"text_completion","created":${created()},"model":${JSON.stringify(model)},` +
    `"system_fingerprint":"fp_mock","choices":[{"text":"${completionText(c.knobs.chunks)}","index":0,"logprobs":null,` +
    `"finish_reason":"stop"}],"usage":${usageJson(usage)}}`, usage)
  return undefined
}

export const embeddings: Handler = (c) => {
  const model = readModel(c.body)
  if (typeof model !== 'string') return model
  if (c.body.input === undefined) return missing('input')
  const inputs = embeddingInputs(c.body.input)
  if (inputs === undefined) return invalid('input', 'input must be a string, an array of strings, or an array of token arrays.')
  const format = c.body.encoding_format ?? 'float'
  if (format !== 'float' && format !== 'base64') return invalid('encoding_format', "encoding_format must be 'float' or 'base64'.")
  const dimensions = c.body.dimensions ?? c.knobs.embedding_dims
  if (typeof dimensions !== 'number' || !Number.isInteger(dimensions) || dimensions < 1 || dimensions > 65_536) {
    return invalid('dimensions', 'dimensions must be an integer from 1 to 65536.')
  }
  const data = inputs.map((input, index) => {
    const v = embeddingVector(input, dimensions)
    const embedding = format === 'base64' ? `"${vectorBase64(v)}"` : `[${v.join(',')}]`
    return `{"object":"embedding","index":${index},"embedding":${embedding}}`
  })
  const promptTokens = inputTokens(c.body.input)
  sendBody(c, `{"object":"list","data":[${data.join(',')}],"model":${JSON.stringify(model)},` +
    `"usage":{"prompt_tokens":${promptTokens},"total_tokens":${promptTokens}}}`, { prompt_tokens: promptTokens, completion_tokens: 0 })
  return undefined
}

let modelsCache: { models: readonly string[], body: string } | undefined

export const models: Handler = (c) => {
  const list = c.knobs.models
  if (modelsCache?.models !== list) {
    const createdAt = 1_700_000_000
    modelsCache = {
      models: list,
      body: JSON.stringify({
        object: 'list',
        data: list.map((id) => ({ id, object: 'model', created: createdAt, owned_by: 'mock-upstream' }))
      })
    }
  }
  sendBody(c, modelsCache.body)
  return undefined
}
