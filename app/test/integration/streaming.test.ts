// SSE relay over a real socket: bytes as they arrive, usage injection and stripping, client disconnects, TTFT.
import t, { type Test } from 'tap'
import { chatBody, metricValue, mockText, startTestGateway, type TestGateway, type TestGatewayOptions } from '../support/gateway.js'
import { histogram } from '../support/metrics.js'
import { sseData, streamTimed, type Json } from '../support/http.js'
import { waitFor } from '../support/wait.js'

async function setup (t: Test, opts: TestGatewayOptions = {}): Promise<{ gw: TestGateway, url: string }> {
  const gw = await startTestGateway(opts)
  t.teardown(() => gw.close())
  const base = await gw.listen()
  return { gw, url: `${base}/v1/chat/completions` }
}

/** In-flight drops when accounting ends; a cut stream's first token estimate may load the tokenizer first. */
async function inFlightIsZero (gw: TestGateway): Promise<boolean> {
  return await waitFor(async () => await metricValue(gw.app, 'llm_gateway_requests_in_flight') === 0, 10_000)
}

/**
 * Starts a request and aborts it once `ready` says what was read so far is enough, or after
 * `afterMs` (for aborting while the body is quiet).
 */
async function abortAfter (url: string, body: unknown, headers: Record<string, string>, when: { ready?: (text: string) => boolean, afterMs?: number }): Promise<{ status: number, text: string }> {
  const ac = new AbortController()
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), signal: ac.signal })
  const timer = when.afterMs === undefined ? undefined : setTimeout(() => { ac.abort() }, when.afterMs)
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  let text = ''
  try {
    while (when.ready === undefined || !when.ready(text)) {
      const { value, done } = await reader.read()
      if (done) break
      text += decoder.decode(value, { stream: true })
    }
  } catch {
    // the abort ends the read
  } finally {
    clearTimeout(timer)
  }
  ac.abort()
  await reader.cancel().catch(() => {})
  return { status: res.status, text }
}

t.test('stream bytes reach the client as the upstream sends them', async (t) => {
  const { gw, url } = await setup(t)
  // The upstream holds the second chunk back for a minute: the first token can only reach the
  // client within the wait below if nothing between them buffers it.
  const r = await abortAfter(url, chatBody({ stream: true, mock: { chunks: 3, chunk_delay_ms: 60_000 } }), gw.auth(), {
    ready: (text) => text.includes('"content":"tok0"'),
    afterMs: 20_000
  })
  t.equal(r.status, 200)
  t.match(r.text, /"content":"tok0"/, 'the first token arrived while the upstream held back the rest')
  t.notMatch(r.text, /tok1|\[DONE\]/, 'nothing the upstream had not sent yet')
  t.equal(gw.mock.stats().completed, 0, 'the upstream had not finished')
  t.ok(await waitFor(() => gw.mock.stats().aborted === 1, 10_000), 'leaving aborted the held upstream request')
})

t.test('a paced stream arrives whole, in order, with the SSE headers', async (t) => {
  const { gw, url } = await setup(t)
  const r = await streamTimed(url, chatBody({ stream: true, mock: { chunks: 3, chunk_delay_ms: 50 } }), gw.auth())
  t.equal(r.status, 200)
  t.match(r.headers.get('content-type'), /^text\/event-stream/)
  t.equal(r.headers.get('x-accel-buffering'), 'no')
  const data = sseData(r.text)
  t.equal(data.at(-1), '[DONE]')
  t.equal(data.slice(0, -1).map((d) => (JSON.parse(d) as Json).choices[0]?.delta?.content ?? '').join(''), mockText(3))
})

t.test('include_usage asked by the client: its usage chunk passes, once', async (t) => {
  const { gw, url } = await setup(t)
  const r = await streamTimed(url, chatBody({ stream: true, stream_options: { include_usage: true } }), gw.auth())
  const chunks = sseData(r.text).filter((d) => d !== '[DONE]').map((d) => JSON.parse(d) as Json)
  const usageChunks = chunks.filter((c) => c.usage !== null && c.usage !== undefined)
  t.equal(usageChunks.length, 1, 'one usage chunk')
  t.same(usageChunks[0]?.choices, [])
  t.match(usageChunks[0]?.usage, { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 })
  t.equal(chunks.at(-1), usageChunks[0], 'it is the last chunk before [DONE]')
  t.same(gw.mock.stats().usage_reported, { prompt_tokens: 3, completion_tokens: 5 })
})

t.test('include_usage not asked: the gateway still gets usage, the client sees no usage chunk', async (t) => {
  const { gw, url } = await setup(t)
  const r = await streamTimed(url, chatBody({ stream: true }), gw.auth())
  const data = sseData(r.text)
  t.equal(data.at(-1), '[DONE]')
  const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as Json)
  t.equal(chunks.length, 7, 'role, five words, finish')
  for (const c of chunks) {
    t.ok(Array.isArray(c.choices) && c.choices.length > 0, 'no chunk with empty choices')
    t.equal(c.usage, undefined, 'no usage field at all, as OpenAI sends it')
  }
  // the mock only sends (and reports) usage when the request carried include_usage: true
  t.same(gw.mock.stats().usage_reported, { prompt_tokens: 3, completion_tokens: 5 }, 'the upstream was asked for usage')
  const counted = async (type: string): Promise<number> => await metricValue(gw.app, 'llm_gateway_tokens_total', { model: 'gpt-4.1', type, source: 'upstream' })
  t.ok(await waitFor(async () => await counted('completion') === 5, 10_000), 'completion tokens from upstream usage')
  t.equal(await counted('prompt'), 3)
  t.equal(await metricValue(gw.app, 'llm_gateway_tokens_total', { source: 'estimated' }), 0, 'nothing estimated')
})

