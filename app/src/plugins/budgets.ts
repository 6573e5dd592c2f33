// Token-per-minute and daily spend limits per key: a reservation before the upstream call (atomic,
// shared in Redis), settled with the real usage when the response has closed, refunded when none came.
import fp from 'fastify-plugin'
import type { FastifyReply } from 'fastify'
import type { Metric } from 'prom-client'
import { GatewayError } from '../errors.js'
import { MemoryBudgetStore, RedisBudgetStore, msToNextDay, msToNextMinute, type BudgetStore, type Reservation } from '../lib/budget-store.js'
import type { GatewayKey } from '../lib/keys.js'
import { LeanCounter } from '../lib/lean-metrics.js'
import type { ReserveAmount } from '../lib/reservation.js'
import { formatDuration, retryAfterSeconds } from '../lib/retry-after.js'
import type { Usage } from '../lib/usage.js'

declare module './request-context.js' {
  interface RequestContext {
    /** what the limits stage reserved for this request; settled (or refunded) by accounting */
    reservation?: Reservation
  }
}

export interface BudgetDefaults { tpm: number, usdPerDay: number }

export interface BudgetHooks {
  limited: (scope: 'tokens' | 'budget') => void
  storeFailed: (err: Error) => void
  /** LIMITS_ON_REDIS_DOWN=closed: a store failure refuses the request instead of letting it through */
  closed: boolean
}

/** Counters that make reservations visible: how they ended, what was given back, what ran over. */
class ReservationMetrics {
  readonly ended = new LeanCounter('llm_gateway_limit_reservations_total', 'Token and spend reservations by how they ended: settled with usage, or refunded in full (failure, abort before an answer)', ['outcome'])
  readonly refundedTokens = new LeanCounter('llm_gateway_limit_refunded_tokens_total', 'Reserved tokens given back at settlement (reserved minus used, or all of it)', [])
  readonly overrunTokens = new LeanCounter('llm_gateway_limit_overrun_tokens_total', 'Tokens used beyond their request\'s reservation (the estimate was short)', [])
  readonly refundedUsd = new LeanCounter('llm_gateway_limit_refunded_usd_total', 'Reserved spend given back at settlement, in USD', [])

  all (): LeanCounter[] { return [this.ended, this.refundedTokens, this.overrunTokens, this.refundedUsd] }
}

export class Budgets {
  readonly metrics = new ReservationMetrics()

  constructor (
    private readonly store: BudgetStore,
    private readonly defaults: BudgetDefaults,
    private readonly hooks: BudgetHooks
  ) {
    this.metrics.ended.with('settled')
    this.metrics.ended.with('refunded')
    this.metrics.refundedTokens.with()
    this.metrics.overrunTokens.with()
    this.metrics.refundedUsd.with()
  }

  /** Does this key have a token or spend budget (its own, or the default)? */
  has (key: GatewayKey): boolean {
    return (key.tpm ?? this.defaults.tpm) > 0 || (key.budgetUsdPerDay ?? this.defaults.usdPerDay) > 0
  }

  private limitsOf (key: GatewayKey): { tpm: number, usdPerDay: number } {
    return { tpm: key.tpm ?? this.defaults.tpm, usdPerDay: key.budgetUsdPerDay ?? this.defaults.usdPerDay }
  }

  /**
   * Admits the request and reserves `amount` against the key's limits, or throws a 429 when its
   * tokens this minute or its spend today (reservations in flight included) are used up.
   */
  async reserve (key: GatewayKey, amount: ReserveAmount, reply: FastifyReply): Promise<Reservation | undefined> {
    const { tpm, usdPerDay } = this.limitsOf(key)
    if (tpm === 0 && usdPerDay === 0) return undefined
    let result
    try {
      result = await this.store.reserve(key.id, amount.tokens, amount.microUsd, { tpm, microUsdPerDay: usdPerDay * 1e6 })
    } catch (err) {
      this.hooks.storeFailed(err as Error)
      if (this.hooks.closed) throw new GatewayError('limits_unavailable', { headers: { 'retry-after': '2' }, cause: err })
      return undefined // fail open: served, not counted
    }
    if (tpm > 0) {
      const reset = msToNextMinute()
      reply.header('x-ratelimit-limit-tokens', String(tpm))
      reply.header('x-ratelimit-remaining-tokens', String(Math.max(0, tpm - result.use.tokens)))
      reply.header('x-ratelimit-reset-tokens', formatDuration(reset))
    }
    if (result.admitted) return result.reservation
    this.hooks.limited(result.scope)
    if (result.scope === 'tokens') {
      const reset = msToNextMinute()
      throw new GatewayError('rate_limit_exceeded', {
        message: `Token rate limit reached for this API key: ${tpm} tokens per minute. Retry in ${retryAfterSeconds(reset)} s.`,
        headers: { 'retry-after': retryAfterSeconds(reset) }
      })
    }
    throw new GatewayError('insufficient_quota', {
      message: `This API key reached its daily budget of ${usdPerDay} USD. It resets at 00:00 UTC.`,
      headers: { 'retry-after': retryAfterSeconds(msToNextDay()), 'x-should-retry': 'false' }
    })
  }

  /**
   * Replaces a reservation by what the request used; no usage (the upstream failed, the client
   * left before an answer) refunds it whole.
   */
  settle (reservation: Reservation, usage: Usage | undefined, costUsd: number): void {
    if (usage === undefined && reservation.tokens === 0 && reservation.microUsd === 0) return
    const tokens = usage === undefined ? 0 : usage.promptTokens + usage.completionTokens
    const microUsd = usage === undefined ? 0 : Math.round(costUsd * 1e6)
    const m = this.metrics
    m.ended.with(usage === undefined ? 'refunded' : 'settled').value++
    if (tokens < reservation.tokens) m.refundedTokens.with().value += reservation.tokens - tokens
    else m.overrunTokens.with().value += tokens - reservation.tokens
    if (microUsd < reservation.microUsd) m.refundedUsd.with().value += (reservation.microUsd - microUsd) / 1e6
    this.store.settle(reservation, tokens, microUsd).catch((err: Error) => { this.hooks.storeFailed(err) })
  }
}

declare module 'fastify' {
  interface FastifyInstance { budgets: Budgets }
}

export default fp(async function budgets (app) {
  const config = app.gatewayConfig
  const store = app.redis === undefined ? new MemoryBudgetStore() : new RedisBudgetStore(app.redis)
  const budgets = new Budgets(store, { tpm: config.rateLimitTpm, usdPerDay: config.budgetUsdPerDay }, {
    limited: (scope) => { app.metrics.limited(scope) },
    storeFailed: (err) => { app.redisFailed('budgets', err) },
    closed: config.limitsOnRedisDown === 'closed'
  })
  // The registry only needs name, help, type and get(); see lib/lean-metrics.ts.
  for (const m of budgets.metrics.all()) app.metrics.registry.registerMetric(m as unknown as Metric)
  app.decorate('budgets', budgets)
}, { name: 'budgets', dependencies: ['metrics', 'redis'], decorators: { fastify: ['gatewayConfig', 'metrics'] }, fastify: '5.x' })
