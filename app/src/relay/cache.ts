// The response cache: exact-match answers in Redis, scoped to a tenant (key id or cache group), the
// surface, the upstream model and the canonical request body; deterministic requests only; identical
// requests in flight on any replica coalesced behind one leader (SET NX lock, bounded wait).
import { randomUUID } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { Redis } from 'ioredis'
import type { Config } from '../config.js'
import { GatewayError } from '../errors.js'
import { canonicalHash } from '../lib/canonical-json.js'
import { Notices, type ReplicaEvents } from './events.js'
import type { RelayJob } from './job.js'
import { decodeAnswer, encodeAnswer, type StoredAnswer } from './stored-answer.js'

const ENTRY = 'llm-gw:cache:'
const LOCK = 'llm-gw:cache-lock:'
const INDEX = 'llm-gw:cache-index'
const SIZES = 'llm-gw:cache-sizes'
const TOTAL = 'llm-gw:cache-bytes'
const CHANNEL = 'llm-gw:cache-done'
/** Headers that change what an upstream answers, so they are part of the key. */
const MEANINGFUL_HEADERS = ['openai-beta', 'anthropic-version', 'anthropic-beta'] as const

/**
 * Stores one entry and keeps the cache's total under its cap: expired entries leave the index, then the
 * entries closest to expiry are evicted until the new one fits. Times come from Redis, so replicas'
 * clocks need not agree. Returns the number of entries evicted, or -1 when the entry cannot fit.
 */
const STORE_SCRIPT = `
local size = string.len(ARGV[1])
local ttl = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local total = tonumber(redis.call('GET', KEYS[4]) or '0')
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
for _, k in ipairs(gone) do
  total = total - tonumber(redis.call('HGET', KEYS[3], k) or '0')
  redis.call('HDEL', KEYS[3], k)
  redis.call('ZREM', KEYS[2], k)
end
local old = redis.call('HGET', KEYS[3], KEYS[1])
if old then
  total = total - tonumber(old)
  redis.call('HDEL', KEYS[3], KEYS[1])
  redis.call('ZREM', KEYS[2], KEYS[1])
end
local evicted = 0
while total + size > max do
  local first = redis.call('ZRANGE', KEYS[2], 0, 0)
  if #first == 0 then break end
  local k = first[1]
  total = total - tonumber(redis.call('HGET', KEYS[3], k) or '0')
  redis.call('DEL', k)
  redis.call('HDEL', KEYS[3], k)
  redis.call('ZREM', KEYS[2], k)
  evicted = evicted + 1
end
if total < 0 then total = 0 end
if total + size > max then
  redis.call('SET', KEYS[4], total)
  return -1
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('ZADD', KEYS[2], now + ttl, KEYS[1])
redis.call('HSET', KEYS[3], KEYS[1], size)
redis.call('SET', KEYS[4], total + size)
return evicted
`

