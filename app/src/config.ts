// The one place that reads the environment: the declared variables (config-vars.ts) read and
// checked, the checks that span several of them, and the files they name (keys, models, token).
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { envValue, readVars, type Env } from './config-vars.js'
import { parseKeyList, type GatewayKey } from './lib/keys.js'
import { parseModelCatalog, type MessagesAuth, type ModelCatalog } from './lib/models.js'

export const DEFAULT_MODELS_FILE = fileURLToPath(new URL('../models.json', import.meta.url))

export interface UpstreamConfig {
  name: string
  /** origin only, e.g. https://relay.example */
  origin: string
  /** path prefix without trailing slash, e.g. /v1 */
  basePath: string
  apiKey: string
  /** serves the Anthropic Messages API (`/v1/messages`) */
  messages: boolean
  /** how it takes its key there: `x-api-key` (Anthropic's way) or `Authorization: Bearer` */
  messagesAuth: MessagesAuth
}

export interface Config {
  host: string
  port: number
  metricsHost: string
  metricsPort: number
  upstreams: UpstreamConfig[]
  timeouts: { connectMs: number, headersMs: number, idleMs: number, totalMs: number }
  upstreamMaxConnections: number
  /** failures in a row that open an upstream's circuit (0 = off), and how long it stays open */
  breaker: { failures: number, cooldownMs: number }
  keys: GatewayKey[]
  catalog: ModelCatalog
  modelsPassthrough: boolean
  corsOrigins: string[]
  redisUrl: string | undefined
  rateLimitRpm: number
  /** default tokens per minute per key; 0 = unlimited */
  rateLimitTpm: number
  /** default USD per UTC day per key; 0 = unlimited */
  budgetUsdPerDay: number
  bodyLimitBytes: number
  shutdownGraceMs: number
  /** after SIGTERM, keep serving (with Connection: close) this long before closing the listener */
  shutdownDrainMs: number
  logLevel: string
  trustProxy: string
  streamPingIntervalMs: number
  readyCacheMs: number
  /** after a burst, once idle, run one memory-reducing garbage collection */
  idleReclaim: boolean
  /** how long a Responses id stays tied to the upstream that created it (several upstreams only) */
  responsesAffinityTtlS: number
  /** response cache in Redis (off unless a key or request turns it on): TTL, size caps, single-flight wait, hits charged */
  cache: { ttlS: number, maxEntryBytes: number, maxTotalBytes: number, lockWaitMs: number, chargeHits: boolean }
  /** Idempotency-Key: how long a result is kept, what a duplicate sent while the first runs gets, how long it waits */
  idempotency: { ttlS: number, inFlight: 'wait' | 'conflict', waitMs: number, maxBytes: number }
  /** the longest shared cooldown an upstream's 429 wait hint may set */
  cooldownMaxMs: number
  /** Redis unreachable: let requests through uncounted (open) or answer 503 limits_unavailable (closed) */
  limitsOnRedisDown: 'open' | 'closed'
  /** tokens reserved for the answer of a request that sets no max_tokens / max_output_tokens */
  limitsReserveOutputTokens: number
  /** days the per-key daily usage buckets are kept */
  usageRetentionDays: number
  /** file holding the admin API's bearer token; undefined: the admin API is off */
  adminTokenFile: string | undefined
}

export class ConfigError extends Error {
  constructor (readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`)
    this.name = 'ConfigError'
  }
}

function splitUrl (name: string, raw: string): { origin: string, basePath: string } {
  const url = new URL(raw)
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${name} must be an http(s) URL`)
  if (url.username !== '' || url.password !== '') throw new Error(`${name} must not carry credentials; use the API key variable`)
  return { origin: url.origin, basePath: url.pathname.replace(/\/+$/, '') }
}

/**
 * The gateway keys from GATEWAY_KEYS and GATEWAY_KEYS_FILE, checked against the model catalog.
 * Problems are appended to `problems`; the keys are only usable when none were added.
 */
