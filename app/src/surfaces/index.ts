// The declared table of surfaces: every route the gateway relays, what it is, and how to read it.
// Adding an API is one entry here (and its surface file); the relay core stays one path.
import { chat, completions, embeddings } from './openai.js'
import { messages, messagesCount } from './messages.js'
import { passthrough, passthroughFor } from './passthrough.js'
import { responses } from './responses.js'
import * as schemas from './schemas.js'
import type { Surface } from './types.js'

export type { Surface, StreamRules } from './types.js'

export interface SurfaceRoute {
  method: 'GET' | 'POST' | 'DELETE'
  /** the route under /v1 (Fastify syntax); the upstream gets the same path below its base URL */
  path: string
  surface: Surface
  /** json: parsed and validated, forwarded as the client's bytes; upload: streamed through (multipart or binary); none: no body */
  body: 'json' | 'upload' | 'none'
  schema?: object
  /** is a `model` required in the body (or the multipart form), optional, or absent from this route */
  model: 'required' | 'optional' | 'none'
  /**
   * The route acts on an object created earlier (a stored response): it must reach the upstream
   * that created it, found by the `:id` param or the body's `previous_response_id`.
   */
  affinity?: 'id-param' | 'previous-response'
}

/** Responses routes that read or change a stored response: relayed, never billed. */
const responseObject: Surface = { ...passthrough, name: 'responses' }
/** input_tokens counts a Responses request's input: only the models /v1/responses takes, never billed. */
const responseInputTokens: Surface = { ...responseObject, modelTypes: responses.modelTypes }

export const ROUTES: readonly SurfaceRoute[] = [
  { method: 'POST', path: '/chat/completions', surface: chat, body: 'json', schema: schemas.chatCompletionBody, model: 'required' },
  { method: 'POST', path: '/completions', surface: completions, body: 'json', schema: schemas.completionBody, model: 'required' },
  { method: 'POST', path: '/embeddings', surface: embeddings, body: 'json', schema: schemas.embeddingBody, model: 'required' },

  { method: 'POST', path: '/responses', surface: responses, body: 'json', schema: schemas.responseBody, model: 'required', affinity: 'previous-response' },
  { method: 'POST', path: '/responses/input_tokens', surface: responseInputTokens, body: 'json', schema: schemas.inputTokensBody, model: 'optional', affinity: 'previous-response' },
  { method: 'GET', path: '/responses/:id', surface: responseObject, body: 'none', model: 'none', affinity: 'id-param' },
  { method: 'DELETE', path: '/responses/:id', surface: responseObject, body: 'none', model: 'none', affinity: 'id-param' },
  { method: 'POST', path: '/responses/:id/cancel', surface: responseObject, body: 'none', model: 'none', affinity: 'id-param' },
  { method: 'GET', path: '/responses/:id/input_items', surface: responseObject, body: 'none', model: 'none', affinity: 'id-param' },

  { method: 'POST', path: '/messages', surface: messages, body: 'json', schema: schemas.messageBody, model: 'required' },
  { method: 'POST', path: '/messages/count_tokens', surface: messagesCount, body: 'json', schema: schemas.countTokensBody, model: 'required' },

  { method: 'POST', path: '/moderations', surface: passthroughFor('moderation'), body: 'json', schema: schemas.moderationBody, model: 'optional' },
  { method: 'POST', path: '/images/generations', surface: passthroughFor('image'), body: 'json', schema: schemas.imageBody, model: 'optional' },
  { method: 'POST', path: '/images/edits', surface: passthroughFor('image'), body: 'upload', model: 'optional' },
  { method: 'POST', path: '/audio/speech', surface: passthroughFor('speech'), body: 'json', schema: schemas.speechBody, model: 'required' },
  { method: 'POST', path: '/audio/transcriptions', surface: passthroughFor('transcription'), body: 'upload', model: 'required' },
  { method: 'POST', path: '/audio/translations', surface: passthroughFor('transcription'), body: 'upload', model: 'required' }
]

/** Metric route labels: every relayed route and the models list (a bounded set). */
export const ROUTE_LABELS: readonly string[] = [...ROUTES.map((r) => `/v1${r.path}`), '/v1/models', '/v1/models/:id']
