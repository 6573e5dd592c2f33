// Three gateways, the mock upstream and a real Prometheus with the shipped rules: after mixed
// traffic every dashboard query and every recording rule returns data, the alert rules load and
// evaluate, and the token counters equal the usage the upstream reported.
import t from 'tap'
import {
  dashboardsDir, dataPanels, instantQuery, jsonFiles, loadDashboard, loadRules, loadedRules,
  substituteGrafanaVars
} from '../support/prometheus.js'
import { startNativeStack, stackKey, type StackState } from '../support/native-stack.js'
import { sumSamples } from '../support/metrics.js'
import { waitFor, waitUntil } from '../support/wait.js'

type Gateway = StackState['gateways'][number]

// Scrapes and rule evaluations every second, so the test need not wait long for data.
const stack = await startNativeStack(t, ['--replicas', '3', '--prometheus', '--scrape-interval', '1s', '--key', 'limited rpm=1'])
const { gateways, mock } = stack
if (stack.prometheus === null) throw new Error('the stack was started without Prometheus')
const prom = stack.prometheus
const MAIN_KEY = stackKey(stack, 'default')
const LIMITED_KEY = stackKey(stack, 'limited')

// Prometheus applies discovered targets a few seconds after start; traffic sent before a replica's
// first scrape would be part of its counters' starting values and never show in rate().
await waitUntil('every replica scraped', async () => Number((await instantQuery(prom.url, 'count(up{job="llm-gateway"} == 1)'))[0]?.value[1] ?? 0) === gateways.length,
  { timeoutMs: 20000, intervalMs: 250 })

