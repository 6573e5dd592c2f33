// The validate + route stages for one request: body (JSON or a streamed upload), model, targets.
import type { FastifyRequest } from 'fastify'
import { GatewayError } from '../../errors.js'
import type { Target } from '../../lib/models.js'
import type { RelayJob } from '../../relay/job.js'
import { openUpload, type Upload } from '../../relay/upload.js'
import type { SurfaceRoute } from '../../surfaces/index.js'
import { resolveModel } from './resolve-model.js'

const ID_RE = /^[A-Za-z0-9_-]{1,200}$/

/** Targets of a stored object's routes: the upstream that created it, when several could have. */
async function pinned (request: FastifyRequest, route: SurfaceRoute, body: Record<string, unknown> | undefined, targets: Target[]): Promise<Target[]> {
  if (route.affinity === undefined || request.server.gatewayConfig.upstreams.length < 2) return targets
  const id = route.affinity === 'id-param' ? (request.params as { id: string }).id : body?.previous_response_id
  if (typeof id !== 'string') return targets
  const upstream = await request.server.affinity.lookup(id)
  if (upstream === undefined) return targets
  const same = targets.filter((t) => t.upstream === upstream)
  return same.length > 0 ? same : [{ upstream, model: (targets[0] as Target).model }]
}

export async function relayJob (request: FastifyRequest, route: SurfaceRoute): Promise<RelayJob> {
  const { surface } = route
  const config = request.server.gatewayConfig
  const ctx = request.ctx
  if (route.affinity === 'id-param' && !ID_RE.test((request.params as { id: string }).id)) {
    throw new GatewayError('not_found', { message: 'No such response id.' })
  }
  let body: Record<string, unknown> | undefined
  let upload: Upload | undefined
  let model: string | undefined
  if (route.body === 'json') {
    body = request.body as Record<string, unknown>
    model = typeof body.model === 'string' ? body.model : undefined
  } else if (route.body === 'upload') {
    upload = await openUpload(request.raw, config.bodyLimitBytes)
    model = upload.model
  }
  if (route.model === 'required' && model === undefined) {
    throw new GatewayError('missing_required_parameter', { param: 'model', message: 'Missing required parameter: \'model\'.' })
  }
  const entry = model === undefined ? undefined : resolveModel(request, model, surface)
  let targets: Target[] = entry?.targets ?? [{ upstream: 'default', model: model ?? '' }]
  targets = await pinned(request, route, body, targets)
  if (surface.needsMessagesUpstream === true) {
    const speaks = new Set(config.upstreams.filter((u) => u.messages).map((u) => u.name))
    targets = targets.filter((t) => speaks.has(t.upstream))
    if (targets.length === 0) throw new GatewayError('messages_not_supported')
  }
  if (upload !== undefined) {
    // A streamed body can be sent once: one target, and the model's upstream name written into it.
    targets = targets.slice(0, 1)
    const first = targets[0] as Target
    if (first.model !== '') upload.rewriteModel(first.model)
  }
  const stream = body?.stream === true
  ctx.stream = stream
  const so = body?.stream_options as { include_usage?: unknown } | null | undefined
  return {
    surface,
    method: route.method,
    // the client's path and query below /v1, as sent
    path: request.url.slice(3),
    body,
    raw: request.rawBody,
    upload,
    stream,
    injectUsage: stream && surface.asksStreamUsage && so?.include_usage !== true,
    entry,
    targets
  }
}
