// Upstream cooldowns shared by every replica: an upstream 429 with a wait hint cools that target (upstream
// + model) for the wait; a breaker that opens cools the whole upstream, after which exactly one replica
// sends the half-open probe. Each replica keeps a mirror of the shared state, updated by pub/sub, so a
// request checks a Map and never waits on Redis (except for the probe lock, once a cooldown ended).
import type { Redis } from 'ioredis'
import type { ReplicaEvents } from './events.js'

const KEY = 'llm-gw:cooldown:'
const PROBE_KEY = 'llm-gw:cooldown-probe:'
const CHANNEL = 'llm-gw:cooldown'
/** While another replica probes, the wait told to clients (it knows more in about this long). */
const PROBE_WAIT_MS = 1000

export type CooldownKind = 'rate_limited' | 'breaker'

interface Entry {
  kind: CooldownKind
  /** ms (Date.now) when traffic may go again; for a breaker, when one probe may go */
  until: number
  /** this replica holds the half-open probe */
  probing: boolean
}

export type Verdict =
  | { pass: true }
  | { pass: false, kind: CooldownKind, waitMs: number }

interface Notice { op: 'set', scope: string, kind: CooldownKind, ms: number }
interface Clear { op: 'clear', scope: string }

export interface CooldownOptions {
  /** the longest cooldown an upstream's hint may ask for */
  maxMs: number
  /** how long one replica holds the half-open probe before another may try */
  probeMs: number
}

/** `upstream` alone (breaker), or `upstream/model` (a 429 for one model). */
export function scopeOf (upstream: string, model?: string): string {
  return model === undefined || model === '' ? upstream : `${upstream}/${model}`
}

export class Cooldowns {
  private readonly entries = new Map<string, Entry>()

  constructor (
    private readonly redis: Redis | undefined,
    private readonly events: ReplicaEvents | undefined,
    private readonly opts: CooldownOptions,
    private readonly onError: (err: Error) => void
  ) {
    if (events === undefined || redis === undefined) return
    events.on(CHANNEL, (message) => { this.onNotice(message) })
    // At start and after a reconnect: what the other replicas decided meanwhile.
    events.onReady(() => { this.load().catch(this.onError) })
  }

  /** May a request go to this target now? Only a breaker's half-open state may ask Redis (the probe lock). */
  async check (upstream: string, model: string): Promise<Verdict> {
    if (this.entries.size === 0) return { pass: true }
    const now = Date.now()
    const byModel = this.entries.get(scopeOf(upstream, model))
    if (byModel !== undefined) {
      if (now < byModel.until) return { pass: false, kind: byModel.kind, waitMs: byModel.until - now }
      this.entries.delete(scopeOf(upstream, model))
    }
    const whole = this.entries.get(upstream)
    if (whole === undefined) return { pass: true }
    if (now < whole.until) return { pass: false, kind: whole.kind, waitMs: whole.until - now }
    if (whole.kind === 'rate_limited') {
      this.entries.delete(upstream)
      return { pass: true }
    }
    // Half-open: one probe across all replicas; the rest wait for its outcome.
    if (whole.probing) return { pass: false, kind: 'breaker', waitMs: PROBE_WAIT_MS }
    whole.probing = true
    if (this.redis !== undefined) {
      try {
        const won = await this.redis.set(PROBE_KEY + upstream, '1', 'PX', this.opts.probeMs, 'NX')
        if (won === null) {
          whole.probing = false
          return { pass: false, kind: 'breaker', waitMs: PROBE_WAIT_MS }
        }
      } catch (err) {
        // Without Redis this replica decides alone: it probes.
        this.onError(err as Error)
      }
    }
    return { pass: true }
  }

  /** An upstream 429 asked to wait `ms` before this model is sent anything again. */
  rateLimited (upstream: string, model: string, ms: number): void {
    this.start(scopeOf(upstream, model), 'rate_limited', Math.min(ms, this.opts.maxMs))
  }

  /** The upstream's breaker opened (or its half-open probe failed): no replica sends it anything for `ms`. */
  opened (upstream: string, ms: number): void {
    this.start(upstream, 'breaker', ms)
  }

