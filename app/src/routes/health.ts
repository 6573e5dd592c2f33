// GET /healthz (the process answers) and GET /readyz (upstream and Redis reachable; checks cached briefly).
import type { FastifyInstance } from 'fastify'

interface Readiness { ok: boolean, checks: Record<string, string> }

export default async function health (app: FastifyInstance): Promise<void> {
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

  app.get('/readyz', async (_request, reply) => {
    if (app.shuttingDown) return await reply.code(503).send({ status: 'shutting_down' })
    const ttl = app.gatewayConfig.readyCacheMs
    if (cached === undefined || performance.now() - cached.at > ttl) {
      running ??= check().finally(() => { running = undefined })
      cached = { at: performance.now(), result: await running }
    }
    const { ok, checks } = cached.result
    return await reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks })
  })
}
