// The gateway's metrics (names and labels as DESIGN.md lists them) on the app's own prom-client registry.
import fp from 'fastify-plugin'
import { Registry, collectDefaultMetrics, type Metric } from 'prom-client'
import { LeanCounter, LeanGauge, LeanHistogram } from '../lib/lean-metrics.js'
import type { AbortSide } from '../lib/stream-relay.js'
import type { Usage } from '../lib/usage.js'
import { ROUTE_LABELS } from '../surfaces/index.js'

// Seconds: from a fast cached answer to a long reasoning stream.
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600]
const TTFT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60]


export interface Finished {
  route: string
  model: string
  status: number
  stream: boolean
  durationS: number
}

/** Key ids are operator-defined and few; past this many the rest share one "other" series. */
export const MAX_KEY_LABELS = 200

export class GatewayMetrics {
  readonly registry = new Registry()
  private readonly requests = new LeanCounter('llm_gateway_requests_total', 'Requests answered, by route, model, status class and streaming', ['route', 'model', 'status', 'stream'])
  private readonly duration = new LeanHistogram('llm_gateway_request_duration_seconds', 'Time from request to the last byte of the response', ['route', 'model', 'stream'], LATENCY_BUCKETS)
  private readonly upstreamDuration = new LeanHistogram('llm_gateway_upstream_duration_seconds', 'Time spent on one upstream attempt, to its last byte', ['upstream', 'model'], LATENCY_BUCKETS)
  private readonly ttft = new LeanHistogram('llm_gateway_time_to_first_token_seconds', 'Time from request to the first generated token of a stream', ['model'], TTFT_BUCKETS)
  private readonly tokens = new LeanCounter('llm_gateway_tokens_total', 'Tokens by type (prompt, completion; cached_prompt and cache_write are parts of prompt, reasoning of completion), from upstream usage or estimated', ['model', 'type', 'source'])
  private readonly cost = new LeanCounter('llm_gateway_cost_usd_total', 'Cost in USD from the models file price table', ['model'])
  private readonly inFlight = new LeanGauge('llm_gateway_requests_in_flight', 'Requests being answered now', ['route'])
  private readonly upstreamErrors = new LeanCounter('llm_gateway_upstream_errors_total', 'Failed upstream attempts by reason', ['upstream', 'reason'])
  private readonly rateLimited = new LeanCounter('llm_gateway_rate_limited_total', 'Requests refused by the gateway\'s own limits', ['scope'])
  private readonly streamAborts = new LeanCounter('llm_gateway_stream_aborts_total', 'Streams that ended early, by the side that ended them', ['side'])
  private readonly cacheRequests = new LeanCounter('llm_gateway_cache_requests_total', 'Requests that asked for the response cache, by result (hit, miss, bypass)', ['result'])
  private readonly cacheSavedTokens = new LeanCounter('llm_gateway_cache_saved_tokens_total', 'Tokens (prompt + completion) of the answers served from the response cache: upstream work saved', ['model'])
  private readonly cacheSavedCost = new LeanCounter('llm_gateway_cache_saved_cost_usd_total', 'Cost in USD of the answers served from the response cache', ['model'])
  private readonly cooldown = new CooldownGauge()
  private readonly keySpend = new LeanCounter('llm_gateway_key_cost_usd_total', `Cost in USD by gateway key id (the first ${MAX_KEY_LABELS} key ids seen; later ones as "other")`, ['key'])
  private readonly keyTokens = new LeanCounter('llm_gateway_key_tokens_total', 'Tokens (prompt + completion) by gateway key id, bounded like llm_gateway_key_cost_usd_total', ['key'])
  private readonly keyLabels = new Set<string>()

  constructor () {
    collectDefaultMetrics({ register: this.registry })
    for (const m of [this.requests, this.duration, this.upstreamDuration, this.ttft, this.tokens, this.cost, this.inFlight, this.upstreamErrors, this.rateLimited, this.streamAborts, this.cacheRequests, this.cacheSavedTokens, this.cacheSavedCost, this.cooldown, this.keySpend, this.keyTokens]) {
      // The registry only needs name, help, type and get(); see lib/lean-metrics.ts.
      this.registry.registerMetric(m as unknown as Metric)
    }
    for (const route of ROUTE_LABELS) this.inFlight.with(route)
    for (const result of ['hit', 'miss', 'bypass']) this.cacheRequests.with(result)
  }

  requestStarted (route: string): void { this.inFlight.with(route).value++ }
  requestEnded (route: string): void { this.inFlight.with(route).value-- }

  finished (f: Finished): void {
    const status = f.status >= 500 ? '5xx' : f.status >= 400 ? '4xx' : f.status >= 300 ? '3xx' : '2xx'
    const stream = f.stream ? 'true' : 'false'
    this.requests.with(f.route, f.model, status, stream).value++
    this.duration.with(f.route, f.model, stream).observe(f.durationS)
  }

