// What a surface (one client API: chat completions, Responses, Messages, …) tells the relay core.
import type { ErrorFormat, GatewayError } from '../errors.js'
import type { ModelType } from '../lib/models.js'
import type { Usage } from '../lib/usage.js'

export type Json = Record<string, unknown>

/** How a stream of this surface is watched (never rewritten, except the usage chunk the gateway asked for). */
export interface StreamRules {
  /** an event carrying generated content (time to first token), tested on decoded bytes */
  firstToken: RegExp
  /** a global regex whose group 1 is a JSON string of generated text, for estimates */
  content: RegExp
  /** the usage an event's parsed data adds to what the stream said before */
  usage: (event: Json, prev: Usage | undefined) => Usage | undefined
  /** the gateway asked for stream usage itself: drop the usage-only chunk and the `"usage":null`s */
  stripsInjectedUsage: boolean
  /**
   * The event that ends a stream which failed after it started, in the format the surface's SDKs
   * raise on; `last` is the last event bytes the client got (for sequence numbers).
   */
  errorEvent: (err: GatewayError, last: Buffer | undefined) => string
  /** the id of the object the stream creates (Responses: tied to its upstream), group 1 */
  createdId?: RegExp
  /**
   * the surface's final event, tested on the last events sent: only a stream that reached it is
   * whole and may be kept for a replay (cache, Idempotency-Key)
   */
  completed: RegExp
}

export interface Surface {
  name: 'chat' | 'completions' | 'embeddings' | 'responses' | 'messages' | 'passthrough'
  errorFormat: ErrorFormat
  /** model types this surface accepts; undefined: any configured model */
  modelTypes?: readonly ModelType[]
  /** a stream's usage must be asked for (OpenAI's `stream_options.include_usage`) */
  asksStreamUsage: boolean
  /** usage of a JSON answer, from the value of its (last) `"usage"` key */
  jsonUsage: (usage: unknown) => Usage | undefined
  /** the generated text of a parsed JSON answer, for an estimate when it has no usage */
  jsonText: (doc: Json) => string
  /** estimate tokens with the tokenizer when the upstream reports none (text surfaces) */
  estimates: boolean
  stream?: StreamRules
  /** only upstreams that serve the Anthropic Messages API can take it */
  needsMessagesUpstream?: boolean
  /** the id of the object a JSON answer creates (Responses), group 1 */
  createdId?: RegExp
}
