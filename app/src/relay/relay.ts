// The relay core, one path for every surface: ordered targets tried before the first byte (attempt.ts),
// then the answer as JSON bytes, an SSE stream piped as it arrives, or other bytes piped through.
import { Pool } from 'undici'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config.js'
import { GatewayError } from '../errors.js'
import { CircuitBreaker } from '../lib/circuit-breaker.js'
import { headerString } from '../lib/headers.js'
import { retryAfterSeconds } from '../lib/retry-after.js'
import { RelayAbort } from '../lib/relay-abort.js'
import { TotalTimeout, fromTransportError, type UpstreamFailure } from '../lib/upstream-errors.js'
import type { Affinity } from './affinity.js'
import { attempt, type AttemptEnv, type Upstream } from './attempt.js'
import { bytesAnswer } from './bytes-answer.js'
import type { ResponseCache } from './cache.js'
import type { Cooldowns, Verdict } from './cooldown.js'
import type { ReplicaEvents } from './events.js'
import { UpstreamHealth } from './health.js'
import type { Idempotency } from './idempotency.js'
import { serve, type GovernedFeature, type ServeDeps } from './serve.js'
import type { RelayJob } from './job.js'
import { jsonAnswer } from './json-answer.js'
import type { AnswerRecorder } from './stored-answer.js'
import { streamAnswer } from './stream-answer.js'

export type { RelayJob } from './job.js'

/** The state every replica shares through Redis: cooldowns, the response cache, Idempotency-Key results. */
export interface Shared {
  events: ReplicaEvents | undefined
  cooldowns: Cooldowns
  cache: ResponseCache
  idempotency: Idempotency
  /** a Redis failure made the cache or idempotency step aside for a request */
  failed: (feature: GovernedFeature, err: Error) => void
}

class ShutdownAbort extends Error {
  constructor () { super('gateway shutting down'); this.name = 'ShutdownAbort' }
}

/** The answer for a target every replica holds back: the wait that is left, as a decreasing Retry-After. */
function cooledError (verdict: Extract<Verdict, { pass: false }>): GatewayError {
  const s = retryAfterSeconds(verdict.waitMs)
  const headers = { 'retry-after': s, 'retry-after-ms': String(Math.ceil(verdict.waitMs)) }
  if (verdict.kind === 'rate_limited') {
    return new GatewayError('rate_limit_exceeded', { message: `The upstream service is rate limiting this gateway. Retry in ${s} s.`, headers })
  }
  return new GatewayError('upstream_unavailable', { message: `The upstream service is failing; the gateway holds requests back for ${s} s.`, headers })
}

function deferred (): { promise: Promise<void>, resolve: () => void } {
  let resolve: () => void = () => {}
  const promise = new Promise<void>((r) => { resolve = r })
  return { promise, resolve }
}

export class Relay {
  private readonly upstreams = new Map<string, Upstream>()
  private readonly active = new Set<RelayAbort>()
  private startedTotal = 0
  private readonly secrets: string[]
  private readonly health: UpstreamHealth
  private readonly front: ServeDeps

  constructor (private readonly config: Config, private readonly metrics: FastifyRequest['server']['metrics'], private readonly affinity: Affinity, private readonly shared: Shared) {
    this.health = new UpstreamHealth(shared.cooldowns, config.breaker.cooldownMs)
    this.front = { relay: this, cache: shared.cache, idempotency: shared.idempotency, failed: shared.failed, chargeHits: config.cache.chargeHits, metrics }
    for (const cfg of config.upstreams) {
      const pool = new Pool(cfg.origin, {
        connections: config.upstreamMaxConnections,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        connect: { timeout: config.timeouts.connectMs },
        headersTimeout: config.timeouts.headersMs,
        bodyTimeout: config.timeouts.idleMs
      })
      this.upstreams.set(cfg.name, { cfg, pool, breaker: new CircuitBreaker(config.breaker.failures, config.breaker.cooldownMs), streamUsage: true })
    }
    this.secrets = config.upstreams.map((u) => u.apiKey).filter((k) => k !== '')
  }

