// Exact cost on chat, Responses and Messages: cached input at its own price, reasoning counted once
// inside the output, Anthropic's cache reads and writes; the cost counter, the token counters and the
// key's budget all move by exactly the priced figures.
import t, { type Test } from 'tap'
import { generateKey, hashKey } from '../../src/lib/keys.js'
import type { BudgetStore, BudgetUse } from '../../src/lib/budget-store.js'
import { metricValue, startTestGateway, type TestGateway } from '../support/gateway.js'
import { injectPost, type Json } from '../support/http.js'
import { waitFor } from '../support/wait.js'

/** USD per 1M tokens, chosen so each way of getting it wrong gives another total. */
const PRICE = { input_per_1m: 4, cached_input_per_1m: 0.5, cache_write_per_1m: 5, output_per_1m: 16 }
const MODELS = [
  { id: 'gpt-4.1', type: 'chat', price: PRICE },
  { id: 'claude-sonnet-4.5', type: 'chat', price: PRICE }
]
/** 1,000 prompt tokens of which 800 cached; 300 completion tokens of which 200 reasoning. */
const KNOBS = { prompt_tokens: 1000, cached_tokens: 800, completion_tokens: 300, reasoning_tokens: 200 }
/** (200 uncached × input + 800 × cached input + 300 × output) / 1e6; reasoning is inside the 300, priced once. */
const COST = (200 * PRICE.input_per_1m + 800 * PRICE.cached_input_per_1m + 300 * PRICE.output_per_1m) / 1e6

interface Priced { gw: TestGateway, headers: Record<string, string>, keyId: string }

/** A gateway whose only key has a daily budget of exactly one such request. */
async function setup (t: Test, budgetUsd = COST): Promise<Priced> {
  const key = generateKey()
  const gw = await startTestGateway({ mock: KNOBS, models: MODELS, env: { GATEWAY_KEYS: `payer:${hashKey(key)} budget=${budgetUsd}` } })
  t.teardown(() => gw.close())
  return { gw, headers: { authorization: `Bearer ${key}` }, keyId: 'payer' }
}

/** The key's counters as the limit check reads them (the in-process store without Redis). */
async function spent (p: Priced): Promise<BudgetUse> {
  // Element access reaches the private store: the test reads the very counters the limit uses,
  // through a reservation of nothing against no limit.
  const store = p.gw.app.budgets['store'] as BudgetStore
  return (await store.reserve(p.keyId, 0, 0, { tpm: 0, microUsdPerDay: 0 })).use
}

/** Waits until `n` reservations were settled with their request's real usage. */
async function settled (p: Priced, n: number): Promise<boolean> {
  return await waitFor(async () => await metricValue(p.gw.app, 'llm_gateway_limit_reservations_total', { outcome: 'settled' }) >= n, 5000)
}

const near = (a: number, b: number): boolean => Math.abs(a - b) < 1e-12

async function checkCharged (t: Test, p: Priced, model: string, tokens: { prompt: number, cached: number, completion: number, reasoning: number, cacheWrite: number }, cost: number, settledCount = 1): Promise<void> {
  const { gw } = p
  t.ok(await waitFor(async () => await metricValue(gw.app, 'llm_gateway_cost_usd_total', { model }) > 0, 5000), 'the request was accounted')
  const charged = await metricValue(gw.app, 'llm_gateway_cost_usd_total', { model })
  t.ok(near(charged, cost), `llm_gateway_cost_usd_total moved by exactly ${cost} (got ${charged})`)
  const tok = async (type: string): Promise<number> => await metricValue(gw.app, 'llm_gateway_tokens_total', { model, type, source: 'upstream' })
  t.equal(await tok('prompt'), tokens.prompt, 'prompt tokens')
  t.equal(await tok('completion'), tokens.completion, 'completion tokens')
  t.equal(await tok('cached_prompt'), tokens.cached, 'cached_prompt tokens')
  t.equal(await tok('reasoning'), tokens.reasoning, 'reasoning tokens')
  t.equal(await tok('cache_write'), tokens.cacheWrite, 'cache_write tokens')
  t.equal(await metricValue(gw.app, 'llm_gateway_tokens_total', { source: 'estimated' }), 0, 'nothing estimated')
  t.ok(await settled(p, settledCount), 'the key\'s reservation was settled with the real usage')
  t.same(await spent(p), { tokens: tokens.prompt + tokens.completion, spendMicroUsd: Math.round(cost * 1e6) }, 'the key\'s budget counters moved by exactly that')
  const line = gw.logs().split('\n').filter((l) => l.includes('"msg":"request"')).map((l) => JSON.parse(l) as Json).at(-1)
  // every request of a test costs the same: the last line shows one request's share
  t.ok(line !== undefined && near(line.cost_usd as number, cost / settledCount), 'the request log line says the same cost')
}

