// Upstream auth as each API does it: OpenAI's Bearer key, Anthropic's x-api-key (or Bearer), and their 401 bodies.
import type { IncomingMessage } from 'node:http'
import { statusFaultError, type ErrorFormat, type ErrorSpec } from './faults.js'

/** The key a request presents: `x-api-key` (Anthropic's clients) or `Authorization: Bearer`. */
export function presentedKey (req: IncomingMessage, anthropic: boolean): string | undefined {
  const xKey = req.headers['x-api-key']
  if (anthropic && typeof xKey === 'string' && xKey !== '') return xKey
  const auth = req.headers.authorization
  if (auth === undefined || auth === '') return undefined
  return auth.replace(/^Bearer\s+/i, '')
}

/** A header's value, repeated ones joined as HTTP allows. */
export function header (req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name]
  return Array.isArray(v) ? v.join(',') : v
}

/** The 401 a request without the right key gets, worded as the provider of that API words it. */
export function authError (req: IncomingMessage, format: ErrorFormat, apiKey: string): ErrorSpec | undefined {
  const anthropic = format === 'anthropic'
  const key = presentedKey(req, anthropic)
  if (key === apiKey) return undefined
  if (anthropic) {
    return { status: 401, type: 'authentication_error', message: key === undefined ? 'x-api-key header is required' : 'invalid x-api-key' }
  }
  if (key === undefined) {
    return { status: 401, type: 'invalid_request_error', code: null, message: "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)." }
  }
  // real providers quote the key they received; a gateway must never pass this message on
  return statusFaultError(401, { model: '', apiKey: key })
}