  /** Is this replica probing the upstream (a failure then reopens it)? */
  probing (upstream: string): boolean {
    return this.entries.get(upstream)?.probing === true
  }

  /** The upstream answered: a half-open breaker closes everywhere. */
  succeeded (upstream: string): void {
    if (this.entries.size === 0) return
    const e = this.entries.get(upstream)
    if (e === undefined || e.kind !== 'breaker' || Date.now() < e.until) return
    this.entries.delete(upstream)
    if (this.redis === undefined || this.events === undefined) return
    this.redis.del(KEY + upstream, PROBE_KEY + upstream).catch(this.onError)
    this.events.publish(CHANNEL, JSON.stringify({ op: 'clear', scope: upstream } satisfies Clear))
  }

  /** The probe ended without telling anything (the client left): another request may probe. */
  released (upstream: string): void {
    const e = this.entries.get(upstream)
    if (e === undefined || !e.probing) return
    e.probing = false
    this.redis?.del(PROBE_KEY + upstream).catch(this.onError)
  }

  /** Seconds left per scope, for the gauge (half-open counts as 0: the next request probes). */
  snapshot (): Array<{ upstream: string, model: string, kind: CooldownKind, seconds: number }> {
    const now = Date.now()
    const out: Array<{ upstream: string, model: string, kind: CooldownKind, seconds: number }> = []
    for (const [scope, e] of this.entries) {
      const slash = scope.indexOf('/')
      out.push({ upstream: slash < 0 ? scope : scope.slice(0, slash), model: slash < 0 ? '' : scope.slice(slash + 1), kind: e.kind, seconds: Math.max(0, (e.until - now) / 1000) })
    }
    return out
  }

  private start (scope: string, kind: CooldownKind, ms: number): void {
    if (!(ms > 0)) return
    this.set(scope, kind, ms)
    if (this.redis === undefined || this.events === undefined) return
    this.redis.set(KEY + scope, kind, 'PX', Math.ceil(ms)).catch(this.onError)
    if (kind === 'breaker') this.redis.del(PROBE_KEY + scope).catch(this.onError)
    this.events.publish(CHANNEL, JSON.stringify({ op: 'set', scope, kind, ms: Math.ceil(ms) } satisfies Notice))
  }

  private set (scope: string, kind: CooldownKind, ms: number): void {
    const until = Date.now() + ms
    const e = this.entries.get(scope)
    // A rate limit is never shortened by a later, shorter hint; a breaker notice replaces its entry.
    if (e !== undefined && kind === 'rate_limited' && e.kind === 'rate_limited' && e.until > until) return
    this.entries.set(scope, { kind, until, probing: false })
  }

  private onNotice (message: string): void {
    let n: Notice | Clear
    try {
      n = JSON.parse(message) as Notice | Clear
    } catch {
      return
    }
    if (typeof n.scope !== 'string') return
    if (n.op === 'clear') {
      const e = this.entries.get(n.scope)
      if (e !== undefined && e.kind === 'breaker') this.entries.delete(n.scope)
    } else if (n.op === 'set' && (n.kind === 'rate_limited' || n.kind === 'breaker') && typeof n.ms === 'number') {
      // Durations, not instants: replicas' clocks need not agree.
      this.set(n.scope, n.kind, n.ms)
    }
  }

  /** Replaces the mirror with what Redis holds now (remaining time from PTTL). */
  private async load (): Promise<void> {
    const redis = this.redis as Redis
    const found = new Map<string, Entry>()
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${KEY}*`, 'COUNT', 200)
      cursor = next
      for (const key of keys) {
        const [kind, ttl] = await Promise.all([redis.get(key), redis.pttl(key)])
        if ((kind === 'rate_limited' || kind === 'breaker') && ttl > 0) found.set(key.slice(KEY.length), { kind, until: Date.now() + ttl, probing: false })
      }
    } while (cursor !== '0')
    // Local half-open breakers stay: their probe decides, here or on another replica.
    for (const [scope, e] of this.entries) {
      if (!found.has(scope) && e.kind === 'breaker' && Date.now() >= e.until) found.set(scope, e)
    }
    this.entries.clear()
    for (const [scope, e] of found) this.entries.set(scope, e)
  }
}
