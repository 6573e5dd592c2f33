// Token-per-minute and daily spend counters per key, reserved before a request and settled after it:
// atomically in Redis (one Lua script, shared by replicas) or in process memory.
import type { Redis } from 'ioredis'

export interface BudgetUse {
  /** tokens used or reserved in the current minute */
  tokens: number
  /** spend used or reserved so far today (UTC), in micro-USD */
  spendMicroUsd: number
}

/** What one admitted request holds until it is settled: the windows it was counted in and the amounts. */
export interface Reservation {
  keyId: string
  minute: number
  day: number
  tokens: number
  microUsd: number
}

/** The limits a reservation is checked against; 0 = no limit of that kind. */
export interface BudgetLimits { tpm: number, microUsdPerDay: number }

export type ReserveResult =
  | { admitted: true, reservation: Reservation, use: BudgetUse }
  | { admitted: false, scope: 'tokens' | 'budget', use: BudgetUse }

export interface BudgetStore {
  /**
   * Admits a request when the key's counters (reservations of requests in flight included) are
   * below its limits, and adds its reservation to them, in one atomic step.
   */
  reserve: (keyId: string, tokens: number, microUsd: number, limits: BudgetLimits, now?: number) => Promise<ReserveResult>
  /** Replaces a reservation by what the request really used (0 and 0: a full refund), in the windows it was reserved in. */
  settle: (r: Reservation, tokens: number, microUsd: number) => Promise<void>
}

const MINUTE = 60_000
const DAY = 86_400_000

const windows = (now: number): { minute: number, day: number } => ({ minute: Math.floor(now / MINUTE), day: Math.floor(now / DAY) })

/** ms until the current minute window ends / the UTC day ends */
export const msToNextMinute = (now = Date.now()): number => MINUTE - (now % MINUTE)
export const msToNextDay = (now = Date.now()): number => DAY - (now % DAY)

// Check and add in one step, so concurrent requests on any replica see each other's reservations.
// KEYS: tokens window, spend day. ARGV: tokens, micro-USD, tpm limit, micro-USD limit, TTLs (ms).
// Returns {status, tokens, spend}: 0 admitted (counters after adding), 1 tokens full, 2 budget spent.
// Three commands a call in steady state (MGET, INCRBY, INCRBY): a counter gets its TTL once, when
// the window's first reservation creates it (SET … PX); a zero amount on a live counter is skipped.
// A counter is created even for a zero amount, so the settle after it has a window to land in.
const RESERVE = `
local v = redis.call('MGET', KEYS[1], KEYS[2])
local t = tonumber(v[1] or '0')
local s = tonumber(v[2] or '0')
local tpm = tonumber(ARGV[3])
local lim = tonumber(ARGV[4])
if tpm > 0 and t >= tpm then return {1, t, s} end
if lim > 0 and s >= lim then return {2, t, s} end
local function add (i, now, ttl)
  local n = tonumber(ARGV[i])
  if not v[i] then
    redis.call('SET', KEYS[i], n, 'PX', ttl)
    return n
  end
  if n == 0 then return now end
  return redis.call('INCRBY', KEYS[i], n)
end
t = add(1, t, ARGV[5])
s = add(2, s, ARGV[6])
return {0, t, s}`

// A window that has expired meanwhile is left alone: a late settle must not create a counter
// without a TTL (a stream that outlived its minute settles into a window nobody reads any more).
// A zero difference costs no command.
const SETTLE = `
if ARGV[1] ~= '0' and redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCRBY', KEYS[1], ARGV[1]) end
if ARGV[2] ~= '0' and redis.call('EXISTS', KEYS[2]) == 1 then redis.call('INCRBY', KEYS[2], ARGV[2]) end
return 0`

type ScriptRedis = Redis & {
  llmGwReserve: (k1: string, k2: string, ...args: Array<string | number>) => Promise<[number, number, number]>
  llmGwSettle: (k1: string, k2: string, ...args: Array<string | number>) => Promise<number>
}