function loadKeys (inline: string | undefined, keysFile: string | undefined, catalog: ModelCatalog | undefined, problems: string[]): GatewayKey[] {
  const before = problems.length
  const keys: GatewayKey[] = []
  try {
    if (inline !== undefined) keys.push(...parseKeyList(inline, 'comma'))
  } catch (err) {
    problems.push(`GATEWAY_KEYS: ${(err as Error).message}`)
  }
  if (keysFile !== undefined) {
    try {
      const fromFile = parseKeyList(readFileSync(keysFile, 'utf8'), 'line')
      for (const k of fromFile) {
        if (keys.some((o) => o.id === k.id)) throw new Error(`key id "${k.id}" is also in GATEWAY_KEYS`)
        keys.push(k)
      }
    } catch (err) {
      problems.push(`GATEWAY_KEYS_FILE (${keysFile}): ${(err as Error).message}`)
    }
  }
  if (keys.length === 0 && problems.length === before) {
    problems.push('GATEWAY_KEYS or GATEWAY_KEYS_FILE must define at least one gateway key (run: make key)')
  }
  if (catalog !== undefined) {
    for (const k of keys) {
      for (const m of k.models ?? []) {
        if (catalog.lookup(m) === undefined) problems.push(`key "${k.id}" allows model "${m}", which the models file does not define`)
      }
      if (k.models !== undefined) k.models = new Set([...k.models].map((m) => catalog.lookup(m)?.id ?? m))
    }
  }
  return keys
}

/** The admin token in ADMIN_TOKEN_FILE (its first line); throws when it is missing or too short to be a secret. */
export function readAdminToken (file: string): string {
  const token = (readFileSync(file, 'utf8').split('\n')[0] ?? '').trim()
  if (token.length < 16) throw new Error('the admin token must be at least 16 characters on the first line (e.g. openssl rand -hex 24)')
  return token
}

