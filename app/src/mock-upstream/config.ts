// The mock's knobs: their types, defaults, and the one validator every source goes through.

export const FAULTS = [
  'none', '400', '401', '403', '404', '409', '422', '429', '500', '502', '503', '529',
  'hang', 'reset', 'invalid_json', 'cut', 'stall'
] as const
export type Fault = typeof FAULTS[number]

/** Per-request behaviour; names are snake_case, as on the wire (`/_mock/config`, body `mock`). */
export interface MockKnobs {
  /** delay before the response headers */
  latency_ms: number
  /** number of content chunks (= words = completion_tokens) */
  chunks: number
  /** delay between two content chunks of a stream */
  chunk_delay_ms: number
  /** delay between the stream's headers and its first chunk */
  first_chunk_delay_ms: number
  fault: Fault
  /** share of requests the fault applies to (0..1); see `faultApplies` in faults.ts */
  fault_rate: number
  /** seconds, sent with a 429 fault as `retry-after` (and `retry-after-ms`) */
  retry_after: number
  /** content chunks (or body halves) sent before a `cut` or `stall` */
  cut_after: number
  /** replaces the message of a status fault's error body */
  fault_status_body?: string
  /** default embedding size when the request gives no `dimensions` */
  embedding_dims: number
  /** answer 400 to a chat or completion request that carries `stream_options`, as some older servers do */
  reject_stream_options: boolean
  /** replaces the prompt (input) token count computed from the request; includes cached tokens */
  prompt_tokens?: number
  /** replaces the completion (output) token count, which is `chunks` otherwise; includes reasoning tokens */
  completion_tokens?: number
  /** prompt tokens read from the provider's cache (at most the prompt tokens) */
  cached_tokens: number
  /** completion tokens spent on hidden reasoning (at most the completion tokens) */
  reasoning_tokens: number
  /** prompt tokens written to the cache; only Anthropic reports them (at most the uncached prompt tokens) */
  cache_write_tokens: number
  /** chat and completion usage also carry DeepSeek's `prompt_cache_hit_tokens` / `prompt_cache_miss_tokens` */
  deepseek_usage: boolean
  /** Responses answers end `incomplete` (max_output_tokens) instead of `completed` */
  incomplete: boolean
}

/** Knobs plus server-wide settings. */
export interface MockOptions extends MockKnobs {
  /** when set, `/v1/*` requests must carry `Authorization: Bearer <api_key>` */
  api_key?: string
  /** ids listed by `GET /v1/models` (any model is accepted in requests) */
  models: string[]
}

type CamelCase<S extends string> = S extends `${infer H}_${infer T}` ? `${H}${Capitalize<CamelCase<T>>}` : S
type CamelKeys<T> = { [K in keyof T as CamelCase<K & string>]: T[K] }

/** What callers may pass: snake_case names, or their camelCase spelling (`apiKey`, `latencyMs`). */
export type MockConfigInput = Partial<MockOptions> & Partial<CamelKeys<MockOptions>>

export const DEFAULT_MODELS = [
  'gpt-4.1', 'claude-sonnet-4.5', 'gemini-2.5-flash', 'deepseek-v3.2', 'text-embedding-3-small',
  'omni-moderation-latest', 'gpt-image-1', 'gpt-4o-mini-tts', 'whisper-1'
]

export const DEFAULT_OPTIONS: Readonly<MockOptions> = Object.freeze({
  latency_ms: 0,
  chunks: 5,
  chunk_delay_ms: 0,
  first_chunk_delay_ms: 0,
  fault: 'none',
  fault_rate: 1,
  retry_after: 1,
  cut_after: 2,
  embedding_dims: 16,
  reject_stream_options: false,
  cached_tokens: 0,
  reasoning_tokens: 0,
  cache_write_tokens: 0,
  deepseek_usage: false,
  incomplete: false,
  models: DEFAULT_MODELS
})

export class MockConfigError extends Error {
  readonly key: string
  constructor (key: string, message: string) {
    super(message)
    this.name = 'MockConfigError'
    this.key = key
  }
}

