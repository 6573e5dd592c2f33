// The one place that reads the environment: every setting typed, validated, with its default.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseKeyList, type GatewayKey } from './lib/keys.js'
import { parseModelCatalog, type MessagesAuth, type ModelCatalog } from './lib/models.js'

export const DEFAULT_MODELS_FILE = fileURLToPath(new URL('../models.json', import.meta.url))
export const DEFAULT_UPSTREAM_BASE_URL = 'https://api.holysheep.ai/v1'

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

type Env = Record<string, string | undefined>

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

export function splitUrl (name: string, raw: string): { origin: string, basePath: string } {
  const url = new URL(raw)
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${name} must be an http(s) URL`)
  if (url.username !== '' || url.password !== '') throw new Error(`${name} must not carry credentials; use the API key variable`)
  return { origin: url.origin, basePath: url.pathname.replace(/\/+$/, '') }
}

/**
 * The gateway keys from GATEWAY_KEYS and GATEWAY_KEYS_FILE, checked against the model catalog.
 * Problems are appended to `problems`; the keys are only usable when none were added.
 */
export function loadKeys (env: Env, catalog: ModelCatalog | undefined, problems: string[]): GatewayKey[] {
  const get = (name: string): string | undefined => {
    const v = env[name]
    return v === undefined || v.trim() === '' ? undefined : v.trim()
  }
  const before = problems.length
  const keys: GatewayKey[] = []
  try {
    const inline = get('GATEWAY_KEYS')
    if (inline !== undefined) keys.push(...parseKeyList(inline, 'comma'))
  } catch (err) {
    problems.push(`GATEWAY_KEYS: ${(err as Error).message}`)
  }
  const keysFile = get('GATEWAY_KEYS_FILE')
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
  const get = (name: string): string | undefined => {
    const v = env[name]
    return v === undefined || v.trim() === '' ? undefined : v.trim()
  }
  const int = (name: string, def: number, min: number, max: number): number => {
    const raw = get(name)
    if (raw === undefined) return def
    const n = Number(raw)
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be an integer from ${min} to ${max} (got "${raw.slice(0, 40)}")`)
      return def
    }
    return n
  }
  const num = (name: string, def: number): number => {
    const raw = get(name)
    if (raw === undefined) return def
    const n = Number(raw)
    if (!Number.isFinite(n) || n < 0) {
      problems.push(`${name} must be a number ≥ 0 (got "${raw.slice(0, 40)}")`)
      return def
    }
    return n
  }
  const bool = (name: string, def: boolean): boolean => {
    const raw = get(name)
    if (raw === undefined) return def
    if (/^(1|true|yes|on)$/i.test(raw)) return true
    if (/^(0|false|no|off)$/i.test(raw)) return false
    problems.push(`${name} must be true or false (got "${raw.slice(0, 40)}")`)
    return def
  }

  const port = int('PORT', 8080, 0, 65535)
  const metricsPort = int('METRICS_PORT', 9091, 0, 65535)
  if (port === metricsPort && port !== 0) problems.push('METRICS_PORT must differ from PORT (metrics stay on an internal port)')

  const logLevel = get('LOG_LEVEL') ?? 'info'
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`)

  let catalog: ModelCatalog | undefined
  const modelsFile = get('MODELS_FILE') ?? DEFAULT_MODELS_FILE
  try {
    catalog = parseModelCatalog(JSON.parse(readFileSync(modelsFile, 'utf8')))
  } catch (err) {
    problems.push(`MODELS_FILE (${modelsFile}): ${(err as Error).message}`)
  }

  const upstreams: UpstreamConfig[] = []
  try {
    const { origin, basePath } = splitUrl('UPSTREAM_BASE_URL', get('UPSTREAM_BASE_URL') ?? DEFAULT_UPSTREAM_BASE_URL)
    const messagesAuth = get('UPSTREAM_MESSAGES_AUTH') ?? 'x-api-key'
    if (messagesAuth !== 'x-api-key' && messagesAuth !== 'bearer') problems.push('UPSTREAM_MESSAGES_AUTH must be x-api-key or bearer')
    upstreams.push({ name: 'default', origin, basePath, apiKey: get('UPSTREAM_API_KEY') ?? '', messages: bool('UPSTREAM_MESSAGES', true), messagesAuth: messagesAuth === 'bearer' ? 'bearer' : 'x-api-key' })
  } catch (err) {
    problems.push(`UPSTREAM_BASE_URL: ${(err as Error).message}`)
  }
  for (const extra of catalog?.upstreams ?? []) {
    try {
      const { origin, basePath } = splitUrl(`upstreams.${extra.name}.base_url`, extra.baseUrl)
      const apiKey = get(extra.apiKeyEnv)
      if (apiKey === undefined) problems.push(`${extra.apiKeyEnv} must hold the API key of upstream "${extra.name}"`)
      upstreams.push({ name: extra.name, origin, basePath, apiKey: apiKey ?? '', messages: extra.messages, messagesAuth: extra.messagesAuth })
    } catch (err) {
      problems.push(`MODELS_FILE: ${(err as Error).message}`)
    }
  }

  const keys = loadKeys(env, catalog, problems)

  const corsOrigins = (get('CORS_ORIGINS') ?? '').split(',').map((o) => o.trim()).filter((o) => o !== '')
  for (const o of corsOrigins) {
    if (o === '*') continue
    try {
      if (new URL(o).origin !== o) problems.push(`CORS_ORIGINS entry "${o}" must be an origin like https://app.example.com (no path or trailing slash)`)
    } catch {
      problems.push(`CORS_ORIGINS entry "${o}" is not an origin`)
    }
  }

  const limitsOnRedisDown = get('LIMITS_ON_REDIS_DOWN') ?? 'open'
  if (limitsOnRedisDown !== 'open' && limitsOnRedisDown !== 'closed') problems.push('LIMITS_ON_REDIS_DOWN must be open or closed')
  const adminTokenFile = get('ADMIN_TOKEN_FILE')
  if (adminTokenFile !== undefined) {
    try {
      readAdminToken(adminTokenFile)
    } catch (err) {
      problems.push(`ADMIN_TOKEN_FILE (${adminTokenFile}): ${(err as Error).message}`)
    }
  }

  const idempotencyInFlight = get('IDEMPOTENCY_IN_FLIGHT') ?? 'wait'
  if (idempotencyInFlight !== 'wait' && idempotencyInFlight !== '409') problems.push('IDEMPOTENCY_IN_FLIGHT must be wait or 409')

  const redisUrl = get('REDIS_URL')
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) problems.push('REDIS_URL must start with redis:// or rediss://')

  const config: Config = {
    host: get('HOST') ?? '0.0.0.0',
    port,
    metricsHost: get('METRICS_HOST') ?? '0.0.0.0',
    metricsPort,
    upstreams,
    timeouts: {
      connectMs: int('UPSTREAM_CONNECT_TIMEOUT_MS', 5000, 1, 600_000),
      headersMs: int('UPSTREAM_HEADERS_TIMEOUT_MS', 300_000, 1, 3_600_000),
      idleMs: int('UPSTREAM_IDLE_TIMEOUT_MS', 60_000, 1, 3_600_000),
      totalMs: int('UPSTREAM_TOTAL_TIMEOUT_MS', 0, 0, 86_400_000)
    },
    upstreamMaxConnections: int('UPSTREAM_MAX_CONNECTIONS', 256, 1, 65_536),
    breaker: { failures: int('UPSTREAM_BREAKER_FAILURES', 5, 0, 1_000_000), cooldownMs: int('UPSTREAM_BREAKER_COOLDOWN_MS', 10_000, 1, 3_600_000) },
    keys,
    catalog: catalog ?? parseModelCatalog({ models: [{ id: 'unused' }] }),
    modelsPassthrough: bool('MODELS_PASSTHROUGH', false),
    corsOrigins,
    redisUrl,
    rateLimitRpm: int('RATE_LIMIT_RPM', 600, 1, 1_000_000_000),
    rateLimitTpm: int('RATE_LIMIT_TPM', 0, 0, 1_000_000_000_000),
    budgetUsdPerDay: num('BUDGET_USD_PER_DAY', 0),
    bodyLimitBytes: int('BODY_LIMIT_BYTES', 10 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    shutdownGraceMs: int('SHUTDOWN_GRACE_MS', 25_000, 0, 3_600_000),
    shutdownDrainMs: int('SHUTDOWN_DRAIN_MS', 0, 0, 600_000),
    logLevel,
    trustProxy: get('TRUST_PROXY') ?? 'loopback,uniquelocal',
    streamPingIntervalMs: int('STREAM_PING_INTERVAL_MS', 15_000, 0, 3_600_000),
    readyCacheMs: int('READY_CACHE_MS', 5000, 0, 600_000),
    idleReclaim: bool('IDLE_MEMORY_RECLAIM', true),
    responsesAffinityTtlS: int('RESPONSES_AFFINITY_TTL_S', 30 * 86_400, 60, 365 * 86_400),
    cache: {
      ttlS: int('CACHE_TTL_S', 3600, 1, 30 * 86_400),
      maxEntryBytes: int('CACHE_MAX_ENTRY_BYTES', 1024 * 1024, 1024, 512 * 1024 * 1024),
      maxTotalBytes: int('CACHE_MAX_TOTAL_BYTES', 64 * 1024 * 1024, 1024, 64 * 1024 * 1024 * 1024),
      lockWaitMs: int('CACHE_LOCK_WAIT_MS', 60_000, 100, 3_600_000),
      chargeHits: bool('CACHE_HITS_CHARGED', false)
    },
    idempotency: {
      ttlS: int('IDEMPOTENCY_TTL_S', 86_400, 1, 30 * 86_400),
      inFlight: idempotencyInFlight === '409' ? 'conflict' : 'wait',
      waitMs: int('IDEMPOTENCY_WAIT_MS', 60_000, 100, 3_600_000),
      maxBytes: int('IDEMPOTENCY_MAX_BYTES', 4 * 1024 * 1024, 1024, 512 * 1024 * 1024)
    },
    cooldownMaxMs: int('UPSTREAM_COOLDOWN_MAX_MS', 300_000, 1000, 86_400_000),
    limitsOnRedisDown: limitsOnRedisDown === 'closed' ? 'closed' : 'open',
    limitsReserveOutputTokens: int('LIMITS_RESERVE_OUTPUT_TOKENS', 1024, 0, 10_000_000),
    usageRetentionDays: int('USAGE_RETENTION_DAYS', 90, 1, 3660),
    adminTokenFile
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return config
}
