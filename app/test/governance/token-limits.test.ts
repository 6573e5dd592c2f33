// Token and spend limits under concurrency, three instances on one real Redis: each request reserves
// before the upstream call (atomically, a Lua script), settles with the real usage, and is refunded
// when it fails or the client leaves. Served tokens / spend stay within the README's bound.
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { hashKey } from '../../src/lib/keys.js'
import { chatBody, metricValue, startTestGateway, type TestGateway } from '../support/gateway.js'
import { waitFor } from '../support/wait.js'
import { startRedis } from '../support/redis.js'

const KEY = 'sk-gw-governance-limits'
// The mock counts the prompt's words (3) and sends `chunks` completion tokens; the gateway reserves
// ceil(19 bytes / 3) = 7 prompt tokens plus max_tokens.
const MAX_TOKENS = 20
const BODY = chatBody({ max_tokens: MAX_TOKENS, mock: { chunks: MAX_TOKENS } })
const RESERVED = 7 + MAX_TOKENS
const USED = 3 + MAX_TOKENS
// gpt-4.1: 2 USD / 1M input, 8 USD / 1M output, in micro-USD.
const RESERVED_MICRO = 7 * 2 + MAX_TOKENS * 8
const USED_MICRO = 3 * 2 + MAX_TOKENS * 8

async function replicas (t: Test, redisUrl: string, entry: string): Promise<TestGateway[]> {
  const gws: TestGateway[] = []
  for (let i = 0; i < 3; i++) {
    const gw = await startTestGateway({ env: { GATEWAY_KEYS: `k:${hashKey(KEY)} ${entry}`, REDIS_URL: redisUrl, LOG_LEVEL: 'warn' } })
    t.teardown(async () => { await gw.close() })
    gws.push(gw)
  }
  return gws
}

async function burst (gws: TestGateway[], n: number, body: Record<string, unknown>): Promise<Array<{ status: number, tokens: number }>> {
  return await Promise.all(Array.from({ length: n }, async (_, i) => {
    const gw = gws[i % gws.length] as TestGateway
    const res = await gw.app.inject({ method: 'POST', url: '/v1/chat/completions', headers: { authorization: `Bearer ${KEY}` }, payload: body })
    const usage = res.statusCode === 200 ? (res.json() as { usage: { total_tokens: number } }).usage : undefined
    return { status: res.statusCode, tokens: usage?.total_tokens ?? 0 }
  }))
}

async function counters (redisUrl: string, t: Test): Promise<(kind: 'tpm' | 'spend') => Promise<number>> {
  const redis = new Redis(redisUrl)
  t.teardown(() => { redis.disconnect() })
  return async (kind) => {
    const keys = await redis.keys(`llm-gw:${kind}:k:*`)
    let sum = 0
    for (const k of keys) sum += Number(await redis.get(k))
    return sum
  }
}

async function total (gws: TestGateway[], sample: string, labels: Record<string, string> = {}): Promise<number> {
  let sum = 0
  for (const gw of gws) sum += await metricValue(gw.app, sample, labels)
  return sum
}

t.test('tpm=300: 30 concurrent requests over three replicas stay within the bound', async (t) => {
  const redis = await startRedis(t)
  const gws = await replicas(t, redis.url, 'tpm=300')
  const used = await counters(redis.url, t)
  // Counters are per clock minute: start well inside one so the burst never straddles two.
  const left = 60_000 - (Date.now() % 60_000)
  if (left < 20_000) await new Promise((r) => setTimeout(r, left + 50))
  const results = await burst(gws, 30, BODY)
  const served = results.reduce((s, r) => s + r.tokens, 0)
  const admitted = results.filter((r) => r.status === 200).length
  t.equal(results.filter((r) => r.status !== 200 && r.status !== 429).length, 0, 'only 200s and 429s')
  t.ok(admitted > 0, `${admitted} admitted`)
  t.equal(served, admitted * USED, 'each served request used what the mock reported')
  // README: served ≤ limit + one reservation − 1 + what answers ran over their reservations (none here).
  t.ok(served <= 300 + RESERVED - 1, `served ${served} tokens ≤ ${300 + RESERVED - 1} (without reservations: ${30 * USED})`)
  t.ok(await waitFor(async () => await used('tpm') === served, 10_000), 'after settling, the shared counter holds exactly what was served')
  t.equal(await total(gws, 'llm_gateway_limit_reservations_total', { outcome: 'settled' }), admitted, 'one settled reservation per served request')
  t.equal(await total(gws, 'llm_gateway_limit_refunded_tokens_total'), admitted * (RESERVED - USED), 'the unused part of each reservation was given back')
  t.equal(await total(gws, 'llm_gateway_rate_limited_total', { scope: 'tokens' }), 30 - admitted)
})

t.test('budget=: 30 concurrent requests over three replicas stay within the bound', async (t) => {
  const redis = await startRedis(t)
  const gws = await replicas(t, redis.url, 'budget=0.002')
  const used = await counters(redis.url, t)
  const results = await burst(gws, 30, BODY)
  const admitted = results.filter((r) => r.status === 200).length
  const spent = admitted * USED_MICRO
  t.ok(admitted > 0, `${admitted} admitted`)
  t.ok(spent <= 2000 + RESERVED_MICRO - 1, `spent ${spent} µUSD ≤ ${2000 + RESERVED_MICRO - 1} (without reservations: ${30 * USED_MICRO})`)
  t.equal(results.filter((r) => r.status === 429).length, 30 - admitted)
  t.ok(await waitFor(async () => await used('spend') === spent, 10_000), 'after settling, the shared spend counter holds exactly what was spent')
  t.equal(await total(gws, 'llm_gateway_rate_limited_total', { scope: 'budget' }), 30 - admitted)
})

t.test('failures and client aborts refund their reservation, visibly', async (t) => {
  const redis = await startRedis(t)
  const gws = await replicas(t, redis.url, 'tpm=100000')
  const used = await counters(redis.url, t)
  const failed = await burst(gws, 6, chatBody({ max_tokens: MAX_TOKENS, mock: { fault: '500' } }))
  t.same(failed.map((r) => r.status), [502, 502, 502, 502, 502, 502], 'the upstream failed every one')
  t.ok(await waitFor(async () => await total(gws, 'llm_gateway_limit_reservations_total', { outcome: 'refunded' }) === 6, 10_000), 'six refunds counted')
  t.ok(await waitFor(async () => await used('tpm') === 0, 10_000), 'the counter is back to 0')
  t.equal(await total(gws, 'llm_gateway_limit_refunded_tokens_total'), 6 * RESERVED)

  // A client that leaves while the upstream holds its answer.
  const gw = gws[0] as TestGateway
  const url = await gw.listen()
  const ac = new AbortController()
  const pending = fetch(`${url}/v1/chat/completions`, { method: 'POST', signal: ac.signal, headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(chatBody({ max_tokens: MAX_TOKENS, mock: { latency_ms: 600_000 } })) }).catch(() => 'aborted')
  t.ok(await waitFor(async () => await used('tpm') === RESERVED, 10_000), 'reserved while the upstream holds the answer')
  t.ok(await waitFor(() => gw.mock.stats().in_flight === 1, 10_000), 'the request reached the upstream')
  ac.abort()
  t.equal(await pending, 'aborted')
  t.ok(await waitFor(async () => await used('tpm') === 0, 10_000), 'the abort gave the reservation back')
  t.equal(await total(gws, 'llm_gateway_limit_reservations_total', { outcome: 'refunded' }), 7)
})
