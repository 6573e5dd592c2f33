// Performance guard by counts, not timings: Redis commands and upstream requests per client
// request, and the usage buckets' writes, with a real Redis. Thresholds are today's figures; a
// change that adds a round trip to every request fails here on any machine.
import t, { type Test } from 'tap'
import { hashKey } from '../../src/lib/keys.js'
import { BUCKET_WRITE_OVERHEAD, RedisUsageStore, USAGE_FIELDS } from '../../src/lib/usage-buckets.js'
import { chatBody, startTestGateway, type TestGateway } from '../support/gateway.js'
import { CommandCounter } from './support.js'
import { startRedis } from '../support/redis.js'

const PLAIN = 'sk-gw-perf-plain-key'
const BUDGETED = 'sk-gw-perf-budgeted-key'
const N = 40

// Today's figures, per client request, the usage buckets' writes left out (they are counted per
// write below). Sent: what the gateway's client writes to Redis. Executed: what Redis runs, the
// scripts' own commands included.
// - A key with only a request limit: 1 sent, the rate-limit script (EVALSHA); 3 executed, the
//   script and its INCR and PTTL.
// - A key with a token limit and a spend budget as well: 3 sent, the rate-limit script, the
//   reserve script before the upstream call and the settle script after it (EVALSHA each);
//   12 executed: 3 for the request limit, 4 to reserve (EVALSHA, MGET of both counters, INCRBY
//   of each), 5 to settle (EVALSHA, EXISTS and INCRBY of each counter, as the estimate and the
//   real usage differ in both).
// The margin (0.1 a request) absorbs a stray command during the run, never one more command per
// request.
const MAX_SENT = { plain: 1.1, budgeted: 3.1 }
const MAX_EXECUTED = { plain: 3.1, budgeted: 12.1 }
const MAX_UPSTREAM_REQUESTS = 1
// The usage buckets are added up in process and written once a second in one pipeline: per write,
// one HINCRBY per count that moved (at most every field) plus EXPIRE, SADD and EXPIRE, for the one
// key and model a run uses. Commands per request are this over the requests a write carries.
const MAX_USAGE_COMMANDS_PER_WRITE = USAGE_FIELDS.length + BUCKET_WRITE_OVERHEAD
/** what only the usage buckets' writes send (the scripts call INCR, PTTL, PEXPIRE, never these) */
const USAGE_COMMANDS = new Set(['hincrby', 'expire', 'sadd'])

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

interface Costs { sent: number, executed: number, upstream: number, usageCommands: number, usageWrites: number, byCommand: Record<string, number> }

/** Counts the commands the gateway's Redis client sends (pipelined or not), the usage buckets' apart. */
function countSent (gw: TestGateway): () => { request: number, usage: number } {
  const redis = gw.app.redis
  if (redis === undefined) throw new Error('the gateway has no Redis client')
  const sent = { request: 0, usage: 0 }
  const send = redis.sendCommand.bind(redis)
  redis.sendCommand = ((...args: Parameters<typeof send>) => {
    if (USAGE_COMMANDS.has(args[0].name.toLowerCase())) sent.usage++
    else sent.request++
    return send(...args)
  }) as typeof send
  return () => ({ ...sent })
}

function usageStore (gw: TestGateway): RedisUsageStore {
  const store = gw.app.usageStore
  if (!(store instanceof RedisUsageStore)) throw new Error('the usage buckets are not in Redis')
  return store
}