  get inFlight (): number { return this.active.size }

  /** Relays started since the process began. */
  get started (): number { return this.startedTotal }

  /** Ends every upstream request now (after the shutdown grace period). */
  abortAll (): void {
    for (const ac of this.active) ac.abort(new ShutdownAbort())
  }

  async close (): Promise<void> {
    this.shared.events?.close()
    await Promise.all([...this.upstreams.values()].map(async (u) => { await u.pool.close() }))
  }

  /**
   * Takes a reloaded configuration (SIGHUP): a pool for each new upstream or one whose address
   * changed. A replaced pool closes once its requests have ended, so requests in flight finish on it.
   */
  swap (config: Config): void {
    for (const cfg of config.upstreams) {
      const old = this.upstreams.get(cfg.name)
      if (cfg.apiKey !== '' && !this.secrets.includes(cfg.apiKey)) this.secrets.push(cfg.apiKey)
      if (old !== undefined && old.cfg.origin === cfg.origin) { old.cfg = cfg; continue }
      const pool = new Pool(cfg.origin, {
        connections: this.config.upstreamMaxConnections,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        connect: { timeout: this.config.timeouts.connectMs },
        headersTimeout: this.config.timeouts.headersMs,
        bodyTimeout: this.config.timeouts.idleMs
      })
      this.upstreams.set(cfg.name, { cfg, pool, breaker: new CircuitBreaker(this.config.breaker.failures, this.config.breaker.cooldownMs), streamUsage: true })
      old?.pool.close().catch(() => {})
    }
  }

  /** Can the default upstream be reached and does it accept our key? */
  async probe (): Promise<string | undefined> {
    const up = this.upstreams.get('default') as Upstream
    try {
      const res = await up.pool.request({
        method: 'GET',
        path: `${up.cfg.basePath}/models`,
        headers: up.cfg.apiKey === '' ? {} : { authorization: `Bearer ${up.cfg.apiKey}` },
        headersTimeout: 3000,
        bodyTimeout: 3000
      })
      await res.body.dump()
      if (res.statusCode === 401 || res.statusCode === 403) return 'upstream rejects the gateway\'s API key'
      if (res.statusCode >= 500) return `upstream answers ${res.statusCode}`
      return undefined
    } catch (err) {
      return `upstream unreachable (${fromTransportError(err).reason})`
    }
  }

  /** Answers one job: from an Idempotency-Key's or the cache's stored answer when one applies, else by relaying it. */
  async serve (request: FastifyRequest, reply: FastifyReply, job: RelayJob): Promise<FastifyReply> {
    return await serve(request, reply, job, this.front)
  }

