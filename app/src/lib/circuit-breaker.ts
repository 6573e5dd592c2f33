// Per-upstream circuit breaker: after N failures in a row the upstream is skipped for a cooldown,
// then one request at a time probes it (half-open) until one succeeds.

export type BreakerState = 'closed' | 'open' | 'half_open'

export class CircuitBreaker {
  private failures = 0
  private openUntil = 0
  private probing = false

  /** @param threshold failures in a row that open the circuit; 0 disables the breaker */
  constructor (private readonly threshold: number, private readonly cooldownMs: number, private readonly now: () => number = Date.now) {}

  state (): BreakerState {
    if (this.threshold === 0 || this.failures < this.threshold) return 'closed'
    return this.now() < this.openUntil ? 'open' : 'half_open'
  }

  /** May a request go to this upstream now? In half-open state only one probe at a time may. */
  allow (): boolean {
    const s = this.state()
    if (s === 'closed') return true
    if (s === 'open' || this.probing) return false
    this.probing = true
    return true
  }

  success (): void {
    this.failures = 0
    this.probing = false
  }

  failure (): void {
    this.probing = false
    this.failures++
    if (this.threshold > 0 && this.failures >= this.threshold) this.openUntil = this.now() + this.cooldownMs
  }

  /** The request ended without telling us about the upstream (client left): free the probe slot. */
  release (): void {
    this.probing = false
  }
}
