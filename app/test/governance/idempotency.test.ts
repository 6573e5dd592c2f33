// Idempotency-Key across three replicas on one Redis: run once, the same answer again (JSON and stream),
// one charge, concurrent duplicates coalesced, another body refused, a failure retried.
import t from 'tap'
import { chatBody, metricValue } from '../support/gateway.js'
import { waitFor } from '../support/wait.js'
import { startReplicas, upstreamCalls, type ReplicaSet } from './replicas.js'
import { startRedis } from '../support/redis.js'
import type { Test } from 'tap'

const CHAT = '/v1/chat/completions'
const idem = (key: string): { headers: Record<string, string> } => ({ headers: { 'idempotency-key': key } })

async function replicas (t: Test, env: Record<string, string> = {}): Promise<ReplicaSet> {
  const redis = await startRedis(t)
  return await startReplicas(t, { redisUrl: redis.url, keys: { team: '', other: '' }, env })
}

async function completionTokens (set: ReplicaSet): Promise<number> {
  let total = 0
  for (const gw of set.gateways) total += await metricValue(gw.app, 'llm_gateway_tokens_total', { type: 'completion' })
  return total
}

t.test('the same POST twice through different replicas: one upstream call, identical answers, one charge', async (t) => {
  const set = await replicas(t)
  const mock = set.upstream('default')
  const first = await set.post(0, CHAT, chatBody(), idem('order-1'))
  t.equal(first.statusCode, 200)
  t.equal(first.headers['idempotent-replayed'], undefined)
  await new Promise((resolve) => setImmediate(resolve))
  const charged = await completionTokens(set)
  t.ok(charged > 0)
  const again = await set.post(1, CHAT, chatBody(), idem('order-1'))
  t.equal(again.statusCode, 200)
  t.equal(again.headers['idempotent-replayed'], 'true')
  t.equal(again.body, first.body, 'the same body')
  t.equal(again.headers['content-type'], first.headers['content-type'])
  t.equal(upstreamCalls(mock), 1, 'one upstream call')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(await completionTokens(set), charged, 'charged once')
  // The key is the key id's: another key id with the same Idempotency-Key runs its own request.
  const other = await set.post(2, CHAT, chatBody(), { key: 'other', ...idem('order-1') })
  t.equal(other.headers['idempotent-replayed'], undefined)
  t.equal(upstreamCalls(mock), 2)
})

t.test('a stream with an Idempotency-Key is replayed as the same events', async (t) => {
  const set = await replicas(t)
  const body = chatBody({ stream: true, stream_options: { include_usage: true } })
  const first = await set.post(0, CHAT, body, idem('stream-1'))
  t.match(first.body, /data: \[DONE\]/)
  const again = await set.post(2, CHAT, body, idem('stream-1'))
  t.equal(again.headers['idempotent-replayed'], 'true')
  t.match(String(again.headers['content-type']), /^text\/event-stream/)
  t.equal(again.body, first.body)
  t.equal(upstreamCalls(set.upstream('default')), 1)
})

t.test('concurrent duplicates over three replicas: one upstream call, every one the same answer', async (t) => {
  const set = await replicas(t)
  const mock = set.upstream('default')
  mock.setConfig({ latency_ms: 300 })
  const all = await Promise.all(Array.from({ length: 9 }, async (_, i) => await set.post(i, CHAT, chatBody(), idem('burst'))))
  t.same(all.map((r) => r.statusCode), Array(9).fill(200))
  t.equal(upstreamCalls(mock), 1)
  t.equal(new Set(all.map((r) => r.body)).size, 1)
  t.equal(all.filter((r) => r.headers['idempotent-replayed'] === 'true').length, 8)
})

t.test('the same key with a different body: 422 idempotency_key_mismatch', async (t) => {
  const set = await replicas(t)
  t.equal((await set.post(0, CHAT, chatBody(), idem('k-422'))).statusCode, 200)
  const other = await set.post(1, CHAT, chatBody({ messages: [{ role: 'user', content: 'something else' }] }), idem('k-422'))
  t.equal(other.statusCode, 422)
  t.equal(JSON.parse(other.body).error.code, 'idempotency_key_mismatch')
  t.equal(upstreamCalls(set.upstream('default')), 1)
})

t.test('a failed first attempt is not kept: the retry runs', async (t) => {
  const set = await replicas(t)
  const mock = set.upstream('default')
  mock.setConfig({ fault: '500' })
  t.equal((await set.post(0, CHAT, chatBody(), idem('retry-me'))).statusCode, 502)
  mock.setConfig({ fault: 'none' })
  const retry = await set.post(1, CHAT, chatBody(), idem('retry-me'))
  t.equal(retry.statusCode, 200)
  t.equal(retry.headers['idempotent-replayed'], undefined)
  t.equal(upstreamCalls(mock), 2)
})

t.test('IDEMPOTENCY_IN_FLIGHT=409: a duplicate while the first runs gets 409 idempotency_key_in_use', async (t) => {
  const set = await replicas(t, { IDEMPOTENCY_IN_FLIGHT: '409' })
  const mock = set.upstream('default')
  mock.setConfig({ latency_ms: 5000 })
  const first = set.post(0, CHAT, chatBody(), idem('slow'))
  t.ok(await waitFor(() => mock.stats().in_flight === 1, 10_000), 'the first is at the upstream')
  const dup = await set.post(1, CHAT, chatBody(), idem('slow'))
  t.equal(dup.statusCode, 409)
  t.equal(JSON.parse(dup.body).error.code, 'idempotency_key_in_use')
  t.equal((await first).statusCode, 200)
  const after = await set.post(2, CHAT, chatBody(), idem('slow'))
  t.equal(after.headers['idempotent-replayed'], 'true')
  t.equal(upstreamCalls(mock), 1)
})

t.test('a malformed Idempotency-Key is refused', async (t) => {
  const set = await replicas(t)
  const res = await set.post(0, CHAT, chatBody(), idem('x'.repeat(300)))
  t.equal(res.statusCode, 400)
  t.equal(JSON.parse(res.body).error.code, 'invalid_request')
})

t.test('Redis down: requests with the header are served without it, said once in the log', async (t) => {
  const redis = await startRedis(t)
  const set = await startReplicas(t, { redisUrl: redis.url, keys: { team: '' }, replicas: 1 })
  await redis.stop()
  for (let i = 0; i < 2; i++) t.equal((await set.post(0, CHAT, chatBody(), idem('down'))).statusCode, 200)
  t.equal(upstreamCalls(set.upstream('default')), 2)
  t.equal(set.gateways[0]!.logs().split('Idempotency-Key unavailable').length - 1, 1)
})
