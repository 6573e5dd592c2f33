// A 2xx SSE answer: headers committed at once, events piped as they arrive and watched on the way
// (first token, usage, created id); a failure after the start ends with the surface's error event.
import type { Dispatcher } from 'undici'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { clientResponseHeaders } from '../lib/headers.js'
import { SseScanner } from '../lib/sse-scanner.js'
import { relayStream } from '../lib/stream-relay.js'
import type { UpstreamFailure } from '../lib/upstream-errors.js'
import type { StreamRules } from '../surfaces/types.js'
import { accountUsage } from './account-usage.js'
import type { RelayJob } from './job.js'
import type { AnswerRecorder } from './stored-answer.js'

export interface StreamAnswerEnv {
  metrics: FastifyRequest['server']['metrics']
  pingIntervalMs: number
  clientGone: () => boolean
  failureOf: (err: unknown) => UpstreamFailure
  /** a started stream failed on the upstream's side (breaker) */
  upstreamFailed: (failure: UpstreamFailure) => void
  created: (id: string) => void
  /** the gateway asked this upstream for stream usage on the client's behalf */
  injectedUsage: boolean
  /** told every byte the client gets and whether the stream reached its final event (cache, Idempotency-Key) */
  recorder?: AnswerRecorder
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no'
} as const

export async function streamAnswer (request: FastifyRequest, reply: FastifyReply, job: RelayJob, rules: StreamRules, res: Dispatcher.ResponseData, env: StreamAnswerEnv): Promise<void> {
  const ctx = request.ctx
  reply.hijack()
  const out = reply.raw
  const upstreamHeaders = clientResponseHeaders(res.headers)
  // Object.assign, not spreads: on Node 20 `{ ...a, ...b, k: v }` costs ~5 µs, Object.assign ~0.3.
  out.writeHead(200, Object.assign({}, reply.getHeaders() as Record<string, string>, upstreamHeaders, SSE_HEADERS))
  // Headers go out now, not with the first token: a reasoning model may think for a minute, and
  // the client (and every proxy between) should know the stream is open.
  out.flushHeaders()
  const scanner = new SseScanner(rules, env.injectedUsage && rules.stripsInjectedUsage)
  const recorder = env.recorder
  recorder?.head(200, { 'content-type': upstreamHeaders['content-type'] ?? 'text/event-stream; charset=utf-8' }, true)
  const outcome = await relayStream({
    sent: recorder === undefined ? undefined : (bytes: Buffer) => { recorder.bytes(bytes) },
    body: res.body,
    res: out,
    scanner,
    pingIntervalMs: env.pingIntervalMs,
    clientGone: env.clientGone,
    failureOf: env.failureOf,
    errorEvent: (err) => rules.errorEvent(err, scanner.last)
  })
  if (scanner.createdId !== undefined) env.created(scanner.createdId)
  // Kept only when whole: it ended cleanly and its last events include the surface's final one.
  recorder?.end(outcome.abortedBy === undefined && outcome.failure === undefined && scanner.last !== undefined && rules.completed.test(scanner.last.toString('latin1')))
  if (outcome.abortedBy !== undefined) {
    ctx.abortedBy = outcome.abortedBy
    env.metrics.streamAborted(outcome.abortedBy)
  }
  if (outcome.failure !== undefined) {
    ctx.errorCode = outcome.failure.error.code
    if (outcome.failure.byGateway !== true) env.upstreamFailed(outcome.failure)
  }
  if (scanner.firstTokenAt !== undefined) {
    ctx.ttftMs = scanner.firstTokenAt - ctx.start
    env.metrics.firstToken(ctx.model, ctx.ttftMs / 1000)
  }
  await accountUsage(request, job, scanner.usage, () => scanner.capturedText())
}
