// The usage API on the internal port: over a mixed run through three replicas (JSON, streams, a cache
// hit, upstream errors, 429s), GET /admin/usage totals equal what the mock reported (tokens by type,
// cost to the micro-dollar); `make usage` prints the same as a table; the admin token is required.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hashKey } from '../../src/lib/keys.js'
import { chatBody } from '../support/gateway.js'
import { repoDir, startGateways, startMock, type GatewayProc as Replica } from '../support/procs.js'
import { waitFor } from '../support/wait.js'
import { postJson } from './support.js'
import { startRedis } from '../support/redis.js'

const KEY = 'sk-gw-governance-usage'
const ADMIN = 'admin-token-0123456789abcdef'

interface MockStats { usage_reported: { prompt_tokens: number, completion_tokens: number }, usage_details_reported: { cached_tokens: number, reasoning_tokens: number } }

t.test('usage API totals equal what the upstream reported', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-usage-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const tokenFile = join(dir, 'admin-token')
  writeFileSync(tokenFile, `${ADMIN}\n`)
  const redis = await startRedis(t)
  const mock = await startMock()
  t.teardown(async () => { await mock.stop() })
  const replicas = await startGateways(t, {
    UPSTREAM_BASE_URL: `${mock.url}/v1`,
    GATEWAY_KEYS: `team-a:${hashKey(KEY)} rpm=24 cache=on,other:${hashKey('sk-gw-other-usage')}`,
    REDIS_URL: redis.url,
    ADMIN_TOKEN_FILE: tokenFile,
    LOG_LEVEL: 'warn'
  })
  let i = 0
  const next = (): Replica => replicas[i++ % replicas.length] as Replica
  const statuses: number[] = []
  let hits = 0
  const send = async (body: Record<string, unknown>): Promise<boolean> => {
    const res = await postJson(`${next().url}/v1/chat/completions`, KEY, body)
    statuses.push(res.status)
    if (res.headers.get('x-gateway-cache') === 'HIT') hits++
    return res.headers.get('x-gateway-cache') === 'HIT'
  }
  const details = { mock: { prompt_tokens: 40, completion_tokens: 12, cached_tokens: 16, reasoning_tokens: 5 } }
  for (let n = 0; n < 6; n++) await send(chatBody(details))
  for (let n = 0; n < 4; n++) await send(chatBody({ ...details, stream: true, stream_options: { include_usage: true } }))
  for (let n = 0; n < 3; n++) await send(chatBody({ stream: true }))
  for (let n = 0; n < 3; n++) await send(chatBody({ mock: { fault: '500' } }))
  // The same deterministic request until it is answered from the cache (the first answer is
  // stored once it has been sent, so the next one may still miss).
  const cacheable = chatBody({ temperature: 0, messages: [{ role: 'user', content: 'cache me please' }] })
  await send(cacheable)
  for (let n = 0; n < 4 && !await send(cacheable); n++);
  t.equal(hits, 1, 'one answer came from the cache')
  // rpm=24: the last of these are refused (fewer if a new minute starts).
  while (statuses.length < 26) await send(chatBody())
  // Another key's traffic stays out of this key's totals.
  await postJson(`${next().url}/v1/chat/completions`, 'sk-gw-other-usage', chatBody())

  const stats = await (await fetch(`${mock.url}/_mock/stats`)).json() as MockStats
  const otherTokens = { prompt: 3, completion: 5 } // the other key's one plain request
  const prompt = stats.usage_reported.prompt_tokens - otherTokens.prompt
  const completion = stats.usage_reported.completion_tokens - otherTokens.completion
  const cached = stats.usage_details_reported.cached_tokens
  const reasoning = stats.usage_details_reported.reasoning_tokens
  // gpt-4.1: 2 USD / 1M uncached input, 0.5 cached, 8 output.
  const cost = ((prompt - cached) * 2 + cached * 0.5 + completion * 8) / 1e6

  const admin = async (query: string, token = ADMIN, r: Replica = replicas[0] as Replica): Promise<{ status: number, body: Record<string, unknown> }> => {
    const res = await fetch(`${r.metricsUrl.replace(/\/metrics$/, '')}/admin/usage?${query}`, { headers: { authorization: `Bearer ${token}` } })
    return { status: res.status, body: await res.json() as Record<string, unknown> }
  }
  // Each replica writes its buckets once a second (a replica's own reads are exact at once):
  // poll until the other replicas' last writes have landed.
  const landed = async (): Promise<boolean> => {
    const all = await admin('group_by=key')
    return (all.body.data as Array<{ key: string, requests: number }>).map((r) => `${r.key}:${r.requests}`).join() === `other:1,team-a:${statuses.length}`
  }
  t.ok(await waitFor(landed, 15_000, 100), 'every replica\'s counts reach the usage API within its write interval')
  const day = await admin('key=team-a&group_by=day', ADMIN, replicas[1])
  t.equal(day.status, 200)
  const total = day.body.total as Record<string, number>
  const served429 = statuses.filter((s) => s === 429).length
  t.ok(served429 >= 1, `${served429} requests got 429`)
  t.match(total, {
    requests: statuses.length,
    prompt_tokens: prompt,
    cached_prompt_tokens: cached,
    completion_tokens: completion,
    reasoning_tokens: reasoning,
    cache_write_tokens: 0,
    cache_hits: hits,
    rate_limited: served429,
    errors: 3
  }, 'requests, tokens by type, cache hits, 429s and errors as sent and reported')
  t.ok(Math.abs((total.cost_usd ?? 0) - cost) <= statuses.length * 1e-6, `cost ${total.cost_usd} USD = ${cost} USD reported (to the micro-dollar a request)`)
  t.equal((day.body.data as unknown[]).length, 1, 'one day')

  const byModel = await admin('key=team-a&group_by=model', ADMIN, replicas[2])
  // 429s are refused before the body (and its model) is read: they count under "none".
  t.same((byModel.body.data as Array<{ model: string, rate_limited: number }>).map((r) => [r.model, r.rate_limited]), [['gpt-4.1', 0], ['none', served429]])
  const byKey = await admin('group_by=key')
  t.same((byKey.body.data as Array<{ key: string }>).map((r) => r.key), ['other', 'team-a'], 'every key, when none is named')

  t.equal((await admin('key=team-a', 'wrong-token-0123456789')).status, 401, 'a wrong admin token is refused')
  t.match((await admin('key=team-a', 'wrong-token-0123456789')).body, { error: { code: 'admin_unauthorized' } })
  t.match(await admin('group_by=week'), { status: 400, body: { error: { param: 'group_by' } } })
  t.match(await admin('from=2026-02-30'), { status: 400, body: { error: { param: 'from' } } })
  const publicPort = await fetch(`${(replicas[0] as Replica).url}/admin/usage?key=team-a`, { headers: { authorization: `Bearer ${ADMIN}` } })
  t.equal(publicPort.status, 404, 'not served on the API port')
  await publicPort.arrayBuffer()

  const table = execFileSync('make', ['-s', '--no-print-directory', 'usage', 'KEY=team-a', 'DAYS=3', `ADMIN_URL=${(replicas[0] as Replica).metricsUrl.replace(/\/metrics$/, '')}`], { cwd: repoDir, encoding: 'utf8', env: { ...process.env, ADMIN_TOKEN_FILE: tokenFile } })
  t.match(table, /DAY\s+REQUESTS\s+PROMPT\s+CACHED\s+CACHE_WRITE\s+COMPLETION\s+REASONING\s+COST_USD\s+CACHE_HITS\s+429S\s+ERRORS/, 'make usage prints a table')
  t.match(table, new RegExp(`TOTAL\\s+${statuses.length}\\s+${prompt}\\s+${cached}\\s+0\\s+${completion}\\s+${reasoning}\\s+${cost.toFixed(4)}\\s+1\\s+${served429}\\s+3`), 'with the same totals')
})
