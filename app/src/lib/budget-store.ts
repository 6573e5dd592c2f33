// Token-per-minute and daily spend counters per key: in Redis (shared by replicas) or in process memory.
import type { Redis } from 'ioredis'

export interface BudgetUse {
  /** tokens used in the current minute */
  tokens: number
  /** spend so far today (UTC), in micro-USD */
  spendMicroUsd: number
}

export interface BudgetStore {
  read: (keyId: string, now?: number) => Promise<BudgetUse>
  add: (keyId: string, tokens: number, microUsd: number, now?: number) => Promise<void>
}

const MINUTE = 60_000
const DAY = 86_400_000

const windows = (now: number): { minute: number, day: number } => ({ minute: Math.floor(now / MINUTE), day: Math.floor(now / DAY) })

/** ms until the current minute window ends / the UTC day ends */
export const msToNextMinute = (now = Date.now()): number => MINUTE - (now % MINUTE)
export const msToNextDay = (now = Date.now()): number => DAY - (now % DAY)

export class RedisBudgetStore implements BudgetStore {
  constructor (private readonly redis: Redis, private readonly prefix = 'llm-gw:') {}

  async read (keyId: string, now = Date.now()): Promise<BudgetUse> {
    const { minute, day } = windows(now)
    const [tokens, spend] = await this.redis.mget(`${this.prefix}tpm:${keyId}:${minute}`, `${this.prefix}spend:${keyId}:${day}`)
    return { tokens: Number(tokens ?? 0), spendMicroUsd: Number(spend ?? 0) }
  }

  async add (keyId: string, tokens: number, microUsd: number, now = Date.now()): Promise<void> {
    const { minute, day } = windows(now)
    const tpmKey = `${this.prefix}tpm:${keyId}:${minute}`
    const spendKey = `${this.prefix}spend:${keyId}:${day}`
    await this.redis.multi()
      .incrby(tpmKey, Math.round(tokens)).pexpire(tpmKey, 2 * MINUTE)
      .incrby(spendKey, Math.round(microUsd)).pexpire(spendKey, 2 * DAY)
      .exec()
  }
}

export class MemoryBudgetStore implements BudgetStore {
  private readonly counters = new Map<string, number>()

  async read (keyId: string, now = Date.now()): Promise<BudgetUse> {
    const { minute, day } = windows(now)
    return { tokens: this.counters.get(`tpm:${keyId}:${minute}`) ?? 0, spendMicroUsd: this.counters.get(`spend:${keyId}:${day}`) ?? 0 }
  }

  async add (keyId: string, tokens: number, microUsd: number, now = Date.now()): Promise<void> {
    const { minute, day } = windows(now)
    for (const [k, v] of [[`tpm:${keyId}:${minute}`, tokens], [`spend:${keyId}:${day}`, microUsd]] as const) {
      this.counters.set(k, (this.counters.get(k) ?? 0) + Math.round(v))
    }
    // Old windows are dropped as new ones start, so the map stays at two entries a key.
    for (const k of this.counters.keys()) {
      const [kind, , w] = k.split(':')
      if ((kind === 'tpm' && Number(w) < minute) || (kind === 'spend' && Number(w) < day)) this.counters.delete(k)
    }
  }
}