/** Reads and validates the configuration; throws ConfigError naming every bad variable. */
export function loadConfig (env: Env = process.env): Config {
  const problems: string[] = []
  const v = readVars(env, problems)

  if (v.PORT === v.METRICS_PORT && v.PORT !== 0) problems.push('METRICS_PORT must differ from PORT (metrics stay on an internal port)')

  let catalog: ModelCatalog | undefined
  const modelsFile = v.MODELS_FILE ?? DEFAULT_MODELS_FILE
  try {
    catalog = parseModelCatalog(JSON.parse(readFileSync(modelsFile, 'utf8')))
  } catch (err) {
    problems.push(`MODELS_FILE (${modelsFile}): ${(err as Error).message}`)
  }

  const upstreams: UpstreamConfig[] = []
  try {
    const { origin, basePath } = splitUrl('UPSTREAM_BASE_URL', v.UPSTREAM_BASE_URL)
    upstreams.push({ name: 'default', origin, basePath, apiKey: v.UPSTREAM_API_KEY, messages: v.UPSTREAM_MESSAGES, messagesAuth: v.UPSTREAM_MESSAGES_AUTH })
  } catch (err) {
    problems.push(`UPSTREAM_BASE_URL: ${(err as Error).message}`)
  }
  // The models file's extra upstreams name the variable that holds each one's key.
  for (const extra of catalog?.upstreams ?? []) {
    try {
      const { origin, basePath } = splitUrl(`upstreams.${extra.name}.base_url`, extra.baseUrl)
      const apiKey = envValue(env, extra.apiKeyEnv)
      if (apiKey === undefined) problems.push(`${extra.apiKeyEnv} must hold the API key of upstream "${extra.name}"`)
      upstreams.push({ name: extra.name, origin, basePath, apiKey: apiKey ?? '', messages: extra.messages, messagesAuth: extra.messagesAuth })
    } catch (err) {
      problems.push(`MODELS_FILE: ${(err as Error).message}`)
    }
  }

  const keys = loadKeys(v.GATEWAY_KEYS, v.GATEWAY_KEYS_FILE, catalog, problems)

  const corsOrigins = v.CORS_ORIGINS.split(',').map((o) => o.trim()).filter((o) => o !== '')
  for (const o of corsOrigins) {
    if (o === '*') continue
    try {
      if (new URL(o).origin !== o) problems.push(`CORS_ORIGINS entry "${o}" must be an origin like https://app.example.com (no path or trailing slash)`)
    } catch {
      problems.push(`CORS_ORIGINS entry "${o}" is not an origin`)
    }
  }

  if (v.ADMIN_TOKEN_FILE !== undefined) {
    try {
      readAdminToken(v.ADMIN_TOKEN_FILE)
    } catch (err) {
      problems.push(`ADMIN_TOKEN_FILE (${v.ADMIN_TOKEN_FILE}): ${(err as Error).message}`)
    }
  }

  let redisUrl = v.REDIS_URL
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) problems.push('REDIS_URL must start with redis:// or rediss://')
  if (v.REDIS_PASSWORD_FILE !== undefined) {
    try {
      if (redisUrl === undefined) throw new Error('is set, but REDIS_URL is not')
      const password = readFileSync(v.REDIS_PASSWORD_FILE, 'utf8').trim()
      if (password === '') throw new Error('the file is empty')
      const url = new URL(redisUrl)
      url.password = encodeURIComponent(password)
      redisUrl = url.toString()
    } catch (err) {
      problems.push(`REDIS_PASSWORD_FILE (${v.REDIS_PASSWORD_FILE}): ${(err as Error).message}`)
    }
  }

  if (problems.length > 0) throw new ConfigError(problems)
  return {
    host: v.HOST,
    port: v.PORT,
    metricsHost: v.METRICS_HOST,
    metricsPort: v.METRICS_PORT,
    upstreams,
    timeouts: {
      connectMs: v.UPSTREAM_CONNECT_TIMEOUT_MS,
      headersMs: v.UPSTREAM_HEADERS_TIMEOUT_MS,
      idleMs: v.UPSTREAM_IDLE_TIMEOUT_MS,
      totalMs: v.UPSTREAM_TOTAL_TIMEOUT_MS
    },
    upstreamMaxConnections: v.UPSTREAM_MAX_CONNECTIONS,
    breaker: { failures: v.UPSTREAM_BREAKER_FAILURES, cooldownMs: v.UPSTREAM_BREAKER_COOLDOWN_MS },
    keys,
    catalog: catalog ?? parseModelCatalog({ models: [{ id: 'unused' }] }),
    modelsPassthrough: v.MODELS_PASSTHROUGH,
    corsOrigins,
    redisUrl,
    rateLimitRpm: v.RATE_LIMIT_RPM,
    rateLimitTpm: v.RATE_LIMIT_TPM,
    budgetUsdPerDay: v.BUDGET_USD_PER_DAY,
    bodyLimitBytes: v.BODY_LIMIT_BYTES,
    shutdownGraceMs: v.SHUTDOWN_GRACE_MS,
    shutdownDrainMs: v.SHUTDOWN_DRAIN_MS,
    logLevel: v.LOG_LEVEL,
    trustProxy: v.TRUST_PROXY,
    streamPingIntervalMs: v.STREAM_PING_INTERVAL_MS,
    readyCacheMs: v.READY_CACHE_MS,
    idleReclaim: v.IDLE_MEMORY_RECLAIM,
    responsesAffinityTtlS: v.RESPONSES_AFFINITY_TTL_S,
    cache: {
      ttlS: v.CACHE_TTL_S,
      maxEntryBytes: v.CACHE_MAX_ENTRY_BYTES,
      maxTotalBytes: v.CACHE_MAX_TOTAL_BYTES,
      lockWaitMs: v.CACHE_LOCK_WAIT_MS,
      chargeHits: v.CACHE_HITS_CHARGED
    },
    idempotency: {
      ttlS: v.IDEMPOTENCY_TTL_S,
      inFlight: v.IDEMPOTENCY_IN_FLIGHT === '409' ? 'conflict' : 'wait',
      waitMs: v.IDEMPOTENCY_WAIT_MS,
      maxBytes: v.IDEMPOTENCY_MAX_BYTES
    },
    cooldownMaxMs: v.UPSTREAM_COOLDOWN_MAX_MS,
    limitsOnRedisDown: v.LIMITS_ON_REDIS_DOWN,
    limitsReserveOutputTokens: v.LIMITS_RESERVE_OUTPUT_TOKENS,
    usageRetentionDays: v.USAGE_RETENTION_DAYS,
    adminTokenFile: v.ADMIN_TOKEN_FILE
  }
}
