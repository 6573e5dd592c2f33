// The Anthropic Messages API, passed through untouched: usage in `message_start` and the final `message_delta`.
import { GatewayError } from '../errors.js'
import { anthropicUsage } from '../lib/usage.js'
import type { Json, Surface } from './types.js'

function contentText (doc: Json): string {
  if (!Array.isArray(doc.content)) return ''
  return (doc.content as Array<{ text?: unknown }>).map((c) => typeof c?.text === 'string' ? c.text : '').join('')
}

/** Anthropic's SDKs raise on an `event: error` carrying its error object. */
function errorEvent (err: GatewayError): string {
  return `event: error\ndata: ${JSON.stringify(err.toAnthropicBody())}\n\n`
}

export const messages: Surface = {
  name: 'messages',
  errorFormat: 'anthropic',
  modelTypes: ['chat'],
  asksStreamUsage: false,
  jsonUsage: (usage) => anthropicUsage(usage),
  jsonText: contentText,
  estimates: true,
  needsMessagesUpstream: true,
  stream: {
    firstToken: /"type":"content_block_delta"/,
    content: /"(?:text|thinking|partial_json)":"((?:[^"\\]|\\.)*)"/g,
    // message_start carries usage inside `message`; message_delta at top level, cumulative.
    usage: (event, prev) => anthropicUsage((event.message as Json | undefined)?.usage ?? event.usage, prev),
    stripsInjectedUsage: false,
    errorEvent,
    completed: /"type":\s*"message_stop"/
  }
}

/** count_tokens: an Anthropic answer without usage to bill. */
export const messagesCount: Surface = { ...messages, jsonUsage: () => undefined, estimates: false, stream: undefined }
