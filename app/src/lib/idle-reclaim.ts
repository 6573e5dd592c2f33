// Gives memory back after a burst. V8 keeps the heap it grew under load until allocation pressure
// comes back, so a replica that served 2,000 streams stays at that size while idle. Once nothing has
// been in flight for a while, one full collection with memory reduction (the one V8 runs on a
// low-memory notification) brings it back towards its idle size.
//
// That collection has a price: V8 also drops what it learned while running the hot path, and the
// first ~2 s of the next burst cost 2–3× the CPU per request (bench/README.md, "Memory after a
// burst"). So it waits for a replica that is really idle (20 s with nothing in flight), not for a
// pause between two bursts.
import { Session } from 'node:inspector'

export interface IdleReclaimDeps {
  /** requests in progress now */
  inFlight: () => number
  /** requests started since the process began (any monotonic count) */
  started: () => number
  /** resident set size in bytes */
  rss: () => number
  /** a full collection that also returns freed memory to the system */
  collect: () => Promise<void>
  /** after each collection: resident size before and after, and how long it took */
  onReclaim?: (before: number, after: number, ms: number) => void
}

export interface IdleReclaimOptions {
  /** how long nothing may be in flight (and nothing start) before collecting */
  idleMs: number
  /** collect only when RSS has grown by at least this many bytes over the idle size */
  minGrowthBytes: number
}

export const DEFAULT_IDLE_RECLAIM: IdleReclaimOptions = { idleMs: 20_000, minGrowthBytes: 32 * 1024 * 1024 }

/**
 * Call `tick(now)` periodically (every second or so). Collects at most once per busy period, and
 * only when the process grew: an idle process is never collected twice in a row.
 */
export class IdleReclaim {
  private baseline: number | undefined
  private idleSince: number | undefined
  private startedAtLastTick = 0
  private startedAtLastCollect = -1
  private collecting = false

  constructor (private readonly deps: IdleReclaimDeps, private readonly opts: IdleReclaimOptions = DEFAULT_IDLE_RECLAIM) {}

  /** true when a collection was started */
  tick (now: number): boolean {
    const d = this.deps
    if (this.collecting) return false
    const started = d.started()
    // Idle: nothing in flight now and nothing started since the last tick (light traffic between
    // two ticks is not idleness).
    if (d.inFlight() > 0 || started !== this.startedAtLastTick) {
      this.startedAtLastTick = started
      this.idleSince = undefined
      return false
    }
    this.idleSince ??= now
    // The idle size: the smallest resident size seen while idle.
    const rss = d.rss()
    if (this.baseline === undefined || rss < this.baseline) this.baseline = rss
    if (now - this.idleSince < this.opts.idleMs || started === this.startedAtLastCollect) return false
    if (rss - this.baseline < this.opts.minGrowthBytes) return false
    this.collecting = true
    this.startedAtLastCollect = started
    const t0 = performance.now()
    d.collect().then(() => {
      const after = d.rss()
      // What a full collection cannot give back is the new floor: the next one needs growth above it.
      this.baseline = Math.max(this.baseline ?? after, after)
      d.onReclaim?.(rss, after, performance.now() - t0)
    }, () => {}).finally(() => { this.collecting = false })
    return true
  }
}

/** V8's low-memory collection, through an in-process inspector session (no port is opened). */
export function lowMemoryCollector (): () => Promise<void> {
  let session: Session | undefined
  return async () => {
    if (session === undefined) {
      session = new Session()
      session.connect()
    }
    const s = session
    await new Promise<void>((resolve, reject) => { s.post('HeapProfiler.collectGarbage', (err) => { if (err !== null) reject(err); else resolve() }) })
  }
}
