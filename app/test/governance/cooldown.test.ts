// Upstream cooldowns shared by three replicas on one Redis: an upstream 429's wait and an open breaker
// hold back every replica (fallback target, or an answer at once with a decreasing Retry-After), one
// half-open probe; 5xx pass the upstream's retry advice; without Redis each replica keeps its own.
import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { chatBody, metricValue, startTestGateway } from '../support/gateway.js'
import { waitFor } from '../support/wait.js'
import { startReplicas, upstreamCalls } from './replicas.js'
import { startRedis } from '../support/redis.js'

const CHAT = '/v1/chat/completions'
/** gpt-4.1 falls back to "backup"; deepseek-v3.2 (shipped) has one target. */
const FALLBACK_MODELS = [{ id: 'gpt-4.1', price: { input_per_1m: 2, output_per_1m: 8 }, targets: [{ model: 'gpt-4.1' }, { upstream: 'backup', model: 'gpt-4.1' }] }]

t.test('a 429 with Retry-After: 5 once: no replica sends that target anything for ~5 s, the fallback serves, then traffic resumes', async (t) => {
  const redis = await startRedis(t)
  const set = await startReplicas(t, { redisUrl: redis.url, keys: { team: '' }, upstreams: { backup: {} }, models: FALLBACK_MODELS })
  const primary = set.upstream('default')
  const backup = set.upstream('backup')
  primary.setConfig({ fault: '429', retry_after: 5 })
  // Taken before the request: the cooldown starts when the 429 arrives, so never before this.
  const sentAt = Date.now()
  const first = await set.post(0, CHAT, chatBody())
  primary.setConfig({ fault: 'none' })
  t.equal(first.statusCode, 200, 'the fallback answered the first request')
  t.equal(upstreamCalls(primary), 1)
  t.equal(upstreamCalls(backup), 1)
  // Every replica knows (pub/sub): the gauge shows the cooldown everywhere.
  for (const gw of set.gateways) {
    t.ok(await waitFor(async () => await metricValue(gw.app, 'llm_gateway_upstream_cooldown_seconds', { upstream: 'default', model: 'gpt-4.1' }) > 0, 5000), 'the gauge shows the cooldown')
  }
  let i = 0
  let resumedAt = 0
  const resumed = await waitFor(async () => {
    const res = await set.post(i++, CHAT, chatBody())
    if (res.statusCode !== 200) throw new Error(`answered ${res.statusCode}`)
    if (upstreamCalls(primary) > 1) { resumedAt = Date.now(); return true }
    return false
  }, 15_000, 100)
  t.ok(resumed, 'traffic to the primary resumes')
  // A lower bound only: a slow machine makes the gap longer, never shorter.
  t.ok(resumedAt - sentAt >= 4900, `no request to the primary for ${resumedAt - sentAt} ms (asked for 5000)`)
  t.ok(i >= 3, `requests went through all three replicas meanwhile (${i})`)
  t.equal(upstreamCalls(backup), i, 'all of them to the fallback, but the one that resumed')
  t.equal(primary.stats().recent.filter((r) => r.status === 429).length, 1)
})

t.test('a 429 on a model without fallback: every replica answers 429 at once with a decreasing Retry-After, then serves again', async (t) => {
  const redis = await startRedis(t)
  const set = await startReplicas(t, { redisUrl: redis.url, keys: { team: '' } })
  const mock = set.upstream('default')
  const body = chatBody({ model: 'deepseek-v3.2' })
  mock.setConfig({ fault: '429', retry_after: 4 })
  const first = await set.post(0, CHAT, body)
  mock.setConfig({ fault: 'none' })
  t.equal(first.statusCode, 429)
  t.equal(first.headers['retry-after'], '4')
  const waits: number[] = []
  t.ok(await waitFor(async () => {
    const res = await set.post(waits.length + 1, CHAT, body)
    if (res.statusCode === 200) return true
    t.equal(res.statusCode, 429)
    t.equal(JSON.parse(res.body).error.code, 'rate_limit_exceeded')
    waits.push(Number(res.headers['retry-after-ms']))
    return false
  }, 15_000, 250), 'served again once the wait is over')
  t.ok(waits.length >= 1, `held back meanwhile (${waits.length} answers)`)
  t.ok(waits.every((w, k) => k === 0 || w <= (waits[k - 1] as number)), 'Retry-After decreases')
  t.ok((waits[0] as number) <= 4000)
  t.equal(upstreamCalls(mock), 2, 'the upstream saw only the 429 and the request after the wait')
  // The other models of the upstream were never held back.
  t.equal((await set.post(0, CHAT, chatBody())).statusCode, 200)
})

