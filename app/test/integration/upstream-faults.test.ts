// Upstream failures through the mock: each becomes the status and code DESIGN.md gives, and is counted by reason.
import t, { type Test } from 'tap'
import { UPSTREAM_KEY, chatBody, metricValue, startTestGateway, type TestGateway, type TestGatewayOptions } from '../support/gateway.js'
import { assertOpenAIError, injectPost, sseData, type Json } from '../support/http.js'
import { waitFor } from '../support/wait.js'

const chat = '/v1/chat/completions'

async function setup (t: Test, opts: TestGatewayOptions = {}): Promise<TestGateway> {
  const gw = await startTestGateway(opts)
  t.teardown(() => gw.close())
  return gw
}

async function upstreamErrors (gw: TestGateway, reason: string): Promise<number> {
  return await metricValue(gw.app, 'llm_gateway_upstream_errors_total', { upstream: 'default', reason })
}

/** The parsed data events of an SSE body, and whether it ended with [DONE]. */
function streamOf (text: string): { events: Json[], done: boolean } {
  const data = sseData(text)
  const done = data.includes('[DONE]')
  return { events: data.filter((d) => d !== '[DONE]').map((d) => JSON.parse(d) as Json), done }
}

t.test('upstream 429 with Retry-After: 429 rate_limit_error, retry-after kept', async (t) => {
  const gw = await setup(t)
  const res = await injectPost(gw, chat, chatBody({ mock: { fault: '429', retry_after: 7 } }))
  assertOpenAIError(t, res, 429, 'rate_limit_error', 'rate_limit_exceeded')
  t.equal(res.headers['retry-after'], '7')
  t.equal(res.headers['x-ratelimit-limit-requests'], String(gw.config.rateLimitRpm), 'the key\'s own limit, not the upstream\'s x-ratelimit-* values')
  t.equal(await upstreamErrors(gw, 'status_429'), 1)
})

t.test('upstream 500: 502 upstream_error', async (t) => {
  const gw = await setup(t)
  const res = await injectPost(gw, chat, chatBody({ mock: { fault: '500' } }))
  const body = assertOpenAIError(t, res, 502, 'api_error', 'upstream_error')
  t.notOk(JSON.stringify(body).includes('mock fault'), 'not the upstream\'s text')
  t.equal(await upstreamErrors(gw, 'status_5xx'), 1)
})

t.test('upstream 502: 502 upstream_error', async (t) => {
  const gw = await setup(t)
  const res = await injectPost(gw, chat, chatBody({ mock: { fault: '502' } }))
  assertOpenAIError(t, res, 502, 'api_error', 'upstream_error')
})

t.test('upstream 503: 503 upstream_unavailable', async (t) => {
  const gw = await setup(t)
  const res = await injectPost(gw, chat, chatBody({ mock: { fault: '503' } }))
  assertOpenAIError(t, res, 503, 'api_error', 'upstream_unavailable')
  t.equal(await upstreamErrors(gw, 'status_5xx'), 1)
})

t.test('a storm of upstream 500s: every answer a JSON 502, none from Fastify itself; then held back, then recovery', async (t) => {
  const gw = await setup(t, { env: { UPSTREAM_BREAKER_COOLDOWN_MS: '300' } })
  gw.mock.setConfig({ fault: '500' })
  const all = await Promise.all(Array.from({ length: 20 }, async () => await injectPost(gw, chat, chatBody())))
  t.same(all.map((r) => r.statusCode), Array(20).fill(502), 'twenty 502s')
  t.same(all.map((r) => (JSON.parse(r.body) as Json).error?.code), Array(20).fill('upstream_error'), 'all upstream_error')
  t.equal(await upstreamErrors(gw, 'status_5xx'), 20)
  t.equal(gw.mock.stats().requests, 20)
  gw.mock.setConfig({ fault: 'none' })
  // The breaker opened: the only target is held back, and the client hears how long at once.
  const held = await injectPost(gw, chat, chatBody())
  if (held.statusCode === 503) {
    assertOpenAIError(t, held, 503, 'api_error', 'upstream_unavailable')
    t.match(String(held.headers['retry-after']), /^\d+$/, 'with Retry-After')
    t.equal(gw.mock.stats().requests, 20, 'without a request to the upstream')
  } else {
    t.equal(held.statusCode, 200, 'the cooldown was already over (a slow machine): the probe went through')
  }
  let last = 0
  t.ok(await waitFor(async () => { last = (await injectPost(gw, chat, chatBody())).statusCode; return last === 200 }, 10_000, 50), `serves again once the cooldown is over and the probe succeeded (last ${last})`)
  t.equal(await metricValue(gw.app, 'llm_gateway_requests_in_flight'), 0)
})

