// The classic OpenAI routes: chat completions, legacy completions, embeddings, models.
import { chatPromptTokens, completionDeltas, completionText, embeddingInputs, embeddingVector, inputTokens, vectorBase64 } from './content.js'
import type { ErrorSpec } from './faults.js'
import { invalid, missing, pacing, readModel, sendBody, streamMode, type Handler, type RouteContext, unixNow } from './route.js'
import { chatStreamPlan, completionStreamPlan, sendStream } from './sse.js'
import { chatUsageJson, promptOnly, usageFor } from './usage.js'

/** An older OpenAI-compatible server that does not know `stream_options` (the `reject_stream_options` knob). */
function unknownStreamOptions (c: RouteContext): ErrorSpec | undefined {
  if (!c.knobs.reject_stream_options || c.body.stream_options === undefined) return undefined
  return { status: 400, type: 'invalid_request_error', param: 'stream_options', code: null, message: 'Unrecognized request argument supplied: stream_options' }
}

function includeUsage (body: Record<string, unknown>): boolean {
  const opts = body.stream_options
  return typeof opts === 'object' && opts !== null && (opts as { include_usage?: unknown }).include_usage === true
}

const created = unixNow

export const chatCompletions: Handler = (c) => {
  const rejected = unknownStreamOptions(c)
  if (rejected !== undefined) return rejected
  const model = readModel(c.body)
  if (typeof model !== 'string') return model
  const messages = c.body.messages
  if (messages === undefined) return missing('messages')
  if (!Array.isArray(messages) || messages.length === 0) return invalid('messages', 'messages must be a non-empty array.')
  const usage = usageFor(c.knobs, chatPromptTokens(messages))
  const id = `chatcmpl-mock-${c.ex.n}`
  if (streamMode(c)) {
    const plan = chatStreamPlan({ id, created: created(), model, includeUsage: includeUsage(c.body), deepseekUsage: c.knobs.deepseek_usage }, completionDeltas(c.knobs.chunks), usage)
    sendStream(c.ex, plan, pacing(c), c.recordUsage)
    return undefined
  }
  sendBody(c, `{"id":"${id}","object":"chat.completion","created":${created()},"model":${JSON.stringify(model)},` +
    '"system_fingerprint":"fp_mock","choices":[{"index":0,"message":{"role":"assistant","content":' +
    `"${completionText(c.knobs.chunks)}","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],` +
    `"usage":${chatUsageJson(usage, c.knobs.deepseek_usage)}}`, usage)
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
  const usage = usageFor(c.knobs, inputTokens(prompt))
  const id = `cmpl-mock-${c.ex.n}`
  if (streamMode(c)) {
    const plan = completionStreamPlan({ id, created: created(), model, includeUsage: includeUsage(c.body), deepseekUsage: c.knobs.deepseek_usage }, completionDeltas(c.knobs.chunks), usage)
    sendStream(c.ex, plan, pacing(c), c.recordUsage)
    return undefined
  }
  sendBody(c, `{"id":"${id}","object":"text_completion","created":${created()},"model":${JSON.stringify(model)},` +
    `"system_fingerprint":"fp_mock","choices":[{"text":"${completionText(c.knobs.chunks)}","index":0,"logprobs":null,` +
    `"finish_reason":"stop"}],"usage":${chatUsageJson(usage, c.knobs.deepseek_usage)}}`, usage)
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
  const promptTokens = c.knobs.prompt_tokens ?? inputTokens(c.body.input)
  sendBody(c, `{"object":"list","data":[${data.join(',')}],"model":${JSON.stringify(model)},` +
    `"usage":{"prompt_tokens":${promptTokens},"total_tokens":${promptTokens}}}`, promptOnly(promptTokens))
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
