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

  constructor () {
    collectDefaultMetrics({ register: this.registry })
    for (const m of [this.requests, this.duration, this.upstreamDuration, this.ttft, this.tokens, this.cost, this.inFlight, this.upstreamErrors, this.rateLimited, this.streamAborts]) {
      // The registry only needs name, help, type and get(); see lib/lean-metrics.ts.
      this.registry.registerMetric(m as unknown as Metric)
    }
    for (const route of ROUTE_LABELS) this.inFlight.with(route)
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
}

declare module 'fastify' {
  interface FastifyInstance { metrics: GatewayMetrics }
}

export default fp(async function metricsPlugin (app) {
  app.decorate('metrics', new GatewayMetrics())
}, { name: 'metrics', fastify: '5.x' })
