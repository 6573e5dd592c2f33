// Performance guard by counts, not timings: Redis commands and upstream requests per client
// request, with a real Redis. Thresholds are today's figures; a change that adds a round trip
// to every request fails here on any machine.
import t, { type Test } from 'tap'
import { hashKey } from '../../src/lib/keys.js'
import { chatBody, startTestGateway, type TestGateway } from '../support/gateway.js'
import { CommandCounter, startRedis } from './support.js'

const PLAIN = 'sk-gw-perf-plain-key'
const BUDGETED = 'sk-gw-perf-budgeted-key'
const N = 40

// Today's figures, per client request. Sent: what the gateway's client writes to Redis. A key
// with only a request limit: one rate-limit script call (EVALSHA). A key with a token limit and
// a spend budget as well: the script, one MGET of both counters before, and one
// MULTI/INCRBY/PEXPIRE/INCRBY/PEXPIRE/EXEC transaction after. Executed: what Redis runs, the
// script's own INCR and PTTL included. The margin (0.1 a request) absorbs a stray command
// during the run, never one more command per request.
const MAX_SENT = { plain: 1.1, budgeted: 8.1 }
const MAX_EXECUTED = { plain: 3.1, budgeted: 10.1 }
const MAX_UPSTREAM_REQUESTS = 1

async function gateway (t: Test, redisUrl: string): Promise<TestGateway> {
  const gw = await startTestGateway({
    env: {
      REDIS_URL: redisUrl,
      GATEWAY_KEYS: [
        `plain:${hashKey(PLAIN)} rpm=1000000`,
        `budgeted:${hashKey(BUDGETED)} rpm=1000000 tpm=1000000000 budget=1000000`
      ].join(',')
    }
  })
  t.teardown(async () => { await gw.close() })
  return gw
}

interface Costs { sent: number, executed: number, upstream: number, byCommand: Record<string, number> }

/** Counts the commands the gateway's Redis client sends (pipelined or not, MULTI/EXEC included). */
function countSent (gw: TestGateway): () => number {
  const redis = gw.app.redis
  if (redis === undefined) throw new Error('the gateway has no Redis client')
  let sent = 0
  const send = redis.sendCommand.bind(redis)
  redis.sendCommand = ((...args: Parameters<typeof send>) => { sent++; return send(...args) }) as typeof send
  return () => sent
}

/** Redis commands and upstream requests per client request over N sequential requests. */
async function costs (gw: TestGateway, counter: CommandCounter, sentSoFar: () => number, key: string, stream: boolean): Promise<Costs> {
  const send = async (): Promise<void> => {
    const res = await gw.app.inject({ method: 'POST', url: '/v1/chat/completions', headers: { authorization: `Bearer ${key}` }, payload: chatBody(stream ? { stream: true } : {}) })
    if (res.statusCode !== 200) throw new Error(`answered ${res.statusCode}: ${res.body.slice(0, 300)}`)
  }
  // the first requests load the limit script into Redis; steady state is what is guarded
  for (let i = 0; i < 3; i++) await send()
  const c0 = await counter.settledTotal()
  const before = await counter.byCommand()
  const u0 = gw.mock.stats().requests
  const s0 = sentSoFar()
  for (let i = 0; i < N; i++) await send()
  const c1 = await counter.settledTotal()
  const s1 = sentSoFar()
  const after = await counter.byCommand()
  const byCommand: Record<string, number> = {}
  for (const [name, calls] of Object.entries(after)) {
    const d = calls - (before[name] ?? 0)
    if (d > 0) byCommand[name] = Math.round((d / N) * 100) / 100
  }
  return { sent: (s1 - s0) / N, executed: (c1 - c0) / N, upstream: (gw.mock.stats().requests - u0) / N, byCommand }
}

for (const stream of [false, true]) {
  const kind = stream ? 'streamed' : 'JSON'
  t.test(`${kind} answers: Redis commands and upstream requests per request stay at today's counts`, async (t) => {
    const redisUrl = await startRedis(t)
    const gw = await gateway(t, redisUrl)
    const counter = new CommandCounter(redisUrl)
    t.teardown(() => { counter.close() })

    const sent = countSent(gw)

    const plain = await costs(gw, counter, sent, PLAIN, stream)
    t.ok(plain.sent >= 1 && plain.executed >= 1, `the limit is checked in Redis at all (${plain.sent} sent, ${plain.executed} executed a request)`)
    t.ok(plain.sent <= MAX_SENT.plain, `key with a request limit: ${plain.sent} Redis commands sent a request (at most ${MAX_SENT.plain})`)
    t.ok(plain.executed <= MAX_EXECUTED.plain, `key with a request limit: ${plain.executed} Redis commands executed a request (at most ${MAX_EXECUTED.plain}): ${JSON.stringify(plain.byCommand)}`)
    t.equal(plain.upstream, MAX_UPSTREAM_REQUESTS, 'one upstream request per client request')

    const budgeted = await costs(gw, counter, sent, BUDGETED, stream)
    t.ok(budgeted.sent > plain.sent, `token and spend limits are counted in Redis too (${budgeted.sent} sent a request)`)
    t.ok(budgeted.sent <= MAX_SENT.budgeted, `key with token and spend limits: ${budgeted.sent} Redis commands sent a request (at most ${MAX_SENT.budgeted})`)
    t.ok(budgeted.executed <= MAX_EXECUTED.budgeted, `key with token and spend limits: ${budgeted.executed} Redis commands executed a request (at most ${MAX_EXECUTED.budgeted}): ${JSON.stringify(budgeted.byCommand)}`)
    t.equal(budgeted.upstream, MAX_UPSTREAM_REQUESTS, 'one upstream request per client request')
  })
}