const MAX_DELAY_MS = 3_600_000
const MAX_TOKENS = 100_000_000
const INT_LIMITS: Record<string, number> = {
  latency_ms: MAX_DELAY_MS,
  chunk_delay_ms: MAX_DELAY_MS,
  first_chunk_delay_ms: MAX_DELAY_MS,
  chunks: 100_000,
  cut_after: 100_000,
  retry_after: 86_400,
  embedding_dims: 65_536,
  cached_tokens: MAX_TOKENS,
  reasoning_tokens: MAX_TOKENS,
  cache_write_tokens: MAX_TOKENS
}
/** Integer knobs that may also be absent: null (or '') clears them. */
const OPTIONAL_INTS: Record<string, number> = { prompt_tokens: MAX_TOKENS, completion_tokens: MAX_TOKENS }
const BOOLEANS = new Set(['reject_stream_options', 'deepseek_usage', 'incomplete'])

function snakeCase (key: string): string {
  return key.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase())
}

function readInt (key: string, value: unknown, max: number): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > max) {
    throw new MockConfigError(key, `${key} must be an integer from 0 to ${max}, got ${JSON.stringify(value)}`)
  }
  return n
}

/**
 * Validates a partial config from any source (options, `/_mock/config`, a body's `mock`) and
 * returns it with snake_case keys. Unknown keys are an error, so a typo never goes unnoticed.
 * `label` prefixes messages (e.g. `mock.`), so they name the field as the caller wrote it.
 */
export function parseConfig (input: unknown, label = ''): Partial<MockOptions> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new MockConfigError(label, `${label === '' ? 'config' : label} must be a JSON object`)
  }
  const out: Partial<MockOptions> = {}
  for (const [rawKey, value] of Object.entries(input)) {
    if (value === undefined) continue
    const key = snakeCase(rawKey)
    const name = label + rawKey
    const max = INT_LIMITS[key]
    if (max !== undefined) {
      (out as Record<string, number>)[key] = readInt(name, value, max)
    } else if (key === 'fault') {
      const fault = value === null ? 'none' : String(value)
      if (!(FAULTS as readonly string[]).includes(fault)) {
        throw new MockConfigError(name, `${name} must be one of ${FAULTS.join(', ')}, got ${JSON.stringify(value)}`)
      }
      out.fault = fault as Fault
    } else if (key === 'fault_rate') {
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value
      if (typeof n !== 'number' || !(n >= 0 && n <= 1)) {
        throw new MockConfigError(name, `${name} must be a number from 0 to 1, got ${JSON.stringify(value)}`)
      }
      out.fault_rate = n
    } else if (key in OPTIONAL_INTS) {
      (out as Record<string, number | undefined>)[key] = value === null || value === '' ? undefined : readInt(name, value, OPTIONAL_INTS[key]!)
    } else if (BOOLEANS.has(key)) {
      if (value !== true && value !== false && value !== 'true' && value !== 'false') {
        throw new MockConfigError(name, `${name} must be true or false, got ${JSON.stringify(value)}`)
      }
      (out as Record<string, boolean>)[key] = value === true || value === 'true'
    } else if (key === 'fault_status_body' || key === 'api_key') {
      if (value !== null && typeof value !== 'string') {
        throw new MockConfigError(name, `${name} must be a string or null`)
      }
      // null (or '') clears the setting
      out[key] = value === null || value === '' ? undefined : value
    } else if (key === 'models') {
      const list = typeof value === 'string' ? value.split(',') : value
      if (!Array.isArray(list) || !list.every((m) => typeof m === 'string')) {
        throw new MockConfigError(name, `${name} must be a list of model ids`)
      }
      out.models = (list as string[]).map((m) => m.trim()).filter((m) => m !== '')
    } else {
      throw new MockConfigError(name, `unknown mock setting ${JSON.stringify(name)}`)
    }
  }
  return out
}

/** `base` with `partial` laid over it; keys present but undefined in `partial` clear optional settings. */
export function mergeConfig (base: Readonly<MockOptions>, partial: Partial<MockOptions>): MockOptions {
  return { ...base, ...partial }
}