  upstreamAttempt (upstream: string, model: string, seconds: number): void {
    this.upstreamDuration.with(upstream, model).observe(seconds)
  }

  firstToken (model: string, seconds: number): void {
    this.ttft.with(model).observe(seconds)
  }

  /** A key's spend: a label per key id, bounded however many keys a reload brings. */
  keyUsage (keyId: string, usage: Usage, costUsd: number): void {
    let key = keyId
    if (!this.keyLabels.has(key)) {
      if (this.keyLabels.size >= MAX_KEY_LABELS) key = 'other'
      else this.keyLabels.add(key)
    }
    this.keySpend.with(key).value += costUsd
    this.keyTokens.with(key).value += usage.promptTokens + usage.completionTokens
  }

  usage (model: string, usage: Usage, costUsd: number): void {
    // prompt and completion are totals; cached_prompt and cache_write are parts of prompt,
    // reasoning is part of completion (sum only prompt + completion for a total).
    this.tokens.with(model, 'prompt', usage.source).value += usage.promptTokens
    this.tokens.with(model, 'completion', usage.source).value += usage.completionTokens
    if (usage.cachedPromptTokens > 0) this.tokens.with(model, 'cached_prompt', usage.source).value += usage.cachedPromptTokens
    if (usage.cacheWriteTokens > 0) this.tokens.with(model, 'cache_write', usage.source).value += usage.cacheWriteTokens
    if (usage.reasoningTokens > 0) this.tokens.with(model, 'reasoning', usage.source).value += usage.reasoningTokens
    this.cost.with(model).value += costUsd
  }

  upstreamError (upstream: string, reason: string): void {
    this.upstreamErrors.with(upstream, reason).value++
  }

  limited (scope: 'key' | 'tokens' | 'budget'): void {
    this.rateLimited.with(scope).value++
  }

  streamAborted (side: AbortSide): void {
    this.streamAborts.with(side).value++
  }

  cacheRequest (result: 'hit' | 'miss' | 'bypass'): void {
    this.cacheRequests.with(result).value++
  }

  /** A cache hit: the upstream tokens and cost it saved. */
  cacheSaved (model: string, usage: Usage | undefined, costUsd: number): void {
    if (usage !== undefined) this.cacheSavedTokens.with(model).value += usage.promptTokens + usage.completionTokens
    this.cacheSavedCost.with(model).value += costUsd
  }

  /** Where llm_gateway_upstream_cooldown_seconds reads the cooldowns at each scrape. */
  watchCooldowns (upstreams: readonly string[], models: ReadonlySet<string>, source: () => CooldownState[]): void {
    this.cooldown.watch(upstreams, models, source)
  }
}

export interface CooldownState { upstream: string, model: string, seconds: number }

/**
 * Seconds until each cooled target takes traffic again, read from the cooldowns at scrape time: one
 * series per upstream (model="", the breaker's) always, and one per model while a 429 holds it back.
 * Models outside the configured targets are "other", so the label set stays bounded.
 */
class CooldownGauge {
  readonly name = 'llm_gateway_upstream_cooldown_seconds'
  readonly help = 'Seconds until an upstream (model="") or one of its models takes traffic again, shared by every replica; 0 = not cooling'
  readonly type = 'gauge'
  readonly aggregator = 'max'
  private upstreams: readonly string[] = []
  private models: ReadonlySet<string> = new Set()
  private source: () => CooldownState[] = () => []

  watch (upstreams: readonly string[], models: ReadonlySet<string>, source: () => CooldownState[]): void {
    this.upstreams = upstreams
    this.models = models
    this.source = source
  }

  reset (): void {}

  async get (): Promise<{ name: string, help: string, type: string, values: Array<{ value: number, labels: Record<string, string> }>, aggregator: string }> {
    const series = new Map<string, { value: number, labels: Record<string, string> }>()
    for (const upstream of this.upstreams) series.set(`${upstream}\u0000`, { value: 0, labels: { upstream, model: '' } })
    for (const c of this.source()) {
      const model = c.model === '' || this.models.has(c.model) ? c.model : 'other'
      const id = `${c.upstream}\u0000${model}`
      const s = series.get(id)
      if (s === undefined) series.set(id, { value: c.seconds, labels: { upstream: c.upstream, model } })
      else s.value = Math.max(s.value, c.seconds)
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: [...series.values()] }
  }
}

declare module 'fastify' {
  interface FastifyInstance { metrics: GatewayMetrics }
}

export default fp(async function metricsPlugin (app) {
  app.decorate('metrics', new GatewayMetrics())
}, { name: 'metrics', fastify: '5.x' })
