// The validate + route stages for one request: body (JSON or a streamed upload), model, targets.
import type { FastifyRequest } from 'fastify'
import { GatewayError } from '../../errors.js'
import type { ModelEntry, Target } from '../../lib/models.js'
import type { RelayJob } from '../../relay/job.js'
import { openUpload, type Upload } from '../../relay/upload.js'
import type { SurfaceRoute } from '../../surfaces/index.js'
import { resolveModel } from './resolve-model.js'

const ID_RE = /^[A-Za-z0-9_-]{1,200}$/

/**
 * The id whose creating upstream a stored object's route must reach, when the choice matters
 * (several upstreams) and the request names one; undefined otherwise, and nothing is looked up.
 */
function pinId (request: FastifyRequest, route: SurfaceRoute, body: Record<string, unknown> | undefined): string | undefined {
  if (route.affinity === undefined || request.server.gatewayConfig.upstreams.length < 2) return undefined
  const id = route.affinity === 'id-param' ? (request.params as { id: string }).id : body?.previous_response_id
  return typeof id === 'string' ? id : undefined
}

/** Targets of a stored object's routes: the upstream that created it, when several could have. */
function pinned (targets: Target[], upstream: string | undefined): Target[] {
  if (upstream === undefined) return targets
  const same = targets.filter((t) => t.upstream === upstream)
  return same.length > 0 ? same : [{ upstream, model: (targets[0] as Target).model }]
}

/**
 * The relay job of a request. A JSON route that needs no affinity lookup gets it at once, without
 * a promise (the common case: one function call per request); an upload, whose body is read first,
 * and a stored object's route, which asks Redis where it lives, get a promise.
 */
export function relayJob (request: FastifyRequest, route: SurfaceRoute): RelayJob | Promise<RelayJob> {
  if (route.affinity === 'id-param' && !ID_RE.test((request.params as { id: string }).id)) {
    throw new GatewayError('not_found', { message: 'No such response id.' })
  }
  if (route.body === 'upload') {
    return openUpload(request.raw, request.server.gatewayConfig.bodyLimitBytes).then((upload) => routed(request, route, undefined, upload, upload.model))
  }
  const body = route.body === 'json' ? request.body as Record<string, unknown> : undefined
  return routed(request, route, body, undefined, typeof body?.model === 'string' ? body.model : undefined)
}

/** The route stage: model → catalog entry and targets (looked up in Redis for a stored object), then the job. */
function routed (request: FastifyRequest, route: SurfaceRoute, body: Record<string, unknown> | undefined, upload: Upload | undefined, model: string | undefined): RelayJob | Promise<RelayJob> {
  if (route.model === 'required' && model === undefined) {
    throw new GatewayError('missing_required_parameter', { param: 'model', message: 'Missing required parameter: \'model\'.' })
  }
  const entry = model === undefined ? undefined : resolveModel(request, model, route.surface)
  const targets: Target[] = entry?.targets ?? [{ upstream: 'default', model: model ?? '' }]
  const id = pinId(request, route, body)
  if (id === undefined) return job(request, route, body, upload, entry, targets)
  return request.server.affinity.lookup(id).then((upstream) => job(request, route, body, upload, entry, pinned(targets, upstream)))
}

function job (request: FastifyRequest, route: SurfaceRoute, body: Record<string, unknown> | undefined, upload: Upload | undefined, entry: ModelEntry | undefined, targets: Target[]): RelayJob {
  const { surface } = route
  if (surface.needsMessagesUpstream === true) {
    const speaks = new Set(request.server.gatewayConfig.upstreams.filter((u) => u.messages).map((u) => u.name))
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
  request.ctx.stream = stream
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
