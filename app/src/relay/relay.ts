// The relay: undici pools per upstream, ordered targets tried before the first byte, then either a JSON
// answer passed through as bytes or an SSE stream piped as it arrives. Accounting data goes to request.ctx.
import { Pool } from 'undici'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config, UpstreamConfig } from '../config.js'
import { GatewayError } from '../errors.js'
import { clientResponseHeaders, headerString, upstreamRequestHeaders } from '../lib/headers.js'
import { accountUsage, completionText, streamResponse, type StreamDeps } from './respond.js'
import type { ModelEntry, Target } from '../lib/models.js'
import { BodyTooLarge, readBounded } from '../lib/read-body.js'
import { CircuitBreaker } from '../lib/circuit-breaker.js'
import { looksLikeJsonObject, usageValue } from '../lib/json-answer.js'
import { RelayAbort } from '../lib/relay-abort.js'
import { usageFrom } from '../lib/sse-scanner.js'
import { TotalTimeout, fromTransportError, fromUpstreamStatus, invalidResponse, type UpstreamFailure } from '../lib/upstream-errors.js'

const MAX_ERROR_BODY = 64 * 1024
const MAX_JSON_BODY = 64 * 1024 * 1024

export interface RelayJob {
  /** path below the upstream base, e.g. /chat/completions */
  path: string
  body: Record<string, unknown>
  raw: Buffer
  stream: boolean
  /** the gateway asks for stream usage itself and removes the usage chunk again */
  injectUsage: boolean
  entry: ModelEntry | undefined
}

const USAGE_OPTION = Buffer.from('{"stream_options":{"include_usage":true},')

class ShutdownAbort extends Error {
  constructor () { super('gateway shutting down'); this.name = 'ShutdownAbort' }
}

interface Upstream {
  cfg: UpstreamConfig
  pool: Pool
  breaker: CircuitBreaker
  /** false once the upstream refused `stream_options`: its streams are accounted by estimate */
  streamUsage: boolean
}

/** A 400/422 that names `stream_options`: an upstream that does not know the option. */
const REJECTS_STREAM_OPTIONS = /stream_options/i