t.test('include_usage: false from the client is treated as not asked', async (t) => {
  const { gw, url } = await setup(t)
  const r = await streamTimed(url, chatBody({ stream: true, stream_options: { include_usage: false } }), gw.auth())
  const chunks = sseData(r.text).filter((d) => d !== '[DONE]').map((d) => JSON.parse(d) as Json)
  t.notOk(chunks.some((c) => Array.isArray(c.choices) && c.choices.length === 0), 'no usage-only chunk')
  t.same(gw.mock.stats().usage_reported, { prompt_tokens: 3, completion_tokens: 5 })
})

t.test('usage and cost are counted for non-stream answers too', async (t) => {
  const { gw, url } = await setup(t)
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...gw.auth() }, body: JSON.stringify(chatBody()) })
  t.equal(res.status, 200)
  await res.arrayBuffer()
  t.ok(await waitFor(async () => await metricValue(gw.app, 'llm_gateway_tokens_total', { source: 'upstream', type: 'prompt' }) === 3, 10_000))
  // gpt-4.1: $2 / 1M input, $8 / 1M output → 3·2e-6 + 5·8e-6
  t.ok(Math.abs(await metricValue(gw.app, 'llm_gateway_cost_usd_total', { model: 'gpt-4.1' }) - 46e-6) < 1e-9, 'cost from the price table')
})

t.test('a client that leaves mid-stream: upstream aborted, counted, in-flight back to 0', async (t) => {
  const { gw, url } = await setup(t)
  // the rest of the stream would take 19 minutes: an abort seen within the wait came from the client
  const r = await abortAfter(url, chatBody({ stream: true, mock: { chunks: 20, chunk_delay_ms: 60_000 } }), gw.auth(), { ready: (text) => text.includes('"content":"tok0"') })
  t.equal(r.status, 200)
  t.ok(await waitFor(() => gw.mock.stats().aborted === 1, 10_000), 'the mock saw the request aborted')
  t.equal(gw.mock.stats().completed, 0, 'the stream never ran to its end')
  t.ok(await waitFor(async () => await metricValue(gw.app, 'llm_gateway_stream_aborts_total', { side: 'client' }) === 1, 10_000), 'stream_aborts_total{side="client"} is 1')
  t.equal(await metricValue(gw.app, 'llm_gateway_stream_aborts_total', { side: 'upstream' }), 0)
  t.ok(await inFlightIsZero(gw), 'requests_in_flight back to 0')
  t.equal(gw.mock.stats().in_flight, 0)
})

t.test('a client that leaves before the first token: upstream aborted', async (t) => {
  const { gw, url } = await setup(t)
  // the response headers arrive at once; the first token would come a minute later
  const r = await abortAfter(url, chatBody({ stream: true, mock: { first_chunk_delay_ms: 60_000 } }), gw.auth(), { afterMs: 150 })
  t.equal(r.status, 200)
  t.notOk(r.text.includes('tok0'), 'left before any token')
  t.ok(await waitFor(() => gw.mock.stats().aborted === 1, 10_000), 'the mock saw the request aborted, long before the first token was due')
  t.ok(await inFlightIsZero(gw), 'requests_in_flight back to 0')
})

t.test('a client that leaves a non-stream request: upstream aborted', async (t) => {
  const { gw, url } = await setup(t)
  const ac = new AbortController()
  const timer = setTimeout(() => { ac.abort() }, 200)
  t.teardown(() => { clearTimeout(timer) })
  await t.rejects(fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...gw.auth() }, body: JSON.stringify(chatBody({ mock: { latency_ms: 60_000 } })), signal: ac.signal }))
  t.ok(await waitFor(() => gw.mock.stats().aborted === 1, 10_000), 'the mock saw the request aborted, long before it would have answered')
  t.ok(await inFlightIsZero(gw), 'requests_in_flight back to 0')
})

t.test('time to first token is observed for a stream', async (t) => {
  const { gw, url } = await setup(t)
  const r = await streamTimed(url, chatBody({ stream: true, mock: { first_chunk_delay_ms: 300 } }), gw.auth())
  t.equal(r.status, 200)
  const name = 'llm_gateway_time_to_first_token_seconds'
  t.ok(await waitFor(async () => (await histogram(gw.app, name, { model: 'gpt-4.1' })).count === 1, 10_000), 'one TTFT sample')
  const { sum } = await histogram(gw.app, name, { model: 'gpt-4.1' })
  t.ok(sum >= 0.25 && sum < 2, `TTFT reflects the upstream's 300 ms delay (${sum.toFixed(3)} s)`)
})

t.test('streams of the other routes relay too: legacy completions', async (t) => {
  const { gw } = await setup(t)
  const res = await gw.app.inject({ method: 'POST', url: '/v1/completions', headers: { 'content-type': 'application/json', ...gw.auth() }, payload: { model: 'gpt-4.1', prompt: 'hi', stream: true } })
  t.equal(res.statusCode, 200)
  const data = sseData(res.body)
  t.equal(data.at(-1), '[DONE]')
  const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as Json)
  t.equal(chunks.map((c) => c.choices?.[0]?.text ?? '').join(''), mockText(5))
  t.notOk(chunks.some((c) => Array.isArray(c.choices) && c.choices.length === 0), 'no usage-only chunk')
})
