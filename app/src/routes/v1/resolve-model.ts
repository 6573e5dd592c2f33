// The route stage: requested model (or alias) → catalog entry, checked against the route and the key's allowed models.
import type { FastifyRequest } from 'fastify'
import { GatewayError } from '../../errors.js'
import type { ModelEntry } from '../../lib/models.js'
import type { Surface } from '../../surfaces/types.js'

export function resolveModel (request: FastifyRequest, name: string, surface: Surface): ModelEntry | undefined {
  const { catalog, modelsPassthrough } = request.server.gatewayConfig
  const entry = catalog.lookup(name)
  const allowed = request.ctx.key?.models
  if (entry === undefined) {
    if (!modelsPassthrough) {
      throw new GatewayError('model_not_found', { param: 'model', message: `The model '${name.slice(0, 256)}' is not served by this gateway. GET /v1/models lists the models you can use.` })
    }
    // Forwarded as is; counted as "other" so a client cannot mint label values.
    if (allowed !== undefined) throw new GatewayError('model_not_allowed', { param: 'model' })
    request.ctx.model = 'other'
    return undefined
  }
  if (allowed !== undefined && !allowed.has(entry.id)) {
    throw new GatewayError('model_not_allowed', { param: 'model', message: `This API key is not allowed to use the model '${entry.id}'.` })
  }
  if (surface.modelTypes !== undefined && !surface.modelTypes.includes(entry.type)) {
    throw new GatewayError('model_wrong_type', { param: 'model', message: `The model '${entry.id}' is a ${entry.type} model; ${request.method} ${request.routeOptions.url ?? ''} takes ${surface.modelTypes.join(' or ')} models.` })
  }
  request.ctx.model = entry.id
  return entry
}
