// Daily usage buckets per key and model (requests, tokens by type, cost, cache hits, 429s, errors):
// in Redis for the usage API (every replica adds to the same buckets), or in process memory.
import type { Redis } from 'ioredis'

export const USAGE_FIELDS = [
  'requests', 'prompt_tokens', 'cached_prompt_tokens', 'cache_write_tokens', 'completion_tokens',
  'reasoning_tokens', 'cost_micro_usd', 'cache_hits', 'rate_limited', 'errors'
] as const
export type UsageField = typeof USAGE_FIELDS[number]
export type UsageCounts = Record<UsageField, number>

/** One bucket: a key's counts for one model on one UTC day. */
export interface UsageEntry { day: string, key: string, model: string, counts: UsageCounts }

export interface UsageStore {
  /** counted at once; written to Redis with the next flush */
  add: (day: string, key: string, model: string, counts: Partial<UsageCounts>) => void
  /** the buckets of these days, for one key or (undefined) every key seen on each day (this replica's adds included) */
  read: (days: readonly string[], key: string | undefined) => Promise<UsageEntry[]>
  /** writes what was added and not yet written */
  flush: () => Promise<void>
  /** stops the flush timer and writes what is left */
  close: () => Promise<void>
}

export const emptyCounts = (): UsageCounts => Object.fromEntries(USAGE_FIELDS.map((f) => [f, 0])) as UsageCounts

const FIELD_SET = new Set<string>(USAGE_FIELDS)

/** The UTC day of an instant, `YYYY-MM-DD`. */
export const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10)

/** Every day from `from` to `to` (inclusive, `YYYY-MM-DD`), oldest first. */
export function daysBetween (from: string, to: string): string[] {
  const out: string[] = []
  for (let ms = Date.parse(`${from}T00:00:00Z`), end = Date.parse(`${to}T00:00:00Z`); ms <= end; ms += 86_400_000) out.push(utcDay(ms))
  return out
}

/** Hash fields are `<count>:<model>`: one hash per key and day holds every model's counts. */
function entriesOf (day: string, key: string, hash: Record<string, string>): UsageEntry[] {
  const byModel = new Map<string, UsageCounts>()
  for (const [field, value] of Object.entries(hash)) {
    const colon = field.indexOf(':')
    const name = field.slice(0, colon)
    if (colon < 0 || !FIELD_SET.has(name)) continue
    const model = field.slice(colon + 1)
    let counts = byModel.get(model)
    if (counts === undefined) { counts = emptyCounts(); byModel.set(model, counts) }
    counts[name as UsageField] += Number(value)
  }
  return [...byModel].map(([model, counts]) => ({ day, key, model, counts }))
}

/** Redis commands of one bucket's write beyond its HINCRBYs: EXPIRE of the hash, SADD and EXPIRE of the day's key set. */
export const BUCKET_WRITE_OVERHEAD = 3

/**
 * Buckets in Redis, added up in process and written in one pipeline every `flushMs` (and on
 * `flush()`): a request costs no Redis command of its own, and a second of traffic costs one
 * HINCRBY per key, model and count that moved. Another replica's reads see a replica's counts at
 * most `flushMs` late; this replica's own reads flush first, so they are exact.
 */
export class RedisUsageStore implements UsageStore {
  /** hash name → the day's key set, the key, and per model the amounts not yet written (in USAGE_FIELDS order) */
  private pending = new Map<string, { set: string, key: string, models: Map<string, number[]> }>()
  private writing: Promise<void> | undefined
  private readonly timer: NodeJS.Timeout
  /** pipelines written so far (the performance guard counts commands per write) */
  writes = 0

  constructor (
    private readonly redis: Redis,
    private readonly retentionDays: number,
    private readonly onError: (err: Error) => void,
    flushMs = 1000,
    private readonly prefix = 'llm-gw:usage:'
  ) {
    this.timer = setInterval(() => { void this.flush() }, flushMs)
    this.timer.unref()
  }

  add (day: string, key: string, model: string, counts: Partial<UsageCounts>): void {
    const hash = `${this.prefix}${day}:${key}`
    let bucket = this.pending.get(hash)
    if (bucket === undefined) {
      bucket = { set: `${this.prefix}keys:${day}`, key, models: new Map() }
      this.pending.set(hash, bucket)
    }
    let sums = bucket.models.get(model)
    if (sums === undefined) {
      sums = USAGE_FIELDS.map(() => 0)
      bucket.models.set(model, sums)
    }
    for (let i = 0; i < USAGE_FIELDS.length; i++) {
      const n = counts[USAGE_FIELDS[i] as UsageField]
      if (n !== undefined) sums[i] = (sums[i] as number) + Math.round(n)
    }
  }

