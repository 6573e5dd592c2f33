// @ts-check
// RSS of a target over a run: idle (fresh process, read when it starts), steady (sampled while
// it carries the round's load) and recovered (after it has been left alone).
import { rssOf, sleep } from './procs.mjs'

/** @typedef {import('./types.js').Target} Target */

const MIB = 2 ** 20

/** Samples a target's RSS every `everyMs` while load phases run; one sampler per target. */
export class RssSampler {
  /**
   * @param {Target} target
   * @param {number} [everyMs]
   */
  constructor (target, everyMs = 250) {
    this.target = target
    this.everyMs = everyMs
    /** @type {number[]} */
    this.samples = []
    /** @type {NodeJS.Timeout | undefined} */
    this.timer = undefined
  }

  start () {
    if (this.timer !== undefined || this.target.pids().length === 0) return
    this.timer = setInterval(() => {
      const rss = rssOf(this.target.pids())
      if (rss > 0) this.samples.push(rss)
    }, this.everyMs)
  }

  stop () {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** Median and peak of the samples taken under load, in MiB (null when none). */
  steady () {
    if (this.samples.length === 0) return { median: null, peak: null }
    const s = [...this.samples].sort((a, b) => a - b)
    return { median: (s[s.length >> 1] ?? 0) / MIB, peak: (s[s.length - 1] ?? 0) / MIB }
  }
}

/**
 * Waits until every target has been idle for `quietMs` (the last load on each ended at
 * `lastLoadAt`), polling each until its RSS is within `withinRatio` of idle or the time is up,
 * and returns the RSS then (MiB) with how long after its last load it was read.
 * @param {Target[]} targets
 * @param {Map<string, number>} lastLoadAt Date.now() when each target's last load ended
 * @param {{ quietMs: number, withinRatio: number }} opts
 */
export async function recoveredRss (targets, lastLoadAt, { quietMs, withinRatio }) {
  /** @type {Record<string, { recovered_mib: number, after_s: number }>} */
  const out = {}
  const pending = new Set(targets.filter((t) => t.pids().length > 0 && t.idleRssBytes !== null))
  for (;;) {
    const at = Date.now()
    for (const t of [...pending]) {
      const idle = t.idleRssBytes ?? 0
      const quiet = at - (lastLoadAt.get(t.name) ?? at)
      const rss = rssOf(t.pids())
      if (rss <= idle * withinRatio || quiet >= quietMs) {
        out[t.name] = { recovered_mib: rss / MIB, after_s: quiet / 1000 }
        pending.delete(t)
      }
    }
    if (pending.size === 0) return out
    await sleep(250)
  }
}
