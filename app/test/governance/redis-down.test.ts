// LIMITS_ON_REDIS_DOWN: with Redis stopped, `closed` answers 503 limits_unavailable (JSON, never a
// 500) and `open` serves uncounted; both count llm_gateway_redis_errors_total and recover by themselves.
import t from 'tap'
import { hashKey } from '../../src/lib/keys.js'
import { assertOpenAIError } from '../support/http.js'
import { chatBody, metricValue, startTestGateway, type TestGateway } from '../support/gateway.js'
import { waitFor } from '../support/wait.js'
import { startRedis } from '../support/redis.js'

const KEY = 'sk-gw-governance-redis-down'

t.test('closed and open, Redis stopped and started again', async (t) => {
  const redis = await startRedis(t)
  const gw = async (mode: 'open' | 'closed'): Promise<TestGateway> => {
    const g = await startTestGateway({ env: { GATEWAY_KEYS: `k:${hashKey(KEY)} rpm=1000 tpm=100000 budget=100`, REDIS_URL: redis.url, LIMITS_ON_REDIS_DOWN: mode, LOG_LEVEL: 'warn' } })
    t.teardown(async () => { await g.close() })
    return g
  }
  const closed = await gw('closed')
  const open = await gw('open')
  const chat = async (g: TestGateway): Promise<Awaited<ReturnType<TestGateway['app']['inject']>>> =>
    await g.app.inject({ method: 'POST', url: '/v1/chat/completions', headers: { authorization: `Bearer ${KEY}` }, payload: chatBody() })

  t.equal((await chat(closed)).statusCode, 200, 'closed: served while Redis is up')
  t.equal((await chat(open)).statusCode, 200, 'open: served while Redis is up')

  await redis.stop()
  const refused = await chat(closed)
  assertOpenAIError(t, refused, 503, 'api_error', 'limits_unavailable')
  t.match(refused.headers['content-type'], /application\/json/)
  t.equal(refused.headers['retry-after'], '2')
  t.equal((await chat(closed)).statusCode, 503, 'closed: every request while Redis is down')
  t.equal((await chat(open)).statusCode, 200, 'open: served while Redis is down')
  t.ok(await metricValue(closed.app, 'llm_gateway_redis_errors_total', { op: 'limits' }) >= 2, 'closed: counted')
  t.ok(await metricValue(open.app, 'llm_gateway_redis_errors_total') >= 1, 'open: counted')
  t.equal(closed.mock.stats().requests, 1, 'nothing refused reached the upstream')

  await redis.start()
  t.ok(await waitFor(async () => (await chat(closed)).statusCode === 200, 20_000, 100), 'closed: serves again once Redis is back')
  t.equal((await chat(open)).statusCode, 200, 'open: still serving')
  t.match(closed.logs(), /LIMITS_ON_REDIS_DOWN=closed/, 'the outage is logged with the mode')
})
