// The response cache across three replicas on one Redis: exact-match hits, tenant scoping, only
// deterministic and complete answers, single-flight, x-gateway-cache modes, hits not charged.
import t from 'tap'
import { chatBody, metricValue } from '../support/gateway.js'
import { startReplicas, upstreamCalls, type ReplicaSet } from './replicas.js'
import { startRedis } from '../support/redis.js'
import type { Test } from 'tap'

const CHAT = '/v1/chat/completions'
const deterministic = (extra: Record<string, unknown> = {}): Record<string, unknown> => chatBody({ temperature: 0, ...extra })

async function replicas (t: Test, env: Record<string, string> = {}): Promise<ReplicaSet> {
  const redis = await startRedis(t)
  return await startReplicas(t, {
    redisUrl: redis.url,
    keys: { team: 'cache=on', other: 'cache=on', mate: 'cache=on cache_group=shared', buddy: 'cache=on cache_group=shared', plain: '' },
    env
  })
}

async function sum (set: ReplicaSet, sample: string, labels: Record<string, string> = {}): Promise<number> {
  let total = 0
  for (const gw of set.gateways) total += await metricValue(gw.app, sample, labels)
  return total
}

t.test('two identical deterministic requests through different replicas: one upstream call, the second a HIT with the same body', async (t) => {
  const set = await replicas(t)
  const mock = set.upstream('default')
  const first = await set.post(0, CHAT, deterministic())
  t.equal(first.statusCode, 200)
  t.equal(first.headers['x-gateway-cache'], 'MISS')
  const second = await set.post(1, CHAT, deterministic())
  t.equal(second.statusCode, 200)
  t.equal(second.headers['x-gateway-cache'], 'HIT')
  t.equal(second.body, first.body, 'the same bytes')
  t.equal(second.headers['content-type'], first.headers['content-type'])
  t.match(String(second.headers.age), /^\d+$/, 'with its age')
  t.equal(upstreamCalls(mock), 1, 'one upstream call')
  // Field order does not matter: the body is canonicalised.
  const reordered = await set.post(2, CHAT, { temperature: 0, messages: deterministic().messages, model: 'gpt-4.1' })
  t.equal(reordered.headers['x-gateway-cache'], 'HIT')
  t.equal(upstreamCalls(mock), 1)
  t.equal(await sum(set, 'llm_gateway_cache_requests_total', { result: 'hit' }), 2)
  t.equal(await sum(set, 'llm_gateway_cache_requests_total', { result: 'miss' }), 1)
})

t.test('another key id never gets the entry; keys of one cache_group share theirs', async (t) => {
  const set = await replicas(t)
  const mock = set.upstream('default')
  t.equal((await set.post(0, CHAT, deterministic(), { key: 'team' })).headers['x-gateway-cache'], 'MISS')
  const other = await set.post(1, CHAT, deterministic(), { key: 'other' })
  t.equal(other.headers['x-gateway-cache'], 'MISS', 'another tenant: its own miss')
  t.equal(upstreamCalls(mock), 2)
  t.equal((await set.post(2, CHAT, deterministic(), { key: 'mate' })).headers['x-gateway-cache'], 'MISS')
  t.equal((await set.post(0, CHAT, deterministic(), { key: 'buddy' })).headers['x-gateway-cache'], 'HIT', 'the same group')
  t.equal(upstreamCalls(mock), 3)
  // A key without cache=on does not use the cache at all: no header.
  const plain = await set.post(1, CHAT, deterministic(), { key: 'plain' })
  t.equal(plain.headers['x-gateway-cache'], undefined)
  t.equal(upstreamCalls(mock), 4)
})

