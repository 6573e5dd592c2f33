// Per-key limits with real Redis: two gateway instances share one budget; tokens and spend budgets hold.
import t, { type Test } from 'tap'
import { hashKey } from '../../src/lib/keys.js'
import { freePort } from '../support/procs.js'
import { startRedis } from '../support/redis.js'
import { chatBody, metricValue, startTestGateway, type TestGateway } from '../support/gateway.js'
import { waitFor } from '../support/wait.js'
import { Redis } from 'ioredis'

const KEY = 'sk-gw-limits-test-key'

async function gateway (t: Test, redisUrl: string | undefined, entry: string): Promise<TestGateway> {
  const gw = await startTestGateway({ env: { GATEWAY_KEYS: `k:${hashKey(KEY)} ${entry}`, ...(redisUrl === undefined ? {} : { REDIS_URL: redisUrl }) } })
  t.teardown(async () => { await gw.close() })
  return gw
}

async function chat (gw: TestGateway, extra: Record<string, unknown> = {}): Promise<{ status: number, headers: Record<string, unknown>, body: { error?: { code: string } } }> {
  const res = await gw.app.inject({ method: 'POST', url: '/v1/chat/completions', headers: { authorization: `Bearer ${KEY}` }, payload: chatBody(extra) })
  return { status: res.statusCode, headers: res.headers, body: res.json() }
}

t.test('two instances on one Redis share a key\'s requests per minute', async (t) => {
  const redisUrl = (await startRedis(t)).url
  const a = await gateway(t, redisUrl, 'rpm=5')
  const b = await gateway(t, redisUrl, 'rpm=5')
  const statuses: number[] = []
  for (let i = 0; i < 10; i++) statuses.push((await chat(i % 2 === 0 ? a : b)).status)
  t.equal(statuses.filter((s) => s === 200).length, 5, 'exactly 5 of 10 pass across both instances')
  t.equal(statuses.filter((s) => s === 429).length, 5)
  const last = await chat(a)
  t.equal(last.status, 429)
  t.equal(last.body.error?.code, 'rate_limit_exceeded')
  t.equal(last.headers['x-ratelimit-limit-requests'], '5')
  t.equal(last.headers['x-ratelimit-remaining-requests'], '0')
  t.match(String(last.headers['retry-after']), /^\d+$/)
  t.equal(await metricValue(a.app, 'llm_gateway_rate_limited_total', { scope: 'key' }) + await metricValue(b.app, 'llm_gateway_rate_limited_total', { scope: 'key' }), 6)
})

t.test('tokens per minute: once used up, 429 until the next minute (shared in Redis)', async (t) => {
  const redisUrl = (await startRedis(t)).url
  const a = await gateway(t, redisUrl, 'tpm=10')
  const b = await gateway(t, redisUrl, 'tpm=10')
  // Counters are per clock minute: start well inside one so the test never straddles two.
  const left = 60_000 - (Date.now() % 60_000)
  if (left < 20_000) await new Promise((r) => setTimeout(r, left + 50))
  // The mock reports prompt words + 5 completion tokens: 3 + 5 = 8 tokens a request.
  const first = await chat(a)
  t.equal(first.status, 200)
  t.equal(first.headers['x-ratelimit-limit-tokens'], '10')
  // The charge is written after the response: wait until Redis holds it.
  const redis = new Redis(redisUrl, { lazyConnect: true })
  t.teardown(() => { redis.disconnect() })
  const used = async (): Promise<number> => {
    const keys = await redis.keys('llm-gw:tpm:k:*')
    return keys.length === 0 ? 0 : Number(await redis.get(keys[0]!))
  }
  t.ok(await waitFor(async () => await used() === 8, 10_000), 'the first request charged 8 tokens')
  t.equal((await chat(b)).status, 200, '8 of 10 used: still allowed')
  t.ok(await waitFor(async () => await used() === 16, 10_000), 'the second request charged 8 more')
  const over = await chat(a)
  t.equal(over.status, 429, '16 of 10 used: refused on the other instance too')
  t.equal(over.body.error?.code, 'rate_limit_exceeded')
  t.equal(over.headers['x-ratelimit-remaining-tokens'], '0')
  t.equal(await metricValue(a.app, 'llm_gateway_rate_limited_total', { scope: 'tokens' }), 1)
})

t.test('daily spend budget (in memory without Redis): insufficient_quota, do not retry', async (t) => {
  // gpt-4.1 costs 8 USD per 1M output tokens: 5 tokens = 0.00004 USD; a budget of 0.00005 allows two.
  const gw = await gateway(t, undefined, 'budget=0.00005')
  t.equal((await chat(gw)).status, 200)
  t.equal((await chat(gw)).status, 200)
  const over = await chat(gw)
  t.equal(over.status, 429)
  t.equal(over.body.error?.code, 'insufficient_quota')
  t.equal(over.headers['x-should-retry'], 'false')
  t.equal(await metricValue(gw.app, 'llm_gateway_rate_limited_total', { scope: 'budget' }), 1)
  t.equal(gw.mock.stats().requests, 2, 'the refused request never reached the upstream')
})

t.test('Redis down: limits fail open, readiness says why', async (t) => {
  const port = await freePort()
  const gw = await gateway(t, `redis://127.0.0.1:${port}`, 'rpm=1 tpm=5')
  t.equal((await chat(gw)).status, 200)
  t.equal((await chat(gw)).status, 200, 'not limited while Redis is unreachable')
  const ready = await gw.app.inject('/readyz?deps=1')
  t.equal(ready.statusCode, 503)
  t.match(ready.json(), { checks: { redis: /unreachable/ } })
})