/** Redis commands and upstream requests per client request over N sequential requests. */
async function costs (gw: TestGateway, counter: CommandCounter, sentSoFar: () => { request: number, usage: number }, key: string, stream: boolean): Promise<Costs> {
  const send = async (): Promise<void> => {
    const res = await gw.app.inject({ method: 'POST', url: '/v1/chat/completions', headers: { authorization: `Bearer ${key}` }, payload: chatBody(stream ? { stream: true } : {}) })
    if (res.statusCode !== 200) throw new Error(`answered ${res.statusCode}: ${res.body.slice(0, 300)}`)
  }
  const store = usageStore(gw)
  // the first requests load the scripts into Redis; steady state is what is guarded
  for (let i = 0; i < 3; i++) await send()
  await store.flush()
  const c0 = await counter.settledTotal()
  const before = await counter.byCommand()
  const u0 = gw.mock.stats().requests
  const s0 = sentSoFar()
  const w0 = store.writes
  for (let i = 0; i < N; i++) await send()
  // the last requests' settles are written after their responses: wait for them, then write the buckets
  await counter.settledTotal()
  await store.flush()
  const c1 = await counter.settledTotal()
  const s1 = sentSoFar()
  const after = await counter.byCommand()
  const byCommand: Record<string, number> = {}
  let usageExecuted = 0
  for (const [name, calls] of Object.entries(after)) {
    const d = calls - (before[name] ?? 0)
    if (USAGE_COMMANDS.has(name)) usageExecuted += d
    if (d > 0) byCommand[name] = Math.round((d / N) * 100) / 100
  }
  return {
    sent: (s1.request - s0.request) / N,
    executed: (c1 - c0 - usageExecuted) / N,
    upstream: (gw.mock.stats().requests - u0) / N,
    usageCommands: s1.usage - s0.usage,
    usageWrites: store.writes - w0,
    byCommand
  }
}

function checkUsageWrites (t: Test, kind: string, c: Costs): void {
  t.ok(c.usageWrites >= 1 && c.usageCommands >= 1, `${kind}: the usage buckets are written (${c.usageWrites} writes, ${c.usageCommands} commands)`)
  t.ok(c.usageWrites <= N, `${kind}: at most one usage write per request (${c.usageWrites} for ${N} requests)`)
  const perWrite = c.usageCommands / c.usageWrites
  t.ok(perWrite <= MAX_USAGE_COMMANDS_PER_WRITE, `${kind}: ${perWrite} Redis commands per usage write (at most ${MAX_USAGE_COMMANDS_PER_WRITE}), ${c.usageCommands / N} a request over this run`)
}

for (const stream of [false, true]) {
  const kind = stream ? 'streamed' : 'JSON'
  t.test(`${kind} answers: Redis commands and upstream requests per request stay at today's counts`, async (t) => {
    const redisUrl = (await startRedis(t)).url
    const gw = await gateway(t, redisUrl)
    const counter = new CommandCounter(redisUrl)
    t.teardown(() => { counter.close() })

    const sent = countSent(gw)

    const plain = await costs(gw, counter, sent, PLAIN, stream)
    t.ok(plain.sent >= 1 && plain.executed >= 1, `the limit is checked in Redis at all (${plain.sent} sent, ${plain.executed} executed a request)`)
    t.ok(plain.sent <= MAX_SENT.plain, `key with a request limit: ${plain.sent} Redis commands sent a request (at most ${MAX_SENT.plain})`)
    t.ok(plain.executed <= MAX_EXECUTED.plain, `key with a request limit: ${plain.executed} Redis commands executed a request (at most ${MAX_EXECUTED.plain}): ${JSON.stringify(plain.byCommand)}`)
    t.equal(plain.upstream, MAX_UPSTREAM_REQUESTS, 'one upstream request per client request')
    checkUsageWrites(t, 'key with a request limit', plain)

    const budgeted = await costs(gw, counter, sent, BUDGETED, stream)
    t.ok(budgeted.sent > plain.sent, `token and spend limits are counted in Redis too (${budgeted.sent} sent a request)`)
    t.ok(budgeted.sent <= MAX_SENT.budgeted, `key with token and spend limits: ${budgeted.sent} Redis commands sent a request (at most ${MAX_SENT.budgeted})`)
    t.ok(budgeted.executed <= MAX_EXECUTED.budgeted, `key with token and spend limits: ${budgeted.executed} Redis commands executed a request (at most ${MAX_EXECUTED.budgeted}): ${JSON.stringify(budgeted.byCommand)}`)
    t.equal(budgeted.upstream, MAX_UPSTREAM_REQUESTS, 'one upstream request per client request')
    checkUsageWrites(t, 'key with token and spend limits', budgeted)
  })
}
