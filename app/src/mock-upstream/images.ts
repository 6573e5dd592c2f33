// POST /v1/images/generations (JSON) and /v1/images/edits (multipart): tiny PNGs, gpt-image usage.
import { hashOf, inputTokens } from './content.js'
import { onePixelPng } from './png.js'
import { invalid, missing, sendBody, unixNow, type Handler, type RouteContext } from './route.js'
import { usageFor } from './usage.js'

/** Image tokens the mock counts per input image of an edit (a low-detail image's share). */
const TOKENS_PER_INPUT_IMAGE = 85

function answer (c: RouteContext, prompt: string, imageInputs: number): ReturnType<Handler> {
  const model = c.body.model ?? (imageInputs > 0 ? 'gpt-image-1' : 'dall-e-2')
  if (typeof model !== 'string' || model === '') return invalid('model', 'model must be a non-empty string.')
  const n = c.body.n === undefined ? 1 : Number(c.body.n)
  if (!Number.isInteger(n) || n < 1 || n > 10) return invalid('n', 'n must be an integer from 1 to 10.')
  const format = c.body.response_format ?? 'b64_json'
  if (format !== 'b64_json' && format !== 'url') return invalid('response_format', "response_format must be 'url' or 'b64_json'.")
  const gptImage = model.startsWith('gpt-image')
  if (gptImage && c.body.response_format !== undefined) return invalid('response_format', `Unknown parameter: 'response_format' is not supported with ${model}.`)
  const data = Array.from({ length: n }, (_, i) => {
    const b64 = onePixelPng(hashOf(`${prompt}#${i}`)).toString('base64')
    return format === 'url' ? { url: `data:image/png;base64,${b64}` } : { b64_json: b64 }
  })
  const body: Record<string, unknown> = { created: unixNow(), data }
  if (!gptImage) {
    sendBody(c, JSON.stringify(body))
    return undefined
  }
  const imageTokens = imageInputs * TOKENS_PER_INPUT_IMAGE
  const usage = usageFor(c.knobs, inputTokens(prompt) + imageTokens)
  const images = Math.min(imageTokens, usage.prompt_tokens)
  Object.assign(body, {
    background: 'opaque',
    output_format: 'png',
    quality: 'low',
    size: '1024x1024',
    usage: {
      input_tokens: usage.prompt_tokens,
      input_tokens_details: { text_tokens: usage.prompt_tokens - images, image_tokens: images },
      output_tokens: usage.completion_tokens,
      total_tokens: usage.prompt_tokens + usage.completion_tokens
    }
  })
  sendBody(c, JSON.stringify(body), usage)
  return undefined
}

export const imageGenerations: Handler = (c) => {
  const prompt = c.body.prompt
  if (prompt === undefined) return missing('prompt')
  if (typeof prompt !== 'string' || prompt === '') return invalid('prompt', 'prompt must be a non-empty string.')
  return answer(c, prompt, 0)
}

export const imageEdits: Handler = (c) => {
  const prompt = c.body.prompt
  if (prompt === undefined) return missing('prompt')
  if (typeof prompt !== 'string' || prompt === '') return invalid('prompt', 'prompt must be a non-empty string.')
  const images = c.files.filter((f) => f.name === 'image' || f.name === 'image[]')
  if (images.length === 0) return missing('image')
  return answer(c, prompt, images.length)
}