t.test('upstream 400 passes through with its code, scrubbed of the upstream key', async (t) => {
  const gw = await setup(t)
  const quoted = `Bad value; your key ${UPSTREAM_KEY} and header Bearer ${UPSTREAM_KEY} were received.`
  const res = await injectPost(gw, chat, chatBody({ mock: { fault: '400', fault_status_body: quoted } }))
  const body = assertOpenAIError(t, res, 400, 'invalid_request_error', 'invalid_value')
  t.notOk(res.body.includes(UPSTREAM_KEY), 'no upstream key in the body')
  t.match(body.error.message, /\[redacted\]/, 'the key was replaced')
  t.equal(await upstreamErrors(gw, 'status_4xx'), 1)
})

t.test('upstream 422, 404 and 409 pass through with their status and code', async (t) => {
  const gw = await setup(t)
  for (const [fault, code] of [['422', 'unprocessable_entity'], ['404', 'model_not_found'], ['409', 'conflict']] as const) {
    const res = await injectPost(gw, chat, chatBody({ mock: { fault } }))
    assertOpenAIError(t, res, Number(fault), 'invalid_request_error', code)
  }
})

t.test('upstream 401 (the upstream quotes our key): 502 upstream_auth_failed, generic text', async (t) => {
  const gw = await setup(t)
  const res = await injectPost(gw, chat, chatBody({ mock: { fault: '401' } }))
  assertOpenAIError(t, res, 502, 'api_error', 'upstream_auth_failed')
  t.notOk(res.body.includes(UPSTREAM_KEY), 'no upstream key')
  t.notOk(res.body.includes('Incorrect API key'), 'not the upstream\'s text')
  t.equal(await upstreamErrors(gw, 'auth'), 1)
})

t.test('upstream 403: 502 upstream_auth_failed', async (t) => {
  const gw = await setup(t)
  const res = await injectPost(gw, chat, chatBody({ mock: { fault: '403' } }))
  assertOpenAIError(t, res, 502, 'api_error', 'upstream_auth_failed')
  t.equal(await upstreamErrors(gw, 'auth'), 1)
})

t.test('connection refused: 502 upstream_error, counted as connect', async (t) => {
  const gw = await setup(t, { upstreamDown: true })
  const res = await injectPost(gw, chat, chatBody())
  assertOpenAIError(t, res, 502, 'api_error', 'upstream_error')
  t.equal(await upstreamErrors(gw, 'connect'), 1)
})

t.test('a hanging upstream: 504 upstream_timeout after the headers timeout, upstream request aborted', async (t) => {
  const gw = await setup(t, { env: { UPSTREAM_HEADERS_TIMEOUT_MS: '300' } })
  const t0 = performance.now()
  const res = await injectPost(gw, chat, chatBody({ mock: { fault: 'hang' } }))
  const ms = performance.now() - t0
  assertOpenAIError(t, res, 504, 'api_error', 'upstream_timeout')
  t.ok(ms >= 250 && ms < 20_000, `answered after the 300 ms timeout, not never (${Math.round(ms)} ms)`)
  t.ok(await waitFor(() => gw.mock.stats().aborted === 1, 10_000), 'the mock saw the request aborted')
  t.equal(await upstreamErrors(gw, 'timeout'), 1)
})