/** Deletes a lock only if it is still the caller's (it may have expired and been taken since). */
const UNLOCK_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`

export type CacheMode = 'on' | 'off' | 'refresh'

/** What the cache does for one request. */
export type CachePlan =
  | { use: true, key: string, ttlS: number, refresh: boolean }
  | { use: false, why: 'off' | 'route' | 'nondeterministic' | 'unavailable' }

/** The request's `x-gateway-cache` header; a value other than on, off or refresh is the client's mistake. */
export function cacheMode (request: FastifyRequest): CacheMode | undefined {
  const raw = request.headers['x-gateway-cache']
  if (raw === undefined) return undefined
  const v = (Array.isArray(raw) ? raw[0] ?? '' : raw).trim().toLowerCase()
  if (v === 'on' || v === 'off' || v === 'refresh') return v
  throw new GatewayError('invalid_request', { message: 'The x-gateway-cache header must be on, off or refresh.' })
}

/** Sampling is fixed: temperature 0, or a surface without sampling (embeddings). */
function deterministic (job: RelayJob): boolean {
  if (job.surface.name === 'embeddings') return true
  return job.body?.temperature === 0
}

/**
 * Whether and how the cache serves this request; undefined when neither the key nor the request asked
 * for it (the common case: no header is added and Redis is not touched).
 */
export function cachePlan (request: FastifyRequest, job: RelayJob, defaultTtlS: number, available: boolean): CachePlan | undefined {
  const mode = cacheMode(request)
  const key = request.ctx.key
  if (mode === undefined && key?.cache !== true) return undefined
  if (mode === 'off') return { use: false, why: 'off' }
  // Text answers of a JSON request; never stored objects' routes, uploads or background runs.
  if (key === undefined || job.method !== 'POST' || job.body === undefined || !job.surface.estimates || job.body.background === true) return { use: false, why: 'route' }
  // The key alone caches deterministic requests; a client that sends on or refresh opts in for any.
  if (mode === undefined && !deterministic(job)) return { use: false, why: 'nondeterministic' }
  if (!available) return { use: false, why: 'unavailable' }
  // The model is in the key as the gateway resolved it (aliases share entries), not as spelt.
  const rest: Record<string, unknown> = { ...job.body }
  delete rest.model
  const target = job.targets[0]
  const headers = MEANINGFUL_HEADERS.map((h) => request.headers[h] ?? null)
  const tenant = key.cacheGroup !== undefined ? `group:${key.cacheGroup}` : `key:${key.id}`
  const hash = canonicalHash('v1', tenant, job.surface.name, job.path, job.entry?.id ?? job.body.model ?? null, target === undefined ? null : `${target.upstream}/${target.model}`, headers, rest)
  return { use: true, key: hash, ttlS: key.cacheTtlS ?? defaultTtlS, refresh: mode === 'refresh' }
}

export class ResponseCache {
  private readonly notices: Notices

  constructor (private readonly redis: Redis | undefined, events: ReplicaEvents | undefined, private readonly opts: Config['cache']) {
    this.notices = new Notices(events, CHANNEL)
  }

  /** Redis is connected: otherwise the cache is skipped at once (fail open) instead of waiting on it. */
  get available (): boolean {
    return this.redis?.status === 'ready'
  }

  get maxEntryBytes (): number { return this.opts.maxEntryBytes }

  /** See cachePlan: undefined when the cache was not asked for. */
  plan (request: FastifyRequest, job: RelayJob): CachePlan | undefined {
    return cachePlan(request, job, this.opts.ttlS, this.available)
  }

  async get (hash: string): Promise<StoredAnswer | undefined> {
    const buf = await (this.redis as Redis).getBuffer(ENTRY + hash)
    return buf === null ? undefined : decodeAnswer(buf)
  }

  /** The leader's lock for this entry, or undefined when another request (on any replica) holds it. */
  async lock (hash: string): Promise<string | undefined> {
    const token = randomUUID()
    const ok = await (this.redis as Redis).set(LOCK + hash, token, 'PX', this.opts.lockWaitMs, 'NX')
    return ok === null ? undefined : token
  }

  /** Releases the leader's lock and wakes the followers on every replica (stored or not). */
  async unlock (hash: string, token: string): Promise<void> {
    const redis = this.redis as Redis
    await redis.eval(UNLOCK_SCRIPT, 1, LOCK + hash, token)
    await redis.publish(CHANNEL, hash)
  }

  /** Stores a complete answer; false when it is over the entry cap or cannot fit under the total cap. */
  async put (hash: string, answer: StoredAnswer, ttlS: number): Promise<boolean> {
    const value = encodeAnswer(answer)
    if (value.length > this.opts.maxEntryBytes) return false
    const evicted = await (this.redis as Redis).eval(STORE_SCRIPT, 4, ENTRY + hash, INDEX, SIZES, TOTAL, value, ttlS * 1000, this.opts.maxTotalBytes) as number
    return evicted >= 0
  }

  /**
   * A follower's wait for the leader: the stored answer once it is there; undefined when the leader
   * ended without one (failed, cut, too large) or the wait ran out: the follower then goes upstream itself.
   */
  async follow (hash: string): Promise<StoredAnswer | undefined> {
    const redis = this.redis as Redis
    const deadline = Date.now() + this.opts.lockWaitMs
    const wait = this.notices.listen(hash)
    try {
      for (let round = 0; ; round++) {
        // Armed before looking, so a notice sent between the look and the wait is not lost.
        wait.arm()
        const [entry, locked] = await Promise.all([redis.getBuffer(ENTRY + hash), redis.exists(LOCK + hash)])
        if (entry !== null) return decodeAnswer(entry)
        if (locked === 0 || Date.now() >= deadline) return undefined
        await wait.pause(round, deadline)
      }
    } finally {
      wait.close()
    }
  }
}
