// /readyz reflects the replica itself (started, not draining), so an upstream or Redis outage
// never takes every replica out of a load balancer at once; /readyz?deps=1 keeps the dependency
// view for ops. Regression: /readyz failed on every replica while Redis or the upstream was down.
import t from 'tap'
import { createServer } from 'node:net'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'

/** A loopback port nothing listens on. */
async function closedPort (): Promise<number> {
  return await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

t.test('upstream and Redis down: ready, and the dependency view says why', async (t) => {
  const upstreamPort = await closedPort()
  const redisPort = await closedPort()
  const app = await buildApp(loadConfig({
    UPSTREAM_BASE_URL: `http://127.0.0.1:${upstreamPort}/v1`,
    UPSTREAM_API_KEY: 'sk-test',
    GATEWAY_KEYS: 't:' + '0'.repeat(64),
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    READY_CACHE_MS: '0',
    LOG_LEVEL: 'silent'
  }))
  t.teardown(async () => { await app.close() })

  const self = await app.inject('/readyz')
  t.equal(self.statusCode, 200, 'the replica itself is ready')
  t.same(self.json(), { status: 'ok' })
  t.equal((await app.inject('/readyz?deps=0')).statusCode, 200)

  const deps = await app.inject('/readyz?deps=1')
  t.equal(deps.statusCode, 503, 'the dependency view fails')
  t.match(deps.json(), { status: 'unavailable', checks: { upstream: /./, redis: /unreachable/ } })
  t.not(deps.json().checks.upstream, 'ok')

  t.equal((await app.inject('/healthz')).statusCode, 200, 'alive')

  app.shuttingDown = true
  t.equal((await app.inject('/readyz')).statusCode, 503, 'draining: not ready')
  t.same((await app.inject('/readyz')).json(), { status: 'shutting_down' })
})