t.test('a breaker that opens on one replica holds back all three; after the cooldown one replica probes', async (t) => {
  const redis = await startRedis(t)
  const set = await startReplicas(t, { redisUrl: redis.url, keys: { team: '' }, env: { UPSTREAM_BREAKER_FAILURES: '2', UPSTREAM_BREAKER_COOLDOWN_MS: '5000' } })
  const mock = set.upstream('default')
  mock.setConfig({ fault: '500' })
  t.equal((await set.post(0, CHAT, chatBody())).statusCode, 502)
  t.equal((await set.post(0, CHAT, chatBody())).statusCode, 502)
  // The probe is held 5 s at the upstream, so the whole burst below arrives while it runs.
  mock.setConfig({ fault: 'none', latency_ms: 5000 })
  for (const i of [1, 2]) {
    t.ok(await waitFor(async () => await metricValue(set.gateways[i]!.app, 'llm_gateway_upstream_cooldown_seconds', { upstream: 'default', model: '' }) > 0, 5000))
    const held = await set.post(i, CHAT, chatBody())
    t.equal(held.statusCode, 503, `replica ${i} holds back without trying`)
    t.equal(JSON.parse(held.body).error.code, 'upstream_unavailable')
    t.match(String(held.headers['retry-after']), /^[1-5]$/)
  }
  t.equal(upstreamCalls(mock), 2)
  t.ok(await waitFor(async () => await metricValue(set.gateways[1]!.app, 'llm_gateway_upstream_cooldown_seconds', { upstream: 'default', model: '' }) === 0, 10_000))
  // Half-open: of a burst over the three replicas, one request probes; the rest are told to wait.
  const burst = await Promise.all(Array.from({ length: 6 }, async (_, i) => await set.post(i, CHAT, chatBody())))
  t.equal(upstreamCalls(mock), 3, 'one probe')
  t.equal(burst.filter((r) => r.statusCode === 200).length, 1)
  t.equal(burst.filter((r) => r.statusCode === 503).length, 5)
  mock.setConfig({ latency_ms: 0 })
  for (let i = 0; i < 3; i++) t.equal((await set.post(i, CHAT, chatBody())).statusCode, 200, `replica ${i} serves again`)
})

t.test('without Redis each replica keeps its own cooldown', async (t) => {
  const gw = await startTestGateway()
  t.teardown(async () => { await gw.close() })
  gw.mock.setConfig({ fault: '429', retry_after: 30 })
  const inject = async (): Promise<{ statusCode: number, headers: Record<string, unknown> }> => await gw.app.inject({ method: 'POST', url: CHAT, headers: gw.auth(), payload: chatBody() })
  t.equal((await inject()).statusCode, 429)
  gw.mock.setConfig({ fault: 'none' })
  const held = await inject()
  t.equal(held.statusCode, 429)
  t.ok(Number(held.headers['retry-after']) <= 30)
  t.equal(gw.mock.stats().requests, 1)
})

t.test('an upstream 5xx passes its retry-after and x-should-retry to the client', async (t) => {
  const upstream = createServer((req, res) => {
    req.resume()
    res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '7', 'x-should-retry': 'true' })
    res.end('{"error":{"message":"overloaded","type":"server_error"}}')
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { upstream.close() })
  const gw = await startTestGateway({ env: { UPSTREAM_BASE_URL: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1` } })
  t.teardown(async () => { await gw.close() })
  const res = await gw.app.inject({ method: 'POST', url: CHAT, headers: gw.auth(), payload: chatBody() })
  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], '7')
  t.equal(res.headers['x-should-retry'], 'true')
})
