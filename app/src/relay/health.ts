// What each attempt tells about its upstream, in one place: the replica's own breaker counts failures
// in a row, and what must hold for every replica (a breaker that opened, a 429's wait) goes to the
// shared cooldowns.
import type { Upstream } from './attempt.js'
import type { Cooldowns } from './cooldown.js'

export class UpstreamHealth {
  constructor (readonly cooldowns: Cooldowns, private readonly breakerCooldownMs: number) {}

  /** The upstream answered (2xx, or a 4xx that is the request's fault): not an outage. */
  success (up: Upstream): void {
    up.breaker.success()
    this.cooldowns.succeeded(up.cfg.name)
  }

  /** It failed (unreachable, 5xx, cut): a breaker that opens now, or a failed probe, cools it everywhere. */
  failure (up: Upstream): void {
    const wasOpen = up.breaker.state() === 'open'
    up.breaker.failure()
    const opened = !wasOpen && up.breaker.state() === 'open'
    if (opened || this.cooldowns.probing(up.cfg.name)) this.cooldowns.opened(up.cfg.name, this.breakerCooldownMs)
  }

  /** The request ended without telling anything about the upstream (the client left). */
  release (up: Upstream): void {
    up.breaker.release()
    this.cooldowns.released(up.cfg.name)
  }

  /** A 429 with a wait hint: no replica sends this model there until the wait is over. */
  rateLimited (up: Upstream, model: string, waitMs: number): void {
    up.breaker.success() // it answered: a rate limit is not an outage
    this.cooldowns.rateLimited(up.cfg.name, model, waitMs)
  }
}
