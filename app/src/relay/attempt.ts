// One attempt at one target: send the request, classify the answer, tell the target's health (breaker, cooldowns).
import { Readable } from 'node:stream'
import type { Dispatcher, Pool } from 'undici'
import type { FastifyRequest } from 'fastify'
import type { UpstreamConfig } from '../config.js'
import { GatewayError } from '../errors.js'
import type { CircuitBreaker } from '../lib/circuit-breaker.js'
import { upstreamRequestHeaders, type UpstreamAuth } from '../lib/headers.js'
import type { Target } from '../lib/models.js'
import { readBounded } from '../lib/read-body.js'
import type { RelayAbort } from '../lib/relay-abort.js'
import { retryAfterMs } from '../lib/retry-after.js'
import { fromUpstreamStatus, type UpstreamFailure } from '../lib/upstream-errors.js'
import type { UpstreamHealth } from './health.js'
import { jsonPayload, type RelayJob } from './job.js'

const MAX_ERROR_BODY = 64 * 1024

/** A 400/422 that names `stream_options`: an upstream that does not know the option. */
const REJECTS_STREAM_OPTIONS = /stream_options/i

export interface Upstream {
  cfg: UpstreamConfig
  pool: Pool
  breaker: CircuitBreaker
  /** false once the upstream refused `stream_options`: its streams are accounted by estimate */
  streamUsage: boolean
}

/** What an attempt needs from the relay around it. */
export interface AttemptEnv {
  request: FastifyRequest
  job: RelayJob
  signal: RelayAbort
  clientGone: () => boolean
  failureOf: (err: unknown) => UpstreamFailure
  metrics: FastifyRequest['server']['metrics']
  secrets: readonly string[]
  /** the replica's breakers and the cooldowns shared by every replica */
  health: UpstreamHealth
}

export type AttemptResult =
  /** a 2xx: the caller answers with it */
  | { kind: 'answer', res: Dispatcher.ResponseData, t0: number }
  /** a failure another target may not have; `error` is what the client gets when none is left */
  | { kind: 'next', error: GatewayError }
  /** the same target again (it refused an option the gateway added) */
  | { kind: 'again' }
  /** the client left: nothing more to send */
  | { kind: 'gone' }

function authFor (env: AttemptEnv, up: Upstream): UpstreamAuth | undefined {
  if (up.cfg.apiKey === '') return undefined
  if (env.job.surface.errorFormat === 'anthropic' && up.cfg.messagesAuth === 'x-api-key') return { header: 'x-api-key', value: up.cfg.apiKey }
  return { header: 'authorization', value: `Bearer ${up.cfg.apiKey}` }
}

/** Sends the job to one target. Throws the GatewayError the client gets when no other target may help. */
export async function attempt (env: AttemptEnv, up: Upstream, target: Target): Promise<AttemptResult> {
  const { request, job, metrics } = env
  const injectUsage = job.injectUsage && up.streamUsage
  const payload = job.upload !== undefined ? undefined : jsonPayload(job, target.model, injectUsage)
  const body = job.upload !== undefined
    ? { contentType: job.upload.contentType, contentLength: job.upload.length }
    : payload !== undefined ? { contentType: 'application/json', contentLength: payload.length } : undefined
  const t0 = performance.now()
  request.ctx.upstream = up.cfg.name
  let res: Dispatcher.ResponseData
  try {
    res = await up.pool.request({
      method: job.method,
      path: up.cfg.basePath + job.path,
      headers: upstreamRequestHeaders(request.headers, request.id, authFor(env, up), body, job.surface.errorFormat === 'anthropic'),
      body: job.upload !== undefined ? Readable.from(job.upload.body(), { objectMode: false }) : payload,
      signal: env.signal
    })
  } catch (err) {
    if (env.clientGone()) { env.health.release(up); return { kind: 'gone' } }
    // A streamed upload that grew past the body limit: the client's error, not the upstream's.
    if (err instanceof GatewayError) { env.health.release(up); throw err }
    const failure = env.failureOf(err)
    if (failure.byGateway === true) { env.health.release(up); throw failure.error }
    metrics.upstreamError(up.cfg.name, failure.reason)
    env.health.failure(up)
    if (failure.tryNext && job.upload === undefined) return { kind: 'next', error: failure.error }
    throw failure.error
  }
  request.ctx.upstreamStatus = res.statusCode
  if (res.statusCode >= 200 && res.statusCode < 300) {
    env.health.success(up)
    return { kind: 'answer', res, t0 }
  }
  let text = ''
  try {
    text = (await readBounded(res.body, MAX_ERROR_BODY)).toString('utf8')
  } catch {
    // The client left while the error body was read: free a half-open probe slot.
    if (env.clientGone()) { env.health.release(up); return { kind: 'gone' } }
  }
  metrics.upstreamAttempt(up.cfg.name, request.ctx.model, (performance.now() - t0) / 1000)
  if (injectUsage && (res.statusCode === 400 || res.statusCode === 422) && REJECTS_STREAM_OPTIONS.test(text)) {
    // The option was the gateway's own idea: send the request again without it, here and from now on.
    up.streamUsage = false
    env.health.success(up)
    request.log.warn({ upstream: up.cfg.name, status: res.statusCode }, 'upstream rejects stream_options: its streams are now sent without it, and their usage is estimated')
    return { kind: 'again' }
  }
  const failure = fromUpstreamStatus(res.statusCode, res.headers, text, env.secrets)
  metrics.upstreamError(up.cfg.name, failure.reason)
  const wait = failure.reason === 'status_429' ? retryAfterMs(res.headers) : undefined
  if (failure.reason === 'status_5xx') env.health.failure(up)
  // A 429 that says how long to wait: every replica waits that long before sending this model there.
  else if (wait !== undefined) env.health.rateLimited(up, target.model, wait)
  else env.health.success(up) // it answered: 4xx, 429 and auth errors are not outages
  if (failure.tryNext && job.upload === undefined) return { kind: 'next', error: failure.error }
  throw failure.error
}
