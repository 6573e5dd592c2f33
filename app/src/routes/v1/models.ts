// GET /v1/models: the configured models this key may use, in OpenAI's list format.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { GatewayError } from '../../errors.js'

async function models (app: FastifyInstance): Promise<void> {
  const created = Math.floor(Date.now() / 1000)
  // Built once per catalogue: a reload (SIGHUP) brings a new one.
  const lists = new WeakMap<object, Array<{ id: string, object: string, created: number, owned_by: string }>>()
  app.get('/models', async (request) => {
    const catalog = app.gatewayConfig.catalog
    let all = lists.get(catalog)
    if (all === undefined) {
      all = catalog.models.map((m) => ({ id: m.id, object: 'model', created, owned_by: m.ownedBy }))
      lists.set(catalog, all)
    }
    const allowed = request.ctx.key?.models
    return { object: 'list', data: allowed === undefined ? all : all.filter((m) => allowed.has(m.id)) }
  })
  app.get<{ Params: { id: string } }>('/models/:id', async (request) => {
    const entry = app.gatewayConfig.catalog.lookup(request.params.id)
    const allowed = request.ctx.key?.models
    if (entry === undefined || (allowed !== undefined && !allowed.has(entry.id))) {
      throw new GatewayError('not_found', { param: 'model', message: `The model '${request.params.id.slice(0, 256)}' does not exist or is not available to this key.` })
    }
    return { id: entry.id, object: 'model', created, owned_by: entry.ownedBy }
  })
}

// Its own scope (encapsulated), with what it reads declared.
export default fp(models, { name: 'models-routes', decorators: { fastify: ['gatewayConfig'] }, encapsulate: true, fastify: '5.x' })
