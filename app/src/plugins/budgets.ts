// Token-per-minute and daily spend budgets per key, checked before a request and charged after it.
import fp from 'fastify-plugin'
import type { FastifyReply } from 'fastify'
import { GatewayError } from '../errors.js'
import { MemoryBudgetStore, RedisBudgetStore, msToNextDay, msToNextMinute, type BudgetStore } from '../lib/budget-store.js'
import type { GatewayKey } from '../lib/keys.js'
import { formatDuration, retryAfterSeconds } from '../lib/retry-after.js'
import type { Usage } from '../lib/usage.js'

export class Budgets {
  constructor (
    private readonly store: BudgetStore,
    private readonly defaults: { tpm: number, usdPerDay: number },
    private readonly onLimited: (scope: 'tokens' | 'budget') => void,
    private readonly onStoreError: (err: Error) => void
  ) {}

  /** false when neither the defaults nor any key set a token or spend budget */
  /** Does this key have a token or spend budget (its own, or the default)? */
  has (key: GatewayKey): boolean {
    return (key.tpm ?? this.defaults.tpm) > 0 || (key.budgetUsdPerDay ?? this.defaults.usdPerDay) > 0
  }

  private limitsOf (key: GatewayKey): { tpm: number, usdPerDay: number } {
    return { tpm: key.tpm ?? this.defaults.tpm, usdPerDay: key.budgetUsdPerDay ?? this.defaults.usdPerDay }
  }

  /** Throws a 429 when the key used up its tokens this minute or its spend today. */
  async check (key: GatewayKey, reply: FastifyReply): Promise<void> {
    const { tpm, usdPerDay } = this.limitsOf(key)
    if (tpm === 0 && usdPerDay === 0) return
    let use
    try {
      use = await this.store.read(key.id)
    } catch (err) {
      this.onStoreError(err as Error)
      return // fail open, like the request limits
    }
    if (tpm > 0) {
      const reset = msToNextMinute()
      reply.header('x-ratelimit-limit-tokens', String(tpm))
      reply.header('x-ratelimit-remaining-tokens', String(Math.max(0, tpm - use.tokens)))
      reply.header('x-ratelimit-reset-tokens', formatDuration(reset))
      if (use.tokens >= tpm) {
        this.onLimited('tokens')
        throw new GatewayError('rate_limit_exceeded', {
          message: `Token rate limit reached for this API key: ${tpm} tokens per minute. Retry in ${retryAfterSeconds(reset)} s.`,
          headers: { 'retry-after': retryAfterSeconds(reset) }
        })
      }
    }
    if (usdPerDay > 0 && use.spendMicroUsd >= usdPerDay * 1e6) {
      this.onLimited('budget')
      throw new GatewayError('insufficient_quota', {
        message: `This API key reached its daily budget of ${usdPerDay} USD. It resets at 00:00 UTC.`,
        headers: { 'retry-after': retryAfterSeconds(msToNextDay()), 'x-should-retry': 'false' }
      })
    }
  }

  /** Charges a finished request's usage to its key (only keys with a budget are counted). */
  record (key: GatewayKey, usage: Usage, costUsd: number): void {
    const { tpm, usdPerDay } = this.limitsOf(key)
    if (tpm === 0 && usdPerDay === 0) return
    this.store.add(key.id, usage.promptTokens + usage.completionTokens, costUsd * 1e6).catch((err: Error) => { this.onStoreError(err) })
  }
}

declare module 'fastify' {
  interface FastifyInstance { budgets: Budgets }
}

export default fp<{ tpm: number, usdPerDay: number }>(async function budgets (app, opts) {
  const store = app.redis === undefined ? new MemoryBudgetStore() : new RedisBudgetStore(app.redis)
  let lastWarn = 0
  app.decorate('budgets', new Budgets(store, opts, (scope) => { app.metrics.limited(scope) }, (err) => {
    if (Date.now() - lastWarn > 10_000) app.log.warn({ err: { message: err.message } }, 'budget counters unavailable; budgets fail open')
    lastWarn = Date.now()
  }))
}, { name: 'budgets', dependencies: ['metrics', 'redis'], fastify: '5.x' })