// Counter series are born with the traffic that increments them, and a series first seen at its
// final value has rate() 0. One request a replica, scraped before the test traffic, gives the request
// counters a baseline, so ratio rules that need a non-zero denominator always have one.
const warmedAt = Date.now() / 1000
await Promise.all(gateways.map(async (g) => {
  const res = await fetch(`${g.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${MAIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'warm up' }] })
  })
  await res.arrayBuffer()
}))
await waitUntil('every replica scraped after the warm-up', async () => Number((await instantQuery(prom.url, `count(timestamp(up{job="llm-gateway"}) > ${warmedAt + 1})`))[0]?.value[1] ?? 0) === gateways.length,
  { timeoutMs: 20000, intervalMs: 250 })

interface Sent { status: number, text: string }

/** One request; `abortAfterChunks` reads that many body chunks of a stream, then goes away. */
async function send (gw: Gateway, path: string, body?: object, opts: { key?: string, abortAfterChunks?: number, anthropic?: boolean } = {}): Promise<Sent> {
  const ac = new AbortController()
  const res = await fetch(`${gw.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${opts.key ?? MAIN_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(opts.anthropic === true ? { 'anthropic-version': '2023-06-01' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.any([ac.signal, AbortSignal.timeout(20000)])
  })
  if (opts.abortAfterChunks !== undefined && res.body !== null) {
    const reader = res.body.getReader()
    for (let i = 0; i < opts.abortAfterChunks; i++) await reader.read()
    ac.abort()
    await reader.cancel().catch(() => {})
    return { status: res.status, text: '' }
  }
  return { status: res.status, text: await res.text() }
}

const chat = (model: string, extra: object = {}): object => ({ model, messages: [{ role: 'user', content: 'Say something short.' }], ...extra })

/** Requests whose usage the upstream reports in full: the token counters must match it exactly. */
async function cleanTraffic (gw: Gateway): Promise<Sent[]> {
  return await Promise.all([
    send(gw, '/v1/chat/completions', chat('gpt-4.1')),
    send(gw, '/v1/chat/completions', chat('claude-sonnet-4.5', { stream: true, stream_options: { include_usage: true } })),
    send(gw, '/v1/chat/completions', chat('gemini-2.5-flash', { stream: true, mock: { chunks: 8 } })),
    send(gw, '/v1/completions', { model: 'deepseek-v3.2', prompt: 'Once upon a time' }),
    send(gw, '/v1/embeddings', { model: 'text-embedding-3-small', input: ['one input', 'and another one'] })
  ])
}

/** Everything else the dashboard has a panel for: failures, limits, aborts, cut streams. */
async function failureTraffic (gw: Gateway): Promise<Sent[]> {
  const out = await Promise.all([
    send(gw, '/v1/models'),
    send(gw, '/v1/chat/completions', chat('gpt-4.1', { mock: { fault: '500' } })),
    send(gw, '/v1/chat/completions', { model: 'gpt-4.1' }),
    send(gw, '/v1/chat/completions', chat('deepseek-v3.2', { stream: true, mock: { fault: 'cut', chunks: 6, cut_after: 2 } })),
    send(gw, '/v1/chat/completions', chat('claude-sonnet-4.5', { stream: true, mock: { chunks: 20, chunk_delay_ms: 200 } }), { abortAfterChunks: 2 }),
    // prompt caching and reasoning, for the cache-hit share and reasoning panels
    send(gw, '/v1/responses', { model: 'gpt-4.1', input: 'Think, then answer.', mock: { prompt_tokens: 1000, cached_tokens: 800, reasoning_tokens: 2 } }),
    send(gw, '/v1/messages', { model: 'claude-sonnet-4.5', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }], mock: { prompt_tokens: 1000, cached_tokens: 600, cache_write_tokens: 100 } }, { anthropic: true })
  ])
  // a key allowed one request a minute, across all replicas (the limit lives in Redis)
  out.push(await send(gw, '/v1/chat/completions', chat('gpt-4.1'), { key: LIMITED_KEY }))
  out.push(await send(gw, '/v1/chat/completions', chat('gpt-4.1'), { key: LIMITED_KEY }))
  return out
}

async function upstreamTokens (): Promise<{ prompt: number, completion: number }> {
  const texts = await Promise.all(gateways.map(async (g) => await (await fetch(g.metricsUrl)).text()))
  const sum = (type: string): number => texts.reduce((acc, text) => acc + sumSamples(text, 'llm_gateway_tokens_total', { type, source: 'upstream' }), 0)
  return { prompt: sum('prompt'), completion: sum('completion') }
}

async function mockUsage (): Promise<{ prompt_tokens: number, completion_tokens: number }> {
  const stats = await (await fetch(`${mock.url}/_mock/stats`)).json() as { usage_reported: { prompt_tokens: number, completion_tokens: number } }
  return stats.usage_reported
}

t.test('token counters equal the usage the upstream reported', async (t) => {
  const before = await upstreamTokens()
  await fetch(`${mock.url}/_mock/reset`, { method: 'POST' })
  const results = (await Promise.all(gateways.map(cleanTraffic))).flat()
  t.same(results.map((r) => r.status), results.map(() => 200), 'every clean request succeeded')
  const reported = await mockUsage()
  t.ok(reported.prompt_tokens > 0 && reported.completion_tokens > 0, 'the upstream reported usage')
  // accounting happens when the response ends, which can be a moment after the client has it
  let delta = { prompt: -1, completion: -1 }
  await waitFor(async () => {
    const after = await upstreamTokens()
    delta = { prompt: after.prompt - before.prompt, completion: after.completion - before.completion }
    return delta.prompt === reported.prompt_tokens && delta.completion === reported.completion_tokens
  }, 10_000, 100)
  t.same(delta, { prompt: reported.prompt_tokens, completion: reported.completion_tokens }, 'llm_gateway_tokens_total{source="upstream"} over all replicas')
})

t.test('failures, limits and aborts are answered as expected', async (t) => {
  const perGateway = await Promise.all(gateways.map(failureTraffic))
  const limited = perGateway.flatMap((r) => r.slice(7).map((x) => x.status))
  t.equal(limited.filter((s) => s === 200).length, 1, 'the limited key got exactly one request through')
  for (const [models, upstream500, bad, cut, aborted, responses, messages, , secondLimited] of perGateway) {
    t.equal(responses?.status, 200, 'a Responses request with cached and reasoning tokens')
    t.equal(messages?.status, 200, 'a Messages request with cache reads and writes')
    t.equal(models?.status, 200, '/v1/models')
    t.equal(Math.floor((upstream500?.status ?? 0) / 100), 5, 'upstream 500 becomes a 5xx')
    t.equal(bad?.status, 400, 'a request without messages is a 400')
    t.equal(cut?.status, 200, 'a cut stream started as a 200')
    t.match(cut?.text, /data: \{"error":/, 'a cut stream ends with an error event')
    t.notMatch(cut?.text, '[DONE]', 'and has no [DONE]')
    t.equal(aborted?.status, 200, 'the aborted stream started')
    t.equal(secondLimited?.status, 429, 'second request of the limited key')
  }
  // estimated usage for the cut streams, labelled as estimated
  let estimated = 0
  await waitFor(async () => {
    const texts = await Promise.all(gateways.map(async (g) => await (await fetch(g.metricsUrl)).text()))
    estimated = texts.reduce((acc, text) => acc + sumSamples(text, 'llm_gateway_tokens_total', { source: 'estimated' }), 0)
    return estimated > 0
  }, 10_000, 100)
  t.ok(estimated > 0, 'llm_gateway_tokens_total{source="estimated"} counts the cut streams')
})

t.test('every dashboard query and recording rule returns data from Prometheus', async (t) => {
  const queries = [
    ...jsonFiles(dashboardsDir).flatMap((f) => dataPanels(loadDashboard(f)).flatMap((p) =>
      (p.targets ?? []).map((x) => ({ what: `panel "${p.title}" ${x.refId ?? ''}`, expr: substituteGrafanaVars(x.expr ?? '') })))),
    ...loadRules().filter((r) => r.record !== undefined).flatMap((r) => [
      { what: `rule expr ${r.record ?? ''}`, expr: r.expr },
      { what: `recorded series ${r.record ?? ''}`, expr: r.record ?? '' }
    ])
  ]
  // every replica scraped at least twice after the traffic, and the rules evaluated on it
  const since = Date.now() / 1000
  // Until every replica was scraped after the traffic, no query has been asked yet.
  let empty = ['(every replica scraped after the traffic)']
  await waitFor(async () => {
    const scraped = await instantQuery(prom.url, `count(timestamp(up{job="llm-gateway"}) > ${since + 2})`)
    if (Number(scraped[0]?.value[1] ?? 0) !== gateways.length) return false
    empty = []
    for (const q of queries) {
      if ((await instantQuery(prom.url, q.expr)).length === 0) empty.push(`${q.what}: ${q.expr}`)
    }
    return empty.length === 0
  }, 60_000, 1000)
  t.same(empty, [], 'queries without data')
  const perReplica = await instantQuery(prom.url, 'count by (instance) (llm_gateway_requests_total)')
  t.equal(perReplica.length, gateways.length, 'every replica is its own instance')
})

t.test('every gateway metric has series on every replica, with the labels the traffic implies', async (t) => {
  const expected: Array<[string, string]> = [
    ['llm_gateway_requests_total{status="2xx", stream="true"}', 'successful streams'],
    ['llm_gateway_requests_total{status="4xx"}', 'client errors'],
    ['llm_gateway_requests_total{status="5xx"}', 'server errors'],
    ['llm_gateway_requests_total{route="/v1/embeddings"}', 'embeddings'],
    ['llm_gateway_requests_total{route="/v1/completions"}', 'completions'],
    ['llm_gateway_requests_total{route="/v1/models", model="none"}', 'model list'],
    ['llm_gateway_request_duration_seconds_count', 'request durations'],
    ['llm_gateway_upstream_duration_seconds_count{upstream="default"}', 'upstream durations'],
    ['llm_gateway_time_to_first_token_seconds_count', 'time to first token'],
    ['llm_gateway_tokens_total{source="upstream"}', 'upstream usage'],
    ['llm_gateway_tokens_total{source="estimated"}', 'estimated usage'],
    ['llm_gateway_cost_usd_total', 'cost'],
    ['llm_gateway_requests_in_flight', 'in-flight gauge'],
    ['llm_gateway_upstream_errors_total{reason="status_5xx"}', 'upstream 5xx'],
    ['llm_gateway_rate_limited_total{scope="key"}', 'per-key limit'],
    ['llm_gateway_stream_aborts_total{side="client"}', 'client aborts'],
    ['llm_gateway_stream_aborts_total{side="upstream"}', 'upstream cuts'],
    ['process_resident_memory_bytes{job="llm-gateway"}', 'process metrics'],
    ['nodejs_eventloop_lag_p99_seconds{job="llm-gateway"}', 'event-loop lag']
  ]
  for (const [selector, what] of expected) {
    const perInstance = await instantQuery(prom.url, `count by (instance) (${selector})`)
    t.equal(perInstance.length, gateways.length, `${what}: ${selector} on every replica`)
  }
})

t.test('the alert rules are loaded and evaluate cleanly', async (t) => {
  const alerts = loadRules().filter((r) => r.alert !== undefined).map((r) => r.alert ?? '')
  let states: Awaited<ReturnType<typeof loadedRules>> = []
  await waitFor(async () => {
    states = await loadedRules(prom.url)
    return states.length > 0 && states.every((s) => s.health === 'ok')
  }, 10_000, 500)
  t.same(alerts.filter((a) => !states.some((s) => s.type === 'alerting' && s.name === a)), [], 'every alert is loaded')
  t.same(states.filter((s) => s.health !== 'ok').map((s) => `${s.name}: ${s.health} ${s.lastError ?? ''}`), [], 'every rule evaluates without error')
})