/** The budget was exactly one request: the next one is refused before it reaches the upstream. */
async function checkBudgetSpent (t: Test, p: Priced, path: string, body: Json, headers: Record<string, string> = {}): Promise<void> {
  const before = p.gw.mock.stats().requests
  const res = await injectPost(p.gw, path, body, { ...p.headers, ...headers })
  t.equal(res.statusCode, 429, 'the key\'s daily budget is spent')
  t.match(res.body, /insufficient_quota|rate_limit_error/)
  t.equal(p.gw.mock.stats().requests, before, 'the refused request never reached the upstream')
}

const OPENAI_TOKENS = { prompt: 1000, cached: 800, completion: 300, reasoning: 200, cacheWrite: 0 }
const chat = { model: 'gpt-4.1', messages: [{ role: 'user', content: 'hello' }] }
const responses = { model: 'gpt-4.1', input: 'hello' }
const messages = { model: 'claude-sonnet-4.5', max_tokens: 512, messages: [{ role: 'user', content: 'hello' }] }
const ANTHROPIC = { 'anthropic-version': '2023-06-01' }

const CASES: Array<{ name: string, path: string, body: Json, headers?: Record<string, string>, model: string, check: (t: Test, res: { statusCode: number, body: string }) => void }> = [
  {
    name: 'chat (JSON)',
    path: '/v1/chat/completions',
    body: chat,
    model: 'gpt-4.1',
    check: (t, res) => { t.match(JSON.parse(res.body), { usage: { prompt_tokens: 1000, prompt_tokens_details: { cached_tokens: 800 }, completion_tokens: 300, completion_tokens_details: { reasoning_tokens: 200 } } }) }
  },
  {
    name: 'chat (stream, usage asked for by the gateway)',
    path: '/v1/chat/completions',
    body: { ...chat, stream: true },
    model: 'gpt-4.1',
    check: (t, res) => { t.notMatch(res.body, /"usage":\{/, 'the client, which did not ask, gets no usage chunk') }
  },
  {
    name: 'chat (stream, usage asked for by the client)',
    path: '/v1/chat/completions',
    body: { ...chat, stream: true, stream_options: { include_usage: true } },
    model: 'gpt-4.1',
    check: (t, res) => { t.match(res.body, /"cached_tokens":800/) }
  },
  {
    name: 'Responses (JSON)',
    path: '/v1/responses',
    body: responses,
    model: 'gpt-4.1',
    check: (t, res) => { t.match(JSON.parse(res.body), { usage: { input_tokens: 1000, input_tokens_details: { cached_tokens: 800 }, output_tokens: 300, output_tokens_details: { reasoning_tokens: 200 } } }) }
  },
  {
    name: 'Responses (stream)',
    path: '/v1/responses',
    body: { ...responses, stream: true },
    model: 'gpt-4.1',
    check: (t, res) => { t.match(res.body, /event: response\.completed/) }
  },
  {
    name: 'Messages (JSON)',
    path: '/v1/messages',
    body: messages,
    headers: ANTHROPIC,
    model: 'claude-sonnet-4.5',
    check: (t, res) => { t.match(JSON.parse(res.body), { usage: { input_tokens: 200, cache_read_input_tokens: 800, cache_creation_input_tokens: 0, output_tokens: 300 } }) }
  },
  {
    name: 'Messages (stream)',
    path: '/v1/messages',
    body: { ...messages, stream: true },
    headers: ANTHROPIC,
    model: 'claude-sonnet-4.5',
    check: (t, res) => { t.match(res.body, /event: message_stop/) }
  }
]

for (const c of CASES) {
  t.test(`${c.name}: cost, tokens and budget move by exactly the priced usage`, async (t) => {
    const p = await setup(t)
    const res = await injectPost(p.gw, c.path, c.body, { ...p.headers, ...c.headers })
    t.equal(res.statusCode, 200)
    c.check(t, res)
    // Anthropic reports no reasoning split: its 300 output tokens are priced once all the same
    const tokens = c.model === 'claude-sonnet-4.5' ? { ...OPENAI_TOKENS, reasoning: 0 } : OPENAI_TOKENS
    await checkCharged(t, p, c.model, tokens, COST)
    await checkBudgetSpent(t, p, c.path, c.body, c.headers)
  })
}

t.test('a budget one micro-dollar above the cost lets the next request through', async (t) => {
  const p = await setup(t, COST + 0.000001)
  t.equal((await injectPost(p.gw, '/v1/responses', responses, p.headers)).statusCode, 200)
  t.ok(await settled(p, 1))
  t.equal((await injectPost(p.gw, '/v1/responses', responses, p.headers)).statusCode, 200, 'not refused: the first cost no more than priced')
})

t.test('Messages with cache writes: priced at the cache-write price, counted as cache_write', async (t) => {
  const key = generateKey()
  const gw = await startTestGateway({
    mock: { prompt_tokens: 1000, cached_tokens: 600, cache_write_tokens: 200, completion_tokens: 300 },
    models: MODELS,
    env: { GATEWAY_KEYS: `payer:${hashKey(key)} budget=1` }
  })
  t.teardown(() => gw.close())
  const p: Priced = { gw, headers: { authorization: `Bearer ${key}` }, keyId: 'payer' }
  for (const stream of [false, true]) {
    const res = await injectPost(gw, '/v1/messages', { ...messages, stream }, { ...p.headers, ...ANTHROPIC })
    t.equal(res.statusCode, 200)
    if (!stream) t.match(JSON.parse(res.body), { usage: { input_tokens: 200, cache_creation_input_tokens: 200, cache_read_input_tokens: 600, output_tokens: 300 } })
  }
  // twice: (200 uncached × 4 + 600 reads × 0.5 + 200 writes × 5 + 300 × 16) / 1e6 each
  const cost = 2 * (200 * PRICE.input_per_1m + 600 * PRICE.cached_input_per_1m + 200 * PRICE.cache_write_per_1m + 300 * PRICE.output_per_1m) / 1e6
  t.ok(await waitFor(async () => near(await metricValue(gw.app, 'llm_gateway_cost_usd_total', { model: 'claude-sonnet-4.5' }), cost), 5000), `cost ${cost}`)
  await checkCharged(t, p, 'claude-sonnet-4.5', { prompt: 2000, cached: 1200, completion: 600, reasoning: 0, cacheWrite: 400 }, cost, 2)
})

t.test('cached and cache-write prices fall back to the input price when the models file gives none', async (t) => {
  const key = generateKey()
  const gw = await startTestGateway({
    mock: KNOBS,
    models: [{ id: 'gpt-4.1', type: 'chat', price: { input_per_1m: 4, output_per_1m: 16 } }],
    env: { GATEWAY_KEYS: `payer:${hashKey(key)} budget=1` }
  })
  t.teardown(() => gw.close())
  const p: Priced = { gw, headers: { authorization: `Bearer ${key}` }, keyId: 'payer' }
  t.equal((await injectPost(gw, '/v1/chat/completions', chat, p.headers)).statusCode, 200)
  await checkCharged(t, p, 'gpt-4.1', OPENAI_TOKENS, (1000 * 4 + 300 * 16) / 1e6)
})
