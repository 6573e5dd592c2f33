// Every scalar environment variable of the gateway, declared once: type, default, bounds, one-line
// doc. config.ts reads them through readVars(); tests hold .env.example, the README's configuration
// table and docker-compose.yml to this declaration.

export type Env = Record<string, string | undefined>

interface Declared { doc: string }
export interface IntVar extends Declared { type: 'int', default: number, min: number, max: number }
export interface NumberVar extends Declared { type: 'number', default: number, min: number }
export interface BoolVar extends Declared { type: 'bool', default: boolean }
export interface EnumVar<V extends string = string> extends Declared { type: 'enum', default: V, values: readonly V[] }
/** A string; without a default it is undefined when unset (an optional file, URL or secret). */
export interface StringVar extends Declared { type: 'string', default?: string }
export type VarSpec = IntVar | NumberVar | BoolVar | EnumVar | StringVar

const int = (def: number, min: number, max: number, doc: string): IntVar => ({ type: 'int', default: def, min, max, doc })
const num = (def: number, doc: string): NumberVar => ({ type: 'number', default: def, min: 0, doc })
const bool = (def: boolean, doc: string): BoolVar => ({ type: 'bool', default: def, doc })
const oneOf = <const V extends string>(values: readonly V[], def: NoInfer<V>, doc: string): EnumVar<V> => ({ type: 'enum', default: def, values, doc })
const str = (def: string, doc: string): StringVar & { default: string } => ({ type: 'string', default: def, doc })
const optional = (doc: string): StringVar => ({ type: 'string', doc })

const DAY_S = 86_400
const MIB = 1024 * 1024

/** Every variable, grouped as .env.example groups them. */
export const CONFIG_VARS = {
  // Listeners
  HOST: str('0.0.0.0', 'address the API listens on'),
  PORT: int(8080, 0, 65535, 'API port'),
  METRICS_HOST: str('0.0.0.0', 'address of the internal port (/metrics, /admin/)'),
  METRICS_PORT: int(9091, 0, 65535, 'internal port: /metrics and the admin API, never published'),
  // Upstream
  UPSTREAM_BASE_URL: str('https://api.holysheep.ai/v1', 'OpenAI-compatible base URL of the default upstream, including /v1'),
  UPSTREAM_API_KEY: str('', 'the default upstream\'s API key (empty: requests go without one)'),
  UPSTREAM_MESSAGES: bool(true, 'the default upstream serves the Anthropic Messages API (/v1/messages)'),
  UPSTREAM_MESSAGES_AUTH: oneOf(['x-api-key', 'bearer'], 'x-api-key', 'how the default upstream takes its key on /v1/messages'),
  MODELS_FILE: optional('JSON models file (models, aliases, prices, targets, extra upstreams); unset: the image\'s models.json'),
  MODELS_PASSTHROUGH: bool(false, 'forward models the models file does not list instead of answering 400'),
  RESPONSES_AFFINITY_TTL_S: int(30 * DAY_S, 60, 365 * DAY_S, 'seconds a Responses id stays tied to the upstream that created it'),
  UPSTREAM_CONNECT_TIMEOUT_MS: int(5000, 1, 600_000, 'TCP/TLS connect timeout to an upstream'),
  UPSTREAM_HEADERS_TIMEOUT_MS: int(300_000, 1, 3_600_000, 'longest wait for an upstream\'s response headers'),
  UPSTREAM_IDLE_TIMEOUT_MS: int(60_000, 1, 3_600_000, 'longest silence between an upstream\'s body chunks'),
  UPSTREAM_TOTAL_TIMEOUT_MS: int(0, 0, 86_400_000, 'cap on a whole upstream request (0: none)'),
  UPSTREAM_MAX_CONNECTIONS: int(256, 1, 65_536, 'keep-alive connections per replica to each upstream'),
  UPSTREAM_BREAKER_FAILURES: int(5, 0, 1_000_000, 'failures in a row that open an upstream\'s circuit (0: never)'),
  UPSTREAM_BREAKER_COOLDOWN_MS: int(10_000, 1, 3_600_000, 'how long an open circuit holds its upstream back on every replica'),
  UPSTREAM_COOLDOWN_MAX_MS: int(300_000, 1000, 86_400_000, 'longest shared cooldown an upstream 429\'s wait hint may set'),
  // Keys and limits
  GATEWAY_KEYS: optional('gateway keys, comma-separated "id:<sha256 hex>" entries with options'),
  GATEWAY_KEYS_FILE: optional('file of gateway keys, one entry a line, used with GATEWAY_KEYS; SIGHUP re-reads it'),
  CORS_ORIGINS: str('', 'browser origins allowed to call the API, comma-separated, or * (empty: no CORS)'),
  REDIS_URL: optional('Redis shared by the replicas (redis:// or rediss://); unset: limits per process'),
  REDIS_PASSWORD_FILE: optional('file holding the Redis password, put into REDIS_URL at start (keeps it out of the environment)'),
  RATE_LIMIT_RPM: int(600, 1, 1_000_000_000, 'default requests per minute per key'),
  RATE_LIMIT_TPM: int(0, 0, 1_000_000_000_000, 'default tokens per minute per key (0: no limit)'),
  BUDGET_USD_PER_DAY: num(0, 'default spend per key per UTC day in USD (0: no budget)'),
  LIMITS_RESERVE_OUTPUT_TOKENS: int(1024, 0, 10_000_000, 'tokens reserved for the answer of a request that sets no output limit'),
  LIMITS_ON_REDIS_DOWN: oneOf(['open', 'closed'], 'open', 'Redis unreachable: let requests through uncounted, or answer 503'),
  USAGE_RETENTION_DAYS: int(90, 1, 3660, 'days the per-key daily usage buckets are kept'),
  ADMIN_TOKEN_FILE: optional('file holding the admin API\'s token; unset: the admin API answers 404'),
  BODY_LIMIT_BYTES: int(10 * MIB, 1024, 1024 * MIB, 'largest request body, the same at nginx and the gateways'),
  // Response cache, Idempotency-Key
  CACHE_TTL_S: int(3600, 1, 30 * DAY_S, 'seconds a cached answer is kept unless its key says otherwise'),
  CACHE_MAX_ENTRY_BYTES: int(MIB, 1024, 512 * MIB, 'largest answer the cache keeps'),
  CACHE_MAX_TOTAL_BYTES: int(64 * MIB, 1024, 64 * 1024 * MIB, 'cap on all cache entries together'),
  CACHE_LOCK_WAIT_MS: int(60_000, 100, 3_600_000, 'how long identical requests wait for the first one\'s answer'),
  CACHE_HITS_CHARGED: bool(false, 'charge a cache hit to the key\'s limits, budget and usage'),
  IDEMPOTENCY_TTL_S: int(DAY_S, 1, 30 * DAY_S, 'seconds an Idempotency-Key\'s answer is kept'),
  IDEMPOTENCY_IN_FLIGHT: oneOf(['wait', '409'], 'wait', 'a duplicate sent while the first runs: wait for its answer, or 409 at once'),
  IDEMPOTENCY_WAIT_MS: int(60_000, 100, 3_600_000, 'how long such a duplicate waits'),
  IDEMPOTENCY_MAX_BYTES: int(4 * MIB, 1024, 512 * MIB, 'largest answer kept for a replay'),
  // Process
  SHUTDOWN_DRAIN_MS: int(0, 0, 600_000, 'after SIGTERM, how long a replica keeps serving before it stops listening'),
  SHUTDOWN_GRACE_MS: int(25_000, 0, 3_600_000, 'then, how long in-flight requests get before they are ended'),
  STREAM_PING_INTERVAL_MS: int(15_000, 0, 3_600_000, '": ping" frames on quiet streams (0: off)'),
  READY_CACHE_MS: int(5000, 0, 600_000, 'how long /readyz caches its upstream and Redis checks'),
  IDLE_MEMORY_RECLAIM: bool(true, 'after a burst, once idle, one garbage collection gives memory back'),
  LOG_LEVEL: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info', 'log level'),
  TRUST_PROXY: str('loopback,uniquelocal', 'proxies whose X-Forwarded-For is believed')
} as const satisfies Record<string, VarSpec>