  /**
   * Writes what was added since the last write, in one pipeline; resolves once it (and any write
   * still under way) is done. While Redis is not connected the counts wait for the next tick.
   */
  async flush (): Promise<void> {
    const before = this.writing
    if (this.pending.size > 0 && this.redis.status === 'ready') {
      const batch = this.pending
      this.pending = new Map()
      // Kept for the retention period after the day ends.
      const ttl = (this.retentionDays + 1) * 86_400
      const p = this.redis.pipeline()
      const sets = new Set<string>()
      for (const [hash, { set, key, models }] of batch) {
        for (const [model, sums] of models) {
          sums.forEach((n, i) => { if (n !== 0) p.hincrby(hash, `${USAGE_FIELDS[i] as UsageField}:${model}`, n) })
        }
        p.expire(hash, ttl)
        p.sadd(set, key)
        if (!sets.has(set)) { sets.add(set); p.expire(set, ttl) }
      }
      this.writes++
      const done = p.exec().then((results) => {
        const failed = results?.find(([err]) => err !== null)
        if (failed !== undefined) this.onError(failed[0] as Error)
      }, (err: Error) => { this.onError(err) })
      const writing: Promise<void> = Promise.all([before, done]).then(() => { if (this.writing === writing) this.writing = undefined })
      this.writing = writing
    }
    await this.writing
  }

  async close (): Promise<void> {
    clearInterval(this.timer)
    await this.flush()
  }

  async read (days: readonly string[], key: string | undefined): Promise<UsageEntry[]> {
    await this.flush()
    const pairs: Array<[string, string]> = []
    if (key !== undefined) {
      for (const day of days) pairs.push([day, key])
    } else {
      const members = await Promise.all(days.map(async (day) => await this.redis.smembers(`${this.prefix}keys:${day}`)))
      days.forEach((day, i) => { for (const k of members[i] ?? []) pairs.push([day, k]) })
    }
    const hashes = await Promise.all(pairs.map(async ([day, k]) => await this.redis.hgetall(`${this.prefix}${day}:${k}`)))
    return pairs.flatMap(([day, k], i) => entriesOf(day, k, hashes[i] ?? {}))
  }
}

/** One process's buckets (no REDIS_URL), dropped after the retention period like Redis's. */
export class MemoryUsageStore implements UsageStore {
  private readonly buckets = new Map<string, Record<string, string>>()

  constructor (private readonly retentionDays: number) {}

  add (day: string, key: string, model: string, counts: Partial<UsageCounts>): void {
    const id = `${day}:${key}`
    const hash = this.buckets.get(id) ?? {}
    for (const [field, n] of Object.entries(counts)) hash[`${field}:${model}`] = String(Number(hash[`${field}:${model}`] ?? 0) + Math.round(n))
    this.buckets.set(id, hash)
    const oldest = utcDay(Date.now() - this.retentionDays * 86_400_000)
    for (const k of this.buckets.keys()) if (k.slice(0, 10) < oldest) this.buckets.delete(k)
  }

  async flush (): Promise<void> {}
  async close (): Promise<void> {}

  async read (days: readonly string[], key: string | undefined): Promise<UsageEntry[]> {
    const wanted = new Set(days)
    const out: UsageEntry[] = []
    for (const [id, hash] of this.buckets) {
      const day = id.slice(0, 10)
      const k = id.slice(11)
      if (wanted.has(day) && (key === undefined || key === k)) out.push(...entriesOf(day, k, hash))
    }
    return out
  }
}

export type GroupBy = 'day' | 'model' | 'key'

export interface UsageRow {
  /** the day, model or key id the row sums over */
  group: string
  counts: UsageCounts
}

/** Sums buckets by day, model or key; rows in order of their group (days oldest first), plus the total. */
export function groupUsage (entries: readonly UsageEntry[], by: GroupBy): { rows: UsageRow[], total: UsageCounts } {
  const rows = new Map<string, UsageCounts>()
  const total = emptyCounts()
  for (const e of entries) {
    const group = e[by]
    let counts = rows.get(group)
    if (counts === undefined) { counts = emptyCounts(); rows.set(group, counts) }
    for (const f of USAGE_FIELDS) {
      counts[f] += e.counts[f]
      total[f] += e.counts[f]
    }
  }
  return { rows: [...rows].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map(([group, counts]) => ({ group, counts })), total }
}
