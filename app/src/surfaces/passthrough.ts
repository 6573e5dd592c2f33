// The other OpenAI routes (moderations, images, audio): bodies streamed both ways, usage only when the upstream reports it.
import { openAIUsage } from '../lib/usage.js'
import type { Surface } from './types.js'

export const passthrough: Surface = {
  name: 'passthrough',
  errorFormat: 'openai',
  asksStreamUsage: false,
  jsonUsage: openAIUsage,
  jsonText: () => '',
  estimates: false
}

/** A pass-through surface whose models must be of these types. */
export function passthroughFor (...types: NonNullable<Surface['modelTypes']>): Surface {
  return { ...passthrough, modelTypes: types }
}
