// The /v1 route table: method and path, handler, how the body is read, and which error shape the route's clients parse.
import { speech, transcriptions, translations } from './audio.js'
import type { ErrorFormat } from './faults.js'
import { chatCompletions, completions, embeddings, models } from './handlers.js'
import { imageEdits, imageGenerations } from './images.js'
import { countMessageTokens, createMessage } from './messages.js'
import { moderations } from './moderations.js'
import { cancelResponse, createResponse, deleteResponse, getResponse, responseInputItems, responseInputTokens } from './responses.js'
import type { Handler } from './route.js'

export interface Route {
  method: string
  /** an exact path, or a pattern whose first group is the `{id}` */
  path: string | RegExp
  handler: Handler
  /** `json`: parsed (400 when it is not a JSON object); `multipart`: streamed, text fields kept; `none`: hashed and dropped */
  body: 'json' | 'multipart' | 'none'
}

const RESPONSE_ID = /^\/v1\/responses\/([^/]+)$/

const ROUTES: readonly Route[] = [
  { method: 'POST', path: '/v1/chat/completions', handler: chatCompletions, body: 'json' },
  { method: 'POST', path: '/v1/completions', handler: completions, body: 'json' },
  { method: 'POST', path: '/v1/embeddings', handler: embeddings, body: 'json' },
  { method: 'GET', path: '/v1/models', handler: models, body: 'none' },
  { method: 'POST', path: '/v1/responses', handler: createResponse, body: 'json' },
  // before the `{id}` routes: `input_tokens` is not an id
  { method: 'POST', path: '/v1/responses/input_tokens', handler: responseInputTokens, body: 'json' },
  { method: 'GET', path: RESPONSE_ID, handler: getResponse, body: 'none' },
  { method: 'DELETE', path: RESPONSE_ID, handler: deleteResponse, body: 'none' },
  { method: 'POST', path: /^\/v1\/responses\/([^/]+)\/cancel$/, handler: cancelResponse, body: 'none' },
  { method: 'GET', path: /^\/v1\/responses\/([^/]+)\/input_items$/, handler: responseInputItems, body: 'none' },
  { method: 'POST', path: '/v1/messages', handler: createMessage, body: 'json' },
  { method: 'POST', path: '/v1/messages/count_tokens', handler: countMessageTokens, body: 'json' },
  { method: 'POST', path: '/v1/moderations', handler: moderations, body: 'json' },
  { method: 'POST', path: '/v1/images/generations', handler: imageGenerations, body: 'json' },
  { method: 'POST', path: '/v1/images/edits', handler: imageEdits, body: 'multipart' },
  { method: 'POST', path: '/v1/audio/speech', handler: speech, body: 'json' },
  { method: 'POST', path: '/v1/audio/transcriptions', handler: transcriptions, body: 'multipart' },
  { method: 'POST', path: '/v1/audio/translations', handler: translations, body: 'multipart' }
]

const EXACT = new Map(ROUTES.filter((r) => typeof r.path === 'string').map((r) => [`${r.method} ${r.path as string}`, r]))
const PATTERNS = ROUTES.filter((r) => r.path instanceof RegExp)

/** The route for a request and the `{id}` in its path; undefined for an unknown route. */
export function findRoute (method: string, path: string): { route: Route, id: string } | undefined {
  const exact = EXACT.get(`${method} ${path}`)
  if (exact !== undefined) return { route: exact, id: '' }
  for (const route of PATTERNS) {
    if (route.method !== method) continue
    const m = (route.path as RegExp).exec(path)
    if (m !== null) return { route, id: decodeId(m[1]!) }
  }
  return undefined
}

function decodeId (raw: string): string {
  try {
    return decodeURIComponent(raw)
  } catch {
    return raw
  }
}

/** Anthropic's clients parse `{"type":"error",…}`; everyone else OpenAI's `{"error":…}`. */
export function errorFormatOf (path: string): ErrorFormat {
  return path === '/v1/messages' || path.startsWith('/v1/messages/') ? 'anthropic' : 'openai'
}