t.test('a non-deterministic request is never cached unless the client opts in', async (t) => {
  const set = await replicas(t)
  const mock = set.upstream('default')
  for (const body of [chatBody({ temperature: 0.7 }), chatBody()]) {
    for (let i = 0; i < 2; i++) {
      const res = await set.post(i, CHAT, body)
      t.equal(res.statusCode, 200)
      t.equal(res.headers['x-gateway-cache'], 'BYPASS')
    }
  }
  t.equal(upstreamCalls(mock), 4, 'every one went upstream')
  // x-gateway-cache: on from the client is its opt-in, whatever the temperature.
  const opted = { headers: { 'x-gateway-cache': 'on' } }
  t.equal((await set.post(0, CHAT, chatBody({ temperature: 0.7 }), opted)).headers['x-gateway-cache'], 'MISS')
  t.equal((await set.post(1, CHAT, chatBody({ temperature: 0.7 }), opted)).headers['x-gateway-cache'], 'HIT')
  t.equal(upstreamCalls(mock), 5)
})

t.test('x-gateway-cache: off bypasses, refresh replaces the entry, on enables it for a key without cache=on', async (t) => {
  const set = await replicas(t)
  const mock = set.upstream('default')
  await set.post(0, CHAT, deterministic())
  const off = await set.post(1, CHAT, deterministic(), { headers: { 'x-gateway-cache': 'off' } })
  t.equal(off.headers['x-gateway-cache'], 'BYPASS')
  t.equal(upstreamCalls(mock), 2)
  mock.setConfig({ chunks: 3 })
  const refreshed = await set.post(2, CHAT, deterministic(), { headers: { 'x-gateway-cache': 'refresh' } })
  t.equal(refreshed.headers['x-gateway-cache'], 'MISS')
  t.equal(upstreamCalls(mock), 3)
  const after = await set.post(0, CHAT, deterministic())
  t.equal(after.headers['x-gateway-cache'], 'HIT')
  t.equal(after.body, refreshed.body, 'the refreshed answer')
  const plainOn = await set.post(1, CHAT, deterministic(), { key: 'plain', headers: { 'x-gateway-cache': 'on' } })
  t.equal(plainOn.headers['x-gateway-cache'], 'MISS')
  const bad = await set.post(1, CHAT, deterministic(), { headers: { 'x-gateway-cache': 'maybe' } })
  t.equal(bad.statusCode, 400)
  t.equal(JSON.parse(bad.body).error.code, 'invalid_request')
})

t.test('a failed or cut answer is never stored', async (t) => {
  const set = await replicas(t)
  const mock = set.upstream('default')
  mock.setConfig({ fault: '500' })
  const failed = await set.post(0, CHAT, deterministic())
  t.equal(failed.statusCode, 502)
  mock.setConfig({ fault: 'none' })
  const next = await set.post(1, CHAT, deterministic())
  t.equal(next.statusCode, 200)
  t.equal(next.headers['x-gateway-cache'], 'MISS', 'the error was not kept')

  const stream = deterministic({ stream: true })
  mock.setConfig({ fault: 'cut', cut_after: 2 })
  const cut = await set.post(2, CHAT, stream)
  t.equal(cut.statusCode, 200)
  t.notMatch(cut.body, /\[DONE\]/, 'the stream was cut')
  mock.setConfig({ fault: 'none' })
  const whole = await set.post(0, CHAT, stream)
  t.equal(whole.headers['x-gateway-cache'], 'MISS', 'the cut stream was not kept')
  t.match(whole.body, /data: \[DONE\]/)
  const hit = await set.post(1, CHAT, stream)
  t.equal(hit.headers['x-gateway-cache'], 'HIT', 'the whole one was')
  t.equal(hit.body, whole.body)
  t.equal(upstreamCalls(mock), 4)
})

t.test('20 identical concurrent requests spread over three replicas: one upstream call', async (t) => {
  const set = await replicas(t)
  const mock = set.upstream('default')
  // The upstream is slow enough that most requests arrive while the first is in flight.
  mock.setConfig({ latency_ms: 300 })
  const all = await Promise.all(Array.from({ length: 20 }, async (_, i) => await set.post(i, CHAT, deterministic())))
  t.same(all.map((r) => r.statusCode), Array(20).fill(200))
  t.equal(upstreamCalls(mock), 1, 'one upstream call')
  t.equal(new Set(all.map((r) => r.body)).size, 1, 'every answer the same')
  t.equal(all.filter((r) => r.headers['x-gateway-cache'] === 'MISS').length, 1, 'one leader')
  t.equal(all.filter((r) => r.headers['x-gateway-cache'] === 'HIT').length, 19)
})

