// Every error the gateway itself raises, declared once: code == name, with its status and OpenAI type.

export type OpenAIErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'api_error'

interface ErrorSpec {
  status: number
  type: OpenAIErrorType
  message: string
  /** raised only by the nginx edge (nginx/templates/snippets/json-errors.conf.template), never by a gateway */
  edgeOnly?: true
}

export const ERRORS = {
  invalid_json: { status: 400, type: 'invalid_request_error', message: 'The request body is not valid JSON.' },
  invalid_request: { status: 400, type: 'invalid_request_error', message: 'The request is invalid.' },
  missing_required_parameter: { status: 400, type: 'invalid_request_error', message: 'A required parameter is missing.' },
  body_too_deep: { status: 400, type: 'invalid_request_error', message: 'The request body is nested too deeply.' },
  model_wrong_type: { status: 400, type: 'invalid_request_error', message: 'This route does not take this kind of model.' },
  model_not_found: { status: 400, type: 'invalid_request_error', message: 'The model does not exist or is not served by this gateway.' },
  request_too_large: { status: 413, type: 'invalid_request_error', message: 'The request body is larger than this gateway accepts.' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error', message: 'Send the request body as application/json.' },
  invalid_api_key: { status: 401, type: 'authentication_error', message: 'Missing or invalid API key. Send it as "Authorization: Bearer <key>" (or "x-api-key: <key>").' },
  key_expired: { status: 401, type: 'authentication_error', message: 'This API key has expired. Ask the gateway operator for a new one.' },
  key_disabled: { status: 401, type: 'authentication_error', message: 'This API key is disabled. Ask the gateway operator.' },
  admin_unauthorized: { status: 401, type: 'authentication_error', message: 'The admin API needs "Authorization: Bearer <admin token>" (the token in ADMIN_TOKEN_FILE).' },
  model_not_allowed: { status: 403, type: 'permission_error', message: 'This API key is not allowed to use this model.' },
  not_found: { status: 404, type: 'not_found_error', message: 'Unknown route.' },
  method_not_allowed: { status: 405, type: 'invalid_request_error', message: 'Method not allowed on this route.' },
  idempotency_key_in_use: { status: 409, type: 'invalid_request_error', message: 'A request with this Idempotency-Key is still being processed. Retry after it finished.' },
  idempotency_key_mismatch: { status: 422, type: 'invalid_request_error', message: 'This Idempotency-Key was already used with a different request body or route.' },
  rate_limit_exceeded: { status: 429, type: 'rate_limit_error', message: 'Rate limit reached for this API key.' },
  insufficient_quota: { status: 429, type: 'rate_limit_error', message: 'This API key used up its spending budget.' },
  upstream_error: { status: 502, type: 'api_error', message: 'The upstream service failed to answer correctly.' },
  upstream_auth_failed: { status: 502, type: 'api_error', message: 'The gateway could not authenticate with its upstream service. Contact the gateway operator.' },
  upstream_unavailable: { status: 503, type: 'api_error', message: 'The upstream service is unavailable. Try again later.' },
  limits_unavailable: { status: 503, type: 'api_error', message: 'The gateway cannot check this key\'s limits right now (its shared store is unreachable). Retry shortly.' },
  usage_unavailable: { status: 503, type: 'api_error', message: 'The usage buckets cannot be read right now (their store is unreachable).' },
  shutting_down: { status: 503, type: 'api_error', message: 'The gateway is restarting. Retry the request.' },
  upstream_timeout: { status: 504, type: 'api_error', message: 'The upstream service did not answer in time.' },
  upstream_rejected: { status: 400, type: 'invalid_request_error', message: 'The upstream service rejected the request.' },
  messages_not_supported: { status: 404, type: 'not_found_error', message: 'The upstream of this model does not serve the Anthropic Messages API.' },
  internal_error: { status: 500, type: 'api_error', message: 'The gateway hit an internal error.' },

  // The edge's own: nginx answers these before a request reaches a gateway.
  bad_request: { status: 400, type: 'invalid_request_error', message: 'The request could not be read (malformed HTTP).', edgeOnly: true },
  client_certificate_invalid: { status: 400, type: 'invalid_request_error', message: 'The client certificate is invalid.', edgeOnly: true },
  client_certificate_required: { status: 400, type: 'invalid_request_error', message: 'A client certificate is required.', edgeOnly: true },
  https_required: { status: 400, type: 'invalid_request_error', message: 'Plain HTTP was sent to the HTTPS port.', edgeOnly: true },
  forbidden: { status: 403, type: 'permission_error', message: 'Access denied.', edgeOnly: true },
  request_timeout: { status: 408, type: 'invalid_request_error', message: 'The request was not received in time.', edgeOnly: true },
  length_required: { status: 411, type: 'invalid_request_error', message: 'A Content-Length header is required.', edgeOnly: true },
  uri_too_long: { status: 414, type: 'invalid_request_error', message: 'The request URI is too long.', edgeOnly: true },
  request_header_too_large: { status: 431, type: 'invalid_request_error', message: 'The request headers are too large.', edgeOnly: true },
  not_implemented: { status: 501, type: 'invalid_request_error', message: 'The request uses a transfer encoding or method this server does not implement.', edgeOnly: true }
} as const satisfies Record<string, ErrorSpec>

export type ErrorCode = keyof typeof ERRORS

export interface OpenAIErrorBody {
  error: { message: string, type: string, param: string | null, code: string | null }
}

export interface GatewayErrorOptions {
  message?: string
  param?: string | null
  /** response headers that belong to this error (Retry-After, x-should-retry, …) */
  headers?: Record<string, string>
  /** overrides the declared status (only for upstream errors passed through) */
  status?: number
  /** an upstream 4xx passed through: its own error type and code, shown instead of ours */
  upstream?: { type: string, code: string | null }
  cause?: unknown
}

/** The error body a client's SDK parses: OpenAI's, or Anthropic's on the Messages routes. */
export type ErrorFormat = 'openai' | 'anthropic'

export class GatewayError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number
  readonly type: OpenAIErrorType
  readonly param: string | null
  readonly headers: Record<string, string>
  readonly upstream: { type: string, code: string | null } | undefined

  constructor (code: ErrorCode, opts: GatewayErrorOptions = {}) {
    const spec: ErrorSpec = ERRORS[code]
    super(opts.message ?? spec.message, opts.cause !== undefined ? { cause: opts.cause } : undefined)
    this.name = code
    this.code = code
    this.statusCode = opts.status ?? spec.status
    this.type = spec.type
    this.param = opts.param ?? null
    this.headers = opts.headers ?? {}
    this.upstream = opts.upstream
  }

  toBody (): OpenAIErrorBody {
    if (this.upstream !== undefined) return { error: { message: this.message, type: this.upstream.type, param: this.param, code: this.upstream.code } }
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } }
  }

  /** Anthropic's shape: `{"type":"error","error":{"type","message"}}`, typed the way its SDKs expect for the status. */
  toAnthropicBody (): AnthropicErrorBody {
    return { type: 'error', error: { type: this.upstream?.type ?? anthropicType(this.statusCode), message: this.message } }
  }
}

export interface AnthropicErrorBody { type: 'error', error: { type: string, message: string } }

/** Anthropic's error type for a status (its API documents one type per status). */
export function anthropicType (status: number): string {
  switch (status) {
    case 400: return 'invalid_request_error'
    case 401: return 'authentication_error'
    case 402: return 'billing_error'
    case 403: return 'permission_error'
    case 404: return 'not_found_error'
    case 413: return 'request_too_large'
    case 429: return 'rate_limit_error'
    case 503: case 529: return 'overloaded_error'
    case 504: return 'timeout_error'
    default: return status < 500 ? 'invalid_request_error' : 'api_error'
  }
}

/** The one place an error becomes bytes, per format. */
export function renderError (format: ErrorFormat, err: GatewayError): string {
  return JSON.stringify(format === 'anthropic' ? err.toAnthropicBody() : err.toBody())
}
