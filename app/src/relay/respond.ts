// How a relay answers once the upstream said 200: an SSE stream piped as it arrives, and the
// accounting of usage (from the upstream, or a tokenizer estimate labelled as such) and cost.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Dispatcher } from 'undici'
import { clientResponseHeaders } from '../lib/headers.js'
import { SseScanner } from '../lib/sse-scanner.js'
import { relayStream } from '../lib/stream-relay.js'
import type { UpstreamFailure } from '../lib/upstream-errors.js'
import { costUsd, estimateTokens, promptText, type Usage } from '../lib/usage.js'
import type { RelayJob } from './relay.js'

export interface StreamDeps {
  metrics: FastifyRequest['server']['metrics']
  pingIntervalMs: number
  /** tells the upstream's circuit breaker that a started stream failed */
  upstreamFailed: (upstream: string) => void
}

/** Commits a 200 SSE response and pipes the upstream stream into it. */
export async function streamResponse (request: FastifyRequest, reply: FastifyReply, job: RelayJob, res: Dispatcher.ResponseData<unknown>, deps: StreamDeps, clientGone: () => boolean, failureOf: (err: unknown) => UpstreamFailure): Promise<void> {
  const ctx = request.ctx
  reply.hijack()
  const out = reply.raw
  out.writeHead(200, {
    ...(reply.getHeaders() as Record<string, string>),
    ...clientResponseHeaders(res.headers),
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no'
  })
  // Headers go out now, not with the first token: a reasoning model may think for a minute, and
  // the client (and every proxy between) should know the stream is open.
  out.flushHeaders()
  const scanner = new SseScanner(job.injectUsage)
  const outcome = await relayStream({ body: res.body, res: out, scanner, pingIntervalMs: deps.pingIntervalMs, clientGone, failureOf })
  if (outcome.abortedBy !== undefined) {
    ctx.abortedBy = outcome.abortedBy
    deps.metrics.streamAborted(outcome.abortedBy)
  }
  if (outcome.failure !== undefined) {
    ctx.errorCode = outcome.failure.error.code
    if (outcome.failure.byGateway !== true) {
      deps.metrics.upstreamError(ctx.upstream ?? 'default', outcome.failure.reason)
      deps.upstreamFailed(ctx.upstream ?? 'default')
    }
  }
  if (scanner.firstTokenAt !== undefined) {
    ctx.ttftMs = scanner.firstTokenAt - ctx.start
    deps.metrics.firstToken(ctx.model, ctx.ttftMs / 1000)
  }
  await accountUsage(request, job, scanner.usage, () => scanner.capturedText())
}

/** Tokens of the generated text; `scale` extrapolates when only the start of a long stream was kept. */
async function estimateCompletion (seen: string | { text: string, scale: number }): Promise<number> {
  if (typeof seen === 'string') return await estimateTokens(seen)
  return Math.round((await estimateTokens(seen.text)) * seen.scale)
}

/** Usage from the upstream, or a tokenizer estimate labelled as such; then cost. */
export async function accountUsage (request: FastifyRequest, job: RelayJob, upstream: { promptTokens: number, completionTokens: number } | undefined, completion: () => string | { text: string, scale: number }): Promise<void> {
  const ctx = request.ctx
  let usage: Usage
  if (upstream !== undefined) {
    usage = { ...upstream, source: 'upstream' }
  } else {
    usage = {
      promptTokens: await estimateTokens(promptText(job.body)),
      completionTokens: await estimateCompletion(completion()),
      source: 'estimated'
    }
  }
  ctx.usage = usage
  ctx.costUsd = job.entry === undefined ? 0 : costUsd(job.entry.price, usage)
}

/** The generated text of a JSON answer (chat or legacy completion), for an estimate. */
export function completionText (doc: Record<string, unknown>): string {
  if (!Array.isArray(doc.choices)) return ''
  return doc.choices.map((c: { message?: { content?: unknown }, text?: unknown }) => {
  const content = c?.message?.content ?? c?.text
  return typeof content === 'string' ? content : ''
  }).join('')
}