t.test('when the leader fails, the requests waiting for it go upstream themselves', async (t) => {
  const set = await replicas(t)
  const mock = set.upstream('default')
  mock.setConfig({ latency_ms: 300, fault: '500' })
  const all = await Promise.all(Array.from({ length: 6 }, async (_, i) => await set.post(i, CHAT, deterministic())))
  t.same(all.map((r) => r.statusCode), Array(6).fill(502), 'each got the upstream\'s failure, none waited forever')
  t.equal(upstreamCalls(mock), 6)
})

t.test('hits cost nothing: no tokens or cost counted, tokens saved counted', async (t) => {
  const set = await replicas(t)
  await set.post(0, CHAT, deterministic())
  const tokens = await sum(set, 'llm_gateway_tokens_total', { type: 'completion' })
  const cost = await sum(set, 'llm_gateway_cost_usd_total')
  t.ok(tokens > 0)
  const hit = await set.post(1, CHAT, deterministic())
  t.equal(hit.headers['x-gateway-cache'], 'HIT')
  // accounting runs when the response closes
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(await sum(set, 'llm_gateway_tokens_total', { type: 'completion' }), tokens, 'no new tokens')
  t.equal(await sum(set, 'llm_gateway_cost_usd_total'), cost, 'no new cost')
  t.ok(await sum(set, 'llm_gateway_cache_saved_tokens_total', { model: 'gpt-4.1' }) >= tokens, 'the saved tokens')
})

t.test('CACHE_HITS_CHARGED=true: a hit is charged like the answer it replays', async (t) => {
  const set = await replicas(t, { CACHE_HITS_CHARGED: 'true' })
  await set.post(0, CHAT, deterministic())
  const tokens = await sum(set, 'llm_gateway_tokens_total', { type: 'completion' })
  t.equal((await set.post(1, CHAT, deterministic())).headers['x-gateway-cache'], 'HIT')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(await sum(set, 'llm_gateway_tokens_total', { type: 'completion' }), 2 * tokens)
})

t.test('an answer over CACHE_MAX_ENTRY_BYTES is served but not kept', async (t) => {
  const set = await replicas(t, { CACHE_MAX_ENTRY_BYTES: '2048' })
  const mock = set.upstream('default')
  mock.setConfig({ chunks: 600 })
  t.equal((await set.post(0, CHAT, deterministic())).statusCode, 200)
  t.equal((await set.post(1, CHAT, deterministic())).headers['x-gateway-cache'], 'MISS')
  t.equal(upstreamCalls(mock), 2)
})

t.test('CACHE_MAX_TOTAL_BYTES: older entries make room for new ones', async (t) => {
  const set = await replicas(t, { CACHE_MAX_TOTAL_BYTES: '4096' })
  const mock = set.upstream('default')
  mock.setConfig({ chunks: 100 })
  for (let i = 0; i < 6; i++) t.equal((await set.post(i, CHAT, deterministic({ seed: i }))).headers['x-gateway-cache'], 'MISS')
  t.equal((await set.post(0, CHAT, deterministic({ seed: 5 }))).headers['x-gateway-cache'], 'HIT', 'the newest is kept')
  t.equal((await set.post(0, CHAT, deterministic({ seed: 0 }))).headers['x-gateway-cache'], 'MISS', 'the oldest was evicted')
})

t.test('Redis down: answered uncached (BYPASS), said once in the log; cached again when it is back', async (t) => {
  const redis = await startRedis(t)
  const set = await startReplicas(t, { redisUrl: redis.url, keys: { team: 'cache=on' }, replicas: 1 })
  const gw = set.gateways[0]!
  t.equal((await set.post(0, CHAT, deterministic())).headers['x-gateway-cache'], 'MISS')
  await redis.stop()
  for (let i = 0; i < 3; i++) {
    const res = await set.post(0, CHAT, deterministic())
    t.equal(res.statusCode, 200, 'served')
    t.equal(res.headers['x-gateway-cache'], 'BYPASS')
  }
  t.equal(gw.logs().split('response cache unavailable').length - 1, 1, 'said once')
})