  /** Relays one job; `recorder` (cache, Idempotency-Key) is told what the client was sent. */
  async forward (request: FastifyRequest, reply: FastifyReply, job: RelayJob, recorder?: AnswerRecorder): Promise<FastifyReply> {
    const ctx = request.ctx
    const accounted = deferred()
    ctx.pendingUsage = accounted.promise
    const ac = new RelayAbort()
    let clientGone = false
    const onClose = (): void => {
      if (!reply.raw.writableFinished) { clientGone = true; ac.abort() }
    }
    reply.raw.on('close', onClose)
    this.active.add(ac)
    this.startedTotal++
    const totalMs = this.config.timeouts.totalMs
    const total = totalMs > 0 ? setTimeout(() => { ac.abort(new TotalTimeout()) }, totalMs) : undefined
    const env: AttemptEnv = {
      request,
      job,
      signal: ac,
      clientGone: () => clientGone,
      failureOf: (err) => {
        const reason: unknown = ac.reason
        if (reason instanceof ShutdownAbort) return { reason: 'reset', tryNext: false, error: new GatewayError('shutting_down'), byGateway: true }
        return fromTransportError(reason instanceof TotalTimeout ? reason : err)
      },
      metrics: this.metrics,
      secrets: this.secrets,
      health: this.health
    }
    try {
      let tried = 0
      for (let i = 0; i < job.targets.length; i++) {
        const target = job.targets[i] as (typeof job.targets)[number]
        const up = this.upstreams.get(target.upstream) as Upstream
        const last = i === job.targets.length - 1
        // A target every replica holds back (a 429's wait, an open breaker) is skipped for the next
        // one; with none left the client hears at once how long is left, instead of a failed try.
        const verdict = await this.health.cooldowns.check(up.cfg.name, target.model)
        if (!verdict.pass) {
          this.metrics.upstreamError(up.cfg.name, verdict.kind === 'breaker' ? 'circuit_open' : 'cooldown')
          if (last) throw this.final(cooledError(verdict), tried)
          continue
        }
        let result = await attempt(env, up, target)
        tried++
        // The same target again, once it refused an option the gateway had added.
        while (result.kind === 'again') result = await attempt(env, up, target)
        if (result.kind === 'gone') return reply.hijack()
        if (result.kind === 'next') {
          if (last) throw this.final(result.error, tried - 1)
          continue
        }
        await this.answer(env, reply, up, result.res, recorder)
        this.metrics.upstreamAttempt(up.cfg.name, ctx.model, (performance.now() - result.t0) / 1000)
        return reply
      }
      throw new GatewayError('upstream_unavailable')
    } finally {
      if (total !== undefined) clearTimeout(total)
      this.active.delete(ac)
      reply.raw.off('close', onClose)
      accounted.resolve()
    }
  }

  /** Answers the client with a 2xx upstream response, in the form it came. */
  private async answer (env: AttemptEnv, reply: FastifyReply, up: Upstream, res: AttemptEnvAnswer, recorder: AnswerRecorder | undefined): Promise<void> {
    const { request, job } = env
    const contentType = headerString(res.headers, 'content-type') ?? ''
    const created = (id: string): void => { if (this.upstreams.size > 1) this.affinity.remember(id, up.cfg.name) }
    const upstreamFailed = (failure: UpstreamFailure): void => {
      this.metrics.upstreamError(up.cfg.name, failure.reason)
      this.health.failure(up)
    }
    const rules = job.surface.stream
    if (job.stream && rules !== undefined && contentType.startsWith('text/event-stream')) {
      await streamAnswer(request, reply, job, rules, res, { metrics: this.metrics, pingIntervalMs: this.config.streamPingIntervalMs, clientGone: env.clientGone, failureOf: env.failureOf, upstreamFailed, created, injectedUsage: job.injectUsage && up.streamUsage, recorder })
      return
    }
    if (!job.surface.estimates && !/[/+]json/.test(contentType)) {
      // Audio, text or an SSE stream of a pass-through route: bytes through as they come.
      const abortedBy = await bytesAnswer(reply, res, env.clientGone)
      if (abortedBy !== undefined) {
        request.ctx.abortedBy = abortedBy
        this.metrics.streamAborted(abortedBy)
        if (abortedBy === 'upstream') upstreamFailed(fromTransportError(undefined))
      }
      return
    }
    // Built field by field: on Node 20 an object literal that spreads one object and adds fields
    // costs ~2–5 µs (a slow path V8 12 no longer takes), more than the rest of this function.
    await jsonAnswer(request, reply, job, res, { clientGone: env.clientGone, failureOf: env.failureOf, upstreamFailed, created, recorder })
  }

  /** The error the client gets once no further target will be tried. */
  private final (error: GatewayError, triedBefore: number): GatewayError {
    // The gateway already tried other targets: a client retry right away would only add load.
    if (triedBefore > 0) error.headers['x-should-retry'] = 'false'
    return error
  }
}

type AttemptEnvAnswer = Extract<Awaited<ReturnType<typeof attempt>>, { kind: 'answer' }>['res']
