// The mock's knobs: their types, defaults, and the one validator every source goes through.

export const FAULTS = [
  'none', '400', '401', '403', '404', '409', '422', '429', '500', '502', '503',
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

export const DEFAULT_MODELS = ['gpt-4.1', 'claude-sonnet-4.5', 'gemini-2.5-flash', 'deepseek-v3.2', 'text-embedding-3-small']

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
const INT_LIMITS: Record<string, number> = {
  latency_ms: MAX_DELAY_MS,
  chunk_delay_ms: MAX_DELAY_MS,
  first_chunk_delay_ms: MAX_DELAY_MS,
  chunks: 100_000,
  cut_after: 100_000,
  retry_after: 86_400,
  embedding_dims: 65_536
}

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
    } else if (key === 'reject_stream_options') {
      if (value !== true && value !== false && value !== 'true' && value !== 'false') {
        throw new MockConfigError(name, `${name} must be true or false, got ${JSON.stringify(value)}`)
      }
      out.reject_stream_options = value === true || value === 'true'
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