t.test('a stream that stalls mid-way ends with an upstream_timeout error event and no [DONE]', async (t) => {
  const gw = await setup(t, { env: { UPSTREAM_IDLE_TIMEOUT_MS: '300' } })
  const t0 = performance.now()
  const res = await injectPost(gw, chat, chatBody({ stream: true, mock: { fault: 'stall', cut_after: 2 } }))
  const ms = performance.now() - t0
  t.equal(res.statusCode, 200)
  const { events, done } = streamOf(res.body)
  t.notOk(done, 'no [DONE]')
  t.equal(events.at(-1)?.error?.code, 'upstream_timeout', 'the last event is the error')
  t.equal(events.slice(0, -1).map((e) => e.choices?.[0]?.delta?.content ?? '').join(''), 'tok0 tok1', 'the chunks before the stall')
  t.ok(ms >= 250 && ms < 20_000, `ended by the idle timeout, not never (${Math.round(ms)} ms)`)
  t.equal(await upstreamErrors(gw, 'idle_timeout'), 1)
  t.ok(await waitFor(() => gw.mock.stats().in_flight === 0, 10_000), 'the upstream request was ended')
})

t.test('a non-stream body that stalls: 504 upstream_timeout, counted as idle_timeout', async (t) => {
  const gw = await setup(t, { env: { UPSTREAM_IDLE_TIMEOUT_MS: '300' } })
  const res = await injectPost(gw, chat, chatBody({ mock: { fault: 'stall' } }))
  assertOpenAIError(t, res, 504, 'api_error', 'upstream_timeout')
  t.equal(await upstreamErrors(gw, 'idle_timeout'), 1)
})

t.test('a stream cut mid-way ends with an upstream_error event and no [DONE]', async (t) => {
  const gw = await setup(t)
  const res = await injectPost(gw, chat, chatBody({ stream: true, mock: { fault: 'cut', cut_after: 3 } }))
  t.equal(res.statusCode, 200)
  const { events, done } = streamOf(res.body)
  t.notOk(done, 'no [DONE]')
  t.equal(events.at(-1)?.error?.code, 'upstream_error')
  t.equal(events.at(-1)?.error?.type, 'api_error')
  t.equal(events.slice(0, -1).map((e) => e.choices?.[0]?.delta?.content ?? '').join(''), 'tok0 tok1 tok2')
  t.equal(await upstreamErrors(gw, 'reset'), 1)
  t.equal(await metricValue(gw.app, 'llm_gateway_stream_aborts_total', { side: 'upstream' }), 1)
  t.equal(gw.mock.stats().requests, 1, 'a started stream is never retried')
})

t.test('a connection reset before the answer: 502 upstream_error, counted as reset', async (t) => {
  const gw = await setup(t)
  const res = await injectPost(gw, chat, chatBody({ mock: { fault: 'reset' } }))
  assertOpenAIError(t, res, 502, 'api_error', 'upstream_error')
  t.equal(await upstreamErrors(gw, 'reset'), 1)
})

t.test('a non-stream body cut half-way: 502 upstream_error', async (t) => {
  const gw = await setup(t)
  const res = await injectPost(gw, chat, chatBody({ mock: { fault: 'cut' } }))
  assertOpenAIError(t, res, 502, 'api_error', 'upstream_error')
  t.equal(await upstreamErrors(gw, 'reset'), 1)
})

t.test('invalid JSON from the upstream: 502 upstream_error, counted as invalid_response', async (t) => {
  const gw = await setup(t)
  const res = await injectPost(gw, chat, chatBody({ mock: { fault: 'invalid_json' } }))
  assertOpenAIError(t, res, 502, 'api_error', 'upstream_error')
  t.equal(await upstreamErrors(gw, 'invalid_response'), 1)
})
