// GET /healthz (the process answers), GET /readyz (this replica takes traffic: started, not
// draining) and GET /readyz?deps=1 (also the upstream and Redis; checks cached briefly, for ops).
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

interface Readiness { ok: boolean, checks: Record<string, string> }

async function health (app: FastifyInstance): Promise<void> {
  let cached: { at: number, result: Readiness } | undefined
  let running: Promise<Readiness> | undefined

  async function check (): Promise<Readiness> {
    const checks: Record<string, string> = {}
    const [upstream, redis] = await Promise.all([
      app.relay.probe(),
      app.redis === undefined
        ? Promise.resolve('not configured')
        : app.redis.ping().then(() => undefined, (err: Error) => `unreachable (${err.message})`)
    ])
    checks.upstream = upstream ?? 'ok'
    checks.redis = redis ?? 'ok'
    return { ok: upstream === undefined && (redis === undefined || redis === 'not configured'), checks }
  }

  app.get('/healthz', async () => ({ status: 'ok' }))

  // Readiness is about this replica only. An upstream or Redis outage is the same for every
  // replica: failing readiness for it would take all of them out of the load balancer at once
  // and turn the gateway's quick JSON 502s into connection errors. `?deps=1` adds those checks.
  app.get<{ Querystring: { deps?: string } }>('/readyz', async (request, reply) => {
    if (app.shuttingDown) return await reply.code(503).send({ status: 'shutting_down' })
    const deps = request.query.deps
    if (deps === undefined || deps === '' || deps === '0' || deps === 'false') return { status: 'ok' }
    const ttl = app.gatewayConfig.readyCacheMs
    if (cached === undefined || performance.now() - cached.at > ttl) {
      running ??= check().finally(() => { running = undefined })
      cached = { at: performance.now(), result: await running }
    }
    const { ok, checks } = cached.result
    return await reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks })
  })
}

// Its own scope (encapsulated), with what it reads declared.
export default fp(health, { name: 'health-routes', dependencies: ['upstream', 'redis', 'request-context'], decorators: { fastify: ['gatewayConfig'] }, encapsulate: true, fastify: '5.x' })
