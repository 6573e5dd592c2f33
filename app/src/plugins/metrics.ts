// prom-client metrics (names and labels as DESIGN.md lists them) on the app's own registry.
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Usage } from '../lib/usage.js'

// Seconds: from a fast cached answer to a long reasoning stream.
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600]
const TTFT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60]

export const ROUTE_LABELS = ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/models'] as const

export interface Finished {
  route: string
  model: string
  status: number
  stream: boolean
  durationS: number
}

export class GatewayMetrics {
  readonly registry = new Registry()
  private readonly requests: Counter<'route' | 'model' | 'status' | 'stream'>
  private readonly duration: Histogram<'route' | 'model' | 'stream'>
  private readonly upstreamDuration: Histogram<'upstream' | 'model'>
  private readonly ttft: Histogram<'model'>
  private readonly tokens: Counter<'model' | 'type' | 'source'>
  private readonly cost: Counter<'model'>
  private readonly inFlight: Gauge<'route'>
  private readonly upstreamErrors: Counter<'upstream' | 'reason'>
  private readonly rateLimited: Counter<'scope'>
  private readonly streamAborts: Counter<'side'>
  // Children are looked up once per label combination, not built per request.
  private readonly inFlightChildren = new Map<string, { inc: () => void, dec: () => void }>()
  private readonly children = new Map<string, { inc: (v?: number) => void } | { observe: (v: number) => void }>()

  constructor () {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry })
    this.requests = new Counter({ name: 'llm_gateway_requests_total', help: 'Requests answered, by route, model, status class and streaming', labelNames: ['route', 'model', 'status', 'stream'], registers })
    this.duration = new Histogram({ name: 'llm_gateway_request_duration_seconds', help: 'Time from request to the last byte of the response', labelNames: ['route', 'model', 'stream'], buckets: LATENCY_BUCKETS, registers })
    this.upstreamDuration = new Histogram({ name: 'llm_gateway_upstream_duration_seconds', help: 'Time spent on one upstream attempt, to its last byte', labelNames: ['upstream', 'model'], buckets: LATENCY_BUCKETS, registers })
    this.ttft = new Histogram({ name: 'llm_gateway_time_to_first_token_seconds', help: 'Time from request to the first generated token of a stream', labelNames: ['model'], buckets: TTFT_BUCKETS, registers })
    this.tokens = new Counter({ name: 'llm_gateway_tokens_total', help: 'Tokens, from upstream usage or estimated with a tokenizer', labelNames: ['model', 'type', 'source'], registers })
    this.cost = new Counter({ name: 'llm_gateway_cost_usd_total', help: 'Cost in USD from the models file price table', labelNames: ['model'], registers })
    this.inFlight = new Gauge({ name: 'llm_gateway_requests_in_flight', help: 'Requests being answered now', labelNames: ['route'], registers })
    this.upstreamErrors = new Counter({ name: 'llm_gateway_upstream_errors_total', help: 'Failed upstream attempts by reason', labelNames: ['upstream', 'reason'], registers })
    this.rateLimited = new Counter({ name: 'llm_gateway_rate_limited_total', help: 'Requests refused by the gateway\'s own limits', labelNames: ['scope'], registers })
    this.streamAborts = new Counter({ name: 'llm_gateway_stream_aborts_total', help: 'Streams that ended early, by the side that ended them', labelNames: ['side'], registers })
    for (const route of ROUTE_LABELS) this.inFlight.labels(route).set(0)
  }

  private counter<L extends string> (metric: Counter<L>, key: string, labels: string[]): { inc: (v?: number) => void } {
    let child = this.children.get(key) as { inc: (v?: number) => void } | undefined
    if (child === undefined) {
      child = metric.labels(...labels)
      this.children.set(key, child)
    }
    return child
  }

  private histogram<L extends string> (metric: Histogram<L>, key: string, labels: string[]): { observe: (v: number) => void } {
    let child = this.children.get(key) as { observe: (v: number) => void } | undefined
    if (child === undefined) {
      child = metric.labels(...labels)
      this.children.set(key, child)
    }
    return child
  }

  private gauge (route: string): { inc: () => void, dec: () => void } {
    let child = this.inFlightChildren.get(route)
    if (child === undefined) {
      child = this.inFlight.labels(route)
      this.inFlightChildren.set(route, child)
    }
    return child
  }

  requestStarted (route: string): void { this.gauge(route).inc() }
  requestEnded (route: string): void { this.gauge(route).dec() }

  finished (f: Finished): void {
    const status = f.status >= 500 ? '5xx' : f.status >= 400 ? '4xx' : f.status >= 300 ? '3xx' : '2xx'
    const stream = f.stream ? 'true' : 'false'
    this.counter(this.requests, `r|${f.route}|${f.model}|${status}|${stream}`, [f.route, f.model, status, stream]).inc()
    this.histogram(this.duration, `d|${f.route}|${f.model}|${stream}`, [f.route, f.model, stream]).observe(f.durationS)
  }

  upstreamAttempt (upstream: string, model: string, seconds: number): void {
    this.histogram(this.upstreamDuration, `u|${upstream}|${model}`, [upstream, model]).observe(seconds)
  }

  firstToken (model: string, seconds: number): void {
    this.histogram(this.ttft, `t|${model}`, [model]).observe(seconds)
  }

  usage (model: string, usage: Usage, costUsd: number): void {
    this.counter(this.tokens, `k|${model}|p|${usage.source}`, [model, 'prompt', usage.source]).inc(usage.promptTokens)
    this.counter(this.tokens, `k|${model}|c|${usage.source}`, [model, 'completion', usage.source]).inc(usage.completionTokens)
    this.counter(this.cost, `c|${model}`, [model]).inc(costUsd)
  }

  upstreamError (upstream: string, reason: string): void {
    this.counter(this.upstreamErrors, `e|${upstream}|${reason}`, [upstream, reason]).inc()
  }

  limited (scope: 'key' | 'tokens' | 'budget'): void {
    this.counter(this.rateLimited, `l|${scope}`, [scope]).inc()
  }

  streamAborted (side: 'client' | 'upstream'): void {
    this.counter(this.streamAborts, `a|${side}`, [side]).inc()
  }
}

declare module 'fastify' {
  interface FastifyInstance { metrics: GatewayMetrics }
}

export default fp(async function metricsPlugin (app) {
  app.decorate('metrics', new GatewayMetrics())
}, { name: 'metrics', fastify: '5.x' })