export type VarName = keyof typeof CONFIG_VARS

type ValueOf<S> = S extends IntVar | NumberVar ? number
  : S extends BoolVar ? boolean
    : S extends EnumVar<infer V> ? V
      : S extends { default: string } ? string
        : string | undefined

/** The value of every declared variable, typed by its declaration. */
export type VarValues = { -readonly [K in VarName]: ValueOf<(typeof CONFIG_VARS)[K]> }

/** A variable's value, trimmed; undefined when unset or blank (compose passes unset ones as ""). */
export function envValue (env: Env, name: string): string | undefined {
  const v = env[name]
  return v === undefined || v.trim() === '' ? undefined : v.trim()
}

/** The default as it is written in .env.example and the README ('' when there is none). */
export function defaultText (spec: VarSpec): string {
  return spec.default === undefined ? '' : String(spec.default)
}

/** Reads one variable; a bad value adds a problem that starts with its name, and yields the default. */
function readVar (name: string, spec: VarSpec, raw: string | undefined, problems: string[]): unknown {
  if (raw === undefined) return spec.default
  const got = `(got "${raw.slice(0, 40)}")`
  switch (spec.type) {
    case 'int': {
      const n = Number(raw)
      if (Number.isInteger(n) && n >= spec.min && n <= spec.max) return n
      problems.push(`${name} must be an integer from ${spec.min} to ${spec.max} ${got}`)
      return spec.default
    }
    case 'number': {
      const n = Number(raw)
      if (Number.isFinite(n) && n >= spec.min) return n
      problems.push(`${name} must be a number ≥ ${spec.min} ${got}`)
      return spec.default
    }
    case 'bool':
      if (/^(1|true|yes|on)$/i.test(raw)) return true
      if (/^(0|false|no|off)$/i.test(raw)) return false
      problems.push(`${name} must be true or false ${got}`)
      return spec.default
    case 'enum': {
      if (spec.values.includes(raw)) return raw
      const choices = spec.values.length === 2 ? spec.values.join(' or ') : `one of ${spec.values.join(', ')}`
      problems.push(`${name} must be ${choices} ${got}`)
      return spec.default
    }
    case 'string':
      return raw
  }
}

/** Every declared variable from `env`, each checked against its declaration. */
export function readVars (env: Env, problems: string[]): VarValues {
  const values: Record<string, unknown> = {}
  for (const [name, spec] of Object.entries(CONFIG_VARS) as Array<[string, VarSpec]>) {
    values[name] = readVar(name, spec, envValue(env, name), problems)
  }
  // Each value was read by the declaration its type is computed from.
  return values as VarValues
}