export class RedisBudgetStore implements BudgetStore {
  private readonly redis: ScriptRedis

  constructor (redis: Redis, private readonly prefix = 'llm-gw:') {
    // defineCommand sends EVALSHA, falling back to EVAL once per connection when Redis lacks the script.
    if (!('llmGwReserve' in redis)) {
      redis.defineCommand('llmGwReserve', { numberOfKeys: 2, lua: RESERVE })
      redis.defineCommand('llmGwSettle', { numberOfKeys: 2, lua: SETTLE })
    }
    this.redis = redis as ScriptRedis
  }

  private keys (keyId: string, minute: number, day: number): [string, string] {
    return [`${this.prefix}tpm:${keyId}:${minute}`, `${this.prefix}spend:${keyId}:${day}`]
  }

  async reserve (keyId: string, tokens: number, microUsd: number, limits: BudgetLimits, now = Date.now()): Promise<ReserveResult> {
    const { minute, day } = windows(now)
    const t = Math.max(0, Math.round(tokens))
    const m = Math.max(0, Math.round(microUsd))
    const [status, used, spent] = await this.redis.llmGwReserve(...this.keys(keyId, minute, day), t, m, limits.tpm, Math.round(limits.microUsdPerDay), 2 * MINUTE, 2 * DAY)
    const use = { tokens: Number(used), spendMicroUsd: Number(spent) }
    if (status === 1) return { admitted: false, scope: 'tokens', use }
    if (status === 2) return { admitted: false, scope: 'budget', use }
    return { admitted: true, reservation: { keyId, minute, day, tokens: t, microUsd: m }, use }
  }

  async settle (r: Reservation, tokens: number, microUsd: number): Promise<void> {
    const dt = Math.round(tokens) - r.tokens
    const dm = Math.round(microUsd) - r.microUsd
    if (dt === 0 && dm === 0) return
    await this.redis.llmGwSettle(...this.keys(r.keyId, r.minute, r.day), dt, dm)
  }
}

/** One process's counters (no REDIS_URL): the same rules, not shared between replicas. */
export class MemoryBudgetStore implements BudgetStore {
  private readonly counters = new Map<string, number>()

  async reserve (keyId: string, tokens: number, microUsd: number, limits: BudgetLimits, now = Date.now()): Promise<ReserveResult> {
    const { minute, day } = windows(now)
    this.dropOld(minute, day)
    const tk = `tpm:${keyId}:${minute}`
    const sk = `spend:${keyId}:${day}`
    const use = { tokens: this.counters.get(tk) ?? 0, spendMicroUsd: this.counters.get(sk) ?? 0 }
    if (limits.tpm > 0 && use.tokens >= limits.tpm) return { admitted: false, scope: 'tokens', use }
    if (limits.microUsdPerDay > 0 && use.spendMicroUsd >= limits.microUsdPerDay) return { admitted: false, scope: 'budget', use }
    const t = Math.max(0, Math.round(tokens))
    const m = Math.max(0, Math.round(microUsd))
    use.tokens += t
    use.spendMicroUsd += m
    this.counters.set(tk, use.tokens)
    this.counters.set(sk, use.spendMicroUsd)
    return { admitted: true, reservation: { keyId, minute, day, tokens: t, microUsd: m }, use }
  }

  async settle (r: Reservation, tokens: number, microUsd: number): Promise<void> {
    for (const [k, d] of [[`tpm:${r.keyId}:${r.minute}`, Math.round(tokens) - r.tokens], [`spend:${r.keyId}:${r.day}`, Math.round(microUsd) - r.microUsd]] as const) {
      const v = this.counters.get(k)
      if (v !== undefined) this.counters.set(k, v + d)
    }
  }

  /** Old windows are dropped as new ones start, so the map stays at two entries a key. */
  private dropOld (minute: number, day: number): void {
    for (const k of this.counters.keys()) {
      const [kind, , w] = k.split(':')
      if ((kind === 'tpm' && Number(w) < minute) || (kind === 'spend' && Number(w) < day)) this.counters.delete(k)
    }
  }
}