/** A JSON object from bytes, or undefined when they are not one. */
function parseObject (buf: Buffer): Record<string, unknown> | undefined {
  try {
    const doc = JSON.parse(buf.toString('utf8')) as unknown
    return typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? doc as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
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
  private readonly streamDeps: StreamDeps

  constructor (private readonly config: Config, private readonly metrics: FastifyRequest['server']['metrics']) {
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
    this.streamDeps = {
      metrics,
      pingIntervalMs: config.streamPingIntervalMs,
      upstreamFailed: (name) => { this.upstreams.get(name)?.breaker.failure() }
    }
  }

  get inFlight (): number { return this.active.size }

  /** Relays started since the process began. */
  get started (): number { return this.startedTotal }

  /** Ends every upstream request now (after the shutdown grace period). */
  abortAll (): void {
    for (const ac of this.active) ac.abort(new ShutdownAbort())
  }

  async close (): Promise<void> {
    await Promise.all([...this.upstreams.values()].map(async (u) => { await u.pool.close() }))
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

  private payloadFor (job: RelayJob, upstreamModel: string, injectUsage: boolean): Buffer {
    if (upstreamModel === job.body.model) {
      if (!injectUsage) return job.raw
      // Most streams: splice the option in front of the client's own bytes instead of re-serializing.
      if (job.body.stream_options === undefined && job.raw[0] === 0x7b && job.raw.indexOf('"stream_options"') < 0) {
        return Buffer.concat([USAGE_OPTION, job.raw.subarray(1)])
      }
    }
    const out: Record<string, unknown> = { ...job.body, model: upstreamModel }
    if (injectUsage) {
      const so = job.body.stream_options
      out.stream_options = { ...(typeof so === 'object' && so !== null ? so : {}), include_usage: true }
    }
    return Buffer.from(JSON.stringify(out))
  }

  async forward (request: FastifyRequest, reply: FastifyReply, job: RelayJob): Promise<FastifyReply> {
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
    const failureOf = (err: unknown): UpstreamFailure => {
      const reason: unknown = ac.reason
      if (reason instanceof ShutdownAbort) return { reason: 'reset', tryNext: false, error: new GatewayError('shutting_down'), byGateway: true }
      return fromTransportError(reason instanceof TotalTimeout ? reason : err)
    }
    try {
      const targets: Target[] = job.entry?.targets ?? [{ upstream: 'default', model: String(job.body.model) }]
      for (let i = 0; i < targets.length; i++) {
        const target = targets[i] as Target
        const up = this.upstreams.get(target.upstream) as Upstream
        const last = i === targets.length - 1
        // An upstream that keeps failing is skipped while a later target remains; the last target is
        // always tried, so the breaker never refuses a request that has nowhere else to go.
        if (!up.breaker.allow() && !last) {
          this.metrics.upstreamError(up.cfg.name, 'circuit_open')
          continue
        }
        const injectUsage = job.injectUsage && up.streamUsage
        const payload = this.payloadFor(job, target.model, injectUsage)
        const t0 = performance.now()
        ctx.upstream = up.cfg.name
        let res: Awaited<ReturnType<Pool['request']>>
        try {
          res = await up.pool.request({
            method: 'POST',
            path: up.cfg.basePath + job.path,
            headers: upstreamRequestHeaders(request.headers, request.id, up.cfg.apiKey, payload.length),
            body: payload,
            signal: ac
          })
        } catch (err) {
          if (clientGone) { up.breaker.release(); return reply.hijack() }
          const failure = failureOf(err)
          if (failure.byGateway === true) { up.breaker.release(); throw failure.error }
          this.metrics.upstreamError(up.cfg.name, failure.reason)
          up.breaker.failure()
          if (failure.tryNext && !last) continue
          throw this.final(failure, i)
        }
        ctx.upstreamStatus = res.statusCode
        if (res.statusCode < 200 || res.statusCode >= 300) {
          let text = ''
          try {
            text = (await readBounded(res.body, MAX_ERROR_BODY)).toString('utf8')
          } catch (err) {
            // The client left while the error body was read: free a half-open probe slot.
            if (clientGone) { up.breaker.release(); return reply.hijack() }
          }
          this.metrics.upstreamAttempt(up.cfg.name, ctx.model, (performance.now() - t0) / 1000)
          if (injectUsage && (res.statusCode === 400 || res.statusCode === 422) && REJECTS_STREAM_OPTIONS.test(text)) {
            // The option was the gateway's own idea: send the request again without it, here and from now on.
            up.streamUsage = false
            up.breaker.success()
            request.log.warn({ upstream: up.cfg.name, status: res.statusCode }, 'upstream rejects stream_options: its streams are now sent without it, and their usage is estimated')
            i--
            continue
          }
          const mapped = fromUpstreamStatus(res.statusCode, res.headers, text, this.secrets)
          this.metrics.upstreamError(up.cfg.name, mapped.reason)
          if (mapped.reason === 'status_5xx') up.breaker.failure()
          else up.breaker.success() // it answered: 4xx, 429 and auth errors are not outages
          if ('error' in mapped) {
            if (mapped.tryNext && !last) continue
            throw this.final(mapped, i)
          }
          return reply.code(mapped.status).type('application/json; charset=utf-8').send(mapped.body)
        }
        up.breaker.success()
        const contentType = headerString(res.headers, 'content-type') ?? ''
        if (job.stream && contentType.startsWith('text/event-stream')) {
          await streamResponse(request, reply, job, res, this.streamDeps, () => clientGone, failureOf)
          this.metrics.upstreamAttempt(up.cfg.name, ctx.model, (performance.now() - t0) / 1000)
          return reply
        }
        let buf: Buffer
        try {
          buf = await readBounded(res.body, MAX_JSON_BODY)
        } catch (err) {
          if (clientGone) return reply.hijack()
          const failure = err instanceof BodyTooLarge ? invalidResponse('body too large') : failureOf(err)
          if (failure.byGateway === true) throw failure.error
          this.metrics.upstreamError(up.cfg.name, failure.reason)
          throw failure.error
        }
        this.metrics.upstreamAttempt(up.cfg.name, ctx.model, (performance.now() - t0) / 1000)
        // The answer goes out as the upstream's bytes; only its usage object is parsed. The whole
        // answer is parsed only without usage, to check it and to estimate the completion.
        const usage = looksLikeJsonObject(buf) ? usageFrom(usageValue(buf)) : undefined
        const doc = usage === undefined ? parseObject(buf) : undefined
        if (usage === undefined && doc === undefined) {
          const failure = invalidResponse('not JSON')
          this.metrics.upstreamError(up.cfg.name, failure.reason)
          throw failure.error
        }
        reply.code(200).headers(clientResponseHeaders(res.headers)).send(buf)
        await accountUsage(request, job, usage, () => completionText(doc ?? {}))
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

  /** The error the client gets once no further target will be tried. */
  private final (failure: UpstreamFailure, attemptIndex: number): GatewayError {
    // The gateway already tried other targets: a client retry right away would only add load.
    if (attemptIndex > 0) failure.error.headers['x-should-retry'] = 'false'
    return failure.error
  }
}
