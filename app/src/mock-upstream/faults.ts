// Error bodies in OpenAI's and Anthropic's shapes, the status faults' catalogue, and the deterministic fault pattern.
import type { Fault } from './config.js'

/** Which error shape a route's clients parse. */
export type ErrorFormat = 'openai' | 'anthropic'

export interface ErrorSpec {
  status: number
  message: string
  type: string
  param?: string | null
  code?: string | null
}

export function errorBody (spec: ErrorSpec): string {
  return JSON.stringify({
    error: { message: spec.message, type: spec.type, param: spec.param ?? null, code: spec.code ?? null }
  })
}

/** Anthropic's error type for each status (its API reference, "Errors"). */
const ANTHROPIC_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  503: 'overloaded_error',
  529: 'overloaded_error'
}

export function anthropicErrorType (status: number): string {
  return ANTHROPIC_TYPES[status] ?? (status < 500 ? 'invalid_request_error' : 'api_error')
}

/** `{"type":"error","error":{"type":…,"message":…}}`: the type follows the status, as Anthropic's does. */
export function anthropicErrorBody (spec: ErrorSpec): string {
  return JSON.stringify({ type: 'error', error: { type: anthropicErrorType(spec.status), message: spec.message } })
}

export function renderError (spec: ErrorSpec, format: ErrorFormat): string {
  return format === 'anthropic' ? anthropicErrorBody(spec) : errorBody(spec)
}

/** The error each status fault answers with, modelled on what OpenAI sends for that status. */
export function statusFaultError (status: number, ctx: { model: string, apiKey: string }, message?: string): ErrorSpec {
  const spec = STATUS_FAULTS[status] ?? STATUS_FAULTS[500]!
  const built = spec(ctx)
  return message === undefined ? built : { ...built, message }
}

type SpecBuilder = (ctx: { model: string, apiKey: string }) => ErrorSpec

const STATUS_FAULTS: Record<number, SpecBuilder> = {
  400: () => ({ status: 400, type: 'invalid_request_error', code: 'invalid_value', message: 'Mock fault: the request was rejected as invalid.' }),
  // Real providers quote the key they received; a gateway must never pass this message on.
  401: ({ apiKey }) => ({
    status: 401,
    type: 'invalid_request_error',
    code: 'invalid_api_key',
    message: `Incorrect API key provided: ${apiKey}. You can find your API key at https://platform.openai.com/account/api-keys.`
  }),
  403: () => ({ status: 403, type: 'permission_error', code: 'unsupported_country_region_territory', message: 'Mock fault: this request is not permitted.' }),
  404: ({ model }) => ({ status: 404, type: 'invalid_request_error', code: 'model_not_found', param: 'model', message: `The model \`${model}\` does not exist or you do not have access to it.` }),
  409: () => ({ status: 409, type: 'invalid_request_error', code: 'conflict', message: 'Mock fault: the request conflicts with another one in progress.' }),
  422: () => ({ status: 422, type: 'invalid_request_error', code: 'unprocessable_entity', message: 'Mock fault: the request could not be processed.' }),
  429: () => ({ status: 429, type: 'rate_limit_error', code: 'rate_limit_exceeded', message: 'Rate limit reached for requests (mock fault). Please try again later.' }),
  500: () => ({ status: 500, type: 'server_error', code: null, message: 'The server had an error while processing your request (mock fault).' }),
  502: () => ({ status: 502, type: 'server_error', code: 'bad_gateway', message: 'Bad gateway (mock fault).' }),
  503: () => ({ status: 503, type: 'server_error', code: 'service_unavailable', message: 'The engine is currently overloaded (mock fault). Please try again later.' }),
  // Anthropic's "overloaded" status; OpenAI-shaped clients see it as a server error
  529: () => ({ status: 529, type: 'server_error', code: 'overloaded', message: 'Overloaded (mock fault).' })
}

/** `"429"` → 429; non-status faults → undefined. */
export function faultStatus (fault: Fault): number | undefined {
  const n = Number(fault)
  return Number.isInteger(n) ? n : undefined
}

/**
 * Whether the `seq`-th faulty request (counting from 0 since the last config change or reset)
 * gets its fault, for a `rate` in 0..1. The faults are spread evenly and start with the first
 * request: 0.5 faults requests 0, 2, 4, …; 0.25 faults 0, 4, 8, …; 1 faults all; 0 none. No
 * randomness, so tests see the same pattern every run (e.g. "first try fails, retry succeeds").
 */
export function faultApplies (seq: number, rate: number): boolean {
  if (rate >= 1) return true
  if (rate <= 0) return false
  const eps = 1e-9
  return Math.ceil((seq + 1) * rate - eps) > Math.ceil(seq * rate - eps)
}
