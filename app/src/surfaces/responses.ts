// The OpenAI Responses API: typed `event:` lines, usage in `response.completed` / `response.incomplete`.
import { GatewayError } from '../errors.js'
import { openAIUsage } from '../lib/usage.js'
import type { Json, Surface } from './types.js'

const SEQUENCE_RE = /"sequence_number":\s*(\d+)/g

/** The generated text of a response object: its output messages' text parts. */
function outputText (doc: Json): string {
  if (!Array.isArray(doc.output)) return ''
  const parts: string[] = []
  for (const item of doc.output as Array<{ content?: unknown }>) {
    if (!Array.isArray(item?.content)) continue
    for (const c of item.content as Array<{ text?: unknown }>) if (typeof c?.text === 'string') parts.push(c.text)
  }
  return parts.join('')
}

/**
 * A cut stream ends with the Responses `error` event (`ResponseErrorEvent` in the SDK's types:
 * type, code, message, param, sequence_number), never a `response.completed`.
 */
function errorEvent (err: GatewayError, last: Buffer | undefined): string {
  let seq = -1
  if (last !== undefined) {
    const text = last.toString('latin1')
    for (const m of text.matchAll(SEQUENCE_RE)) seq = Number(m[1])
  }
  const event = { type: 'error', code: err.code, message: err.message, param: err.param, sequence_number: seq + 1 }
  return `event: error\ndata: ${JSON.stringify(event)}\n\n`
}

export const responses: Surface = {
  name: 'responses',
  errorFormat: 'openai',
  modelTypes: ['chat'],
  asksStreamUsage: false,
  jsonUsage: openAIUsage,
  jsonText: outputText,
  estimates: true,
  createdId: /"id":\s*"(resp_[A-Za-z0-9_-]{1,200})"/,
  stream: {
    firstToken: /"type":"response\.[a-z_.]*delta"/,
    content: /"type":"response\.(?:output_text|refusal|function_call_arguments|reasoning_summary_text)\.delta"[^\n]*?"delta":"((?:[^"\\]|\\.)*)"/g,
    usage: (event, prev) => {
      const response = event.response as Json | undefined
      return openAIUsage(response?.usage) ?? prev
    },
    stripsInjectedUsage: false,
    errorEvent,
    createdId: /"id":\s*"(resp_[A-Za-z0-9_-]{1,200})"/,
    // an unescaped "type" pair cannot occur inside a JSON string
    completed: /"type":\s*"response\.(?:completed|incomplete)"/
  }
}
