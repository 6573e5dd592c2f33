// The OpenAI chat-style surfaces: chat completions, legacy completions and embeddings (`data:` chunks, `[DONE]`).
import { GatewayError } from '../errors.js'
import { openAIUsage } from '../lib/usage.js'
import type { Json, StreamRules, Surface } from './types.js'

/** The generated text of a JSON chat or legacy completion, for an estimate. */
function choicesText (doc: Json): string {
  if (!Array.isArray(doc.choices)) return ''
  return doc.choices.map((c: { message?: { content?: unknown }, text?: unknown }) => {
    const content = c?.message?.content ?? c?.text
    return typeof content === 'string' ? content : ''
  }).join('')
}

/** A failed chat stream ends with `data: {"error":…}` and no `[DONE]`: the OpenAI SDKs raise on it. */
function dataErrorEvent (err: GatewayError): string {
  return `data: ${JSON.stringify(err.toBody())}\n\n`
}

export const chunkStream: StreamRules = {
  firstToken: /"(?:content|text|reasoning_content|arguments)":"(?:[^"\\]|\\.)|"tool_calls"/,
  content: /"(?:content|text|reasoning_content|arguments)":"((?:[^"\\]|\\.)*)"/g,
  usage: (event, prev) => openAIUsage(event.usage) ?? prev,
  stripsInjectedUsage: true,
  errorEvent: dataErrorEvent,
  completed: /(?:^|\n)data: ?\[DONE\]/
}

export const chat: Surface = {
  name: 'chat',
  errorFormat: 'openai',
  modelTypes: ['chat'],
  asksStreamUsage: true,
  jsonUsage: openAIUsage,
  jsonText: choicesText,
  estimates: true,
  stream: chunkStream
}

export const completions: Surface = { ...chat, name: 'completions', modelTypes: ['chat', 'completion'] }

export const embeddings: Surface = {
  name: 'embeddings',
  errorFormat: 'openai',
  modelTypes: ['embedding'],
  asksStreamUsage: false,
  jsonUsage: openAIUsage,
  jsonText: () => '',
  estimates: true
}
