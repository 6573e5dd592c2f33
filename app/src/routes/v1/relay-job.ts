// Turns a validated request into a relay job: resolved model, streaming mode, usage injection.
import type { FastifyRequest } from 'fastify'
import type { RelayJob } from '../../plugins/upstream.js'
import { resolveModel } from './resolve-model.js'

export function relayJob (request: FastifyRequest, path: string): RelayJob {
  const body = request.body as Record<string, unknown>
  const entry = resolveModel(request, body.model as string)
  const stream = body.stream === true
  request.ctx.stream = stream
  const so = body.stream_options as { include_usage?: unknown } | null | undefined
  return {
    path,
    body,
    raw: request.rawBody as Buffer,
    stream,
    injectUsage: stream && so?.include_usage !== true,
    entry
  }
}
