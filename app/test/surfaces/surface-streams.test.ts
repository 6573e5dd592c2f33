// Responses and Messages streams end honestly: a client that leaves closes the upstream request, an
// upstream cut ends with the surface's error event (never its completion event), and a crowd of
// streams with aborts among them leaves nothing in flight.
import t, { type Test } from 'tap'
import OpenAI from 'openai'
import Anthropic from '@anthropic-ai/sdk'
import { Agent, request } from 'undici'
import { metricValue, mockText, type TestGateway, type TestGatewayOptions } from '../support/gateway.js'
import { waitFor } from '../support/wait.js'
import { listeningGateway } from './support.js'
import { caught } from '../support/http.js'

interface SseEvent { event: string | undefined, data: string }

/** Every event of an SSE text with its `event:` name (comments dropped). */
function sseEvents (text: string): SseEvent[] {
  const out: SseEvent[] = []
  for (const block of text.split(/\r?\n\r?\n/)) {
    let event: string | undefined
    const data: string[] = []
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith('event:')) event = line.slice(6).trim()
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''))
    }
    if (event !== undefined || data.length > 0) out.push({ event, data: data.join('\n') })
  }
  return out
}

interface Surface {
  name: string
  path: string
  body: Record<string, unknown>
  headers: (gw: TestGateway) => Record<string, string>
  /** an event carrying generated text */
  delta: string
  /** the event a complete stream ends with, which a cut stream must never carry */
  completion: string
}

const SURFACES: Surface[] = [
  {
    name: 'Responses',
    path: '/v1/responses',
    body: { model: 'gpt-4.1', input: 'hello there gateway', stream: true },
    headers: (gw) => gw.auth(),
    delta: 'response.output_text.delta',
    completion: 'response.completed'
  },
  {
    name: 'Messages',
    path: '/v1/messages',
    body: { model: 'claude-sonnet-4.5', max_tokens: 256, messages: [{ role: 'user', content: 'hello there gateway' }], stream: true },
    headers: (gw) => ({ 'x-api-key': gw.keys.main as string, 'anthropic-version': '2023-06-01' }),
    delta: 'content_block_delta',
    completion: 'message_stop'
  }
]

/**
 * Posts a stream and reads it until `until` says stop (then aborts), or to its end. Resolves with
 * the text read; a stop by abort is not an error.
 */
async function readStream (agent: Agent, url: string, s: Surface, gw: TestGateway, body: Record<string, unknown>, until?: (text: string) => boolean): Promise<{ status: number, text: string }> {
  const ac = new AbortController()
  const res = await request(url + s.path, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json', ...s.headers(gw) }, body: JSON.stringify(body), signal: ac.signal })
  let text = ''
  try {
    for await (const part of res.body) {
      text += (part as Buffer).toString()
      if (until?.(text) === true) { ac.abort(); break }
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err
  }
  return { status: res.statusCode, text }
}

/**
 * A gateway and a client connection pool of its own. The pool closes first (teardowns run last
 * added, first run): a gateway closing with client keep-alive connections open waits for them to time out.
 */
async function setup (t: Test, opts: TestGatewayOptions = {}): Promise<{ gw: TestGateway, url: string, agent: Agent }> {
  const started = await listeningGateway(t, opts)
  const agent = new Agent({ connections: 256 })
  t.teardown(async () => { await agent.close() })
  return { ...started, agent }
}

async function inFlight (gw: TestGateway): Promise<number> {
  return await metricValue(gw.app, 'llm_gateway_requests_in_flight')
}

for (const s of SURFACES) {
  t.test(`${s.name}: a client that leaves mid-stream closes the upstream request`, async (t) => {
    // the upstream sends two deltas, then holds the stream open until someone closes it
    const { gw, url, agent } = await setup(t, { mock: { fault: 'stall', cut_after: 2 } })
    const seen = await readStream(agent, url, s, gw, s.body, (text) => sseEvents(text).filter((e) => e.event === s.delta).length >= 2)
    t.equal(seen.status, 200)
    t.ok(await waitFor(() => gw.mock.stats().aborted_by_path[s.path] === 1, 10_000), 'the upstream saw its request closed')
    t.ok(await waitFor(async () => await metricValue(gw.app, 'llm_gateway_stream_aborts_total', { side: 'client' }) === 1, 10_000), 'counted as a client abort')
    t.ok(await waitFor(async () => await inFlight(gw) === 0, 10_000), 'nothing left in flight')
    t.equal(gw.mock.stats().completed, 0, 'the held stream never completed')
  })

  t.test(`${s.name}: a client that leaves before the upstream answered closes the upstream request`, async (t) => {
    // the upstream holds the request without answering at all
    const { gw, url } = await listeningGateway(t, { mock: { fault: 'hang' } })
    const ac = new AbortController()
    const pending = fetch(url + s.path, { method: 'POST', headers: { 'content-type': 'application/json', ...s.headers(gw) }, body: JSON.stringify(s.body), signal: ac.signal })
      .then(() => 'answered', () => 'aborted')
    t.ok(await waitFor(() => gw.mock.stats().in_flight === 1, 10_000), 'the request reached the upstream')
    ac.abort()
    t.equal(await pending, 'aborted')
    t.ok(await waitFor(() => gw.mock.stats().aborted_by_path[s.path] === 1, 10_000), 'the upstream saw its request closed')
    t.ok(await waitFor(async () => await inFlight(gw) === 0, 10_000), 'nothing left in flight')
  })

  t.test(`${s.name}: an upstream cut mid-stream ends with an error event and no ${s.completion}`, async (t) => {
    const { gw, url, agent } = await setup(t, { mock: { fault: 'cut', cut_after: 2 } })
    const { status, text } = await readStream(agent, url, s, gw, s.body)
    t.equal(status, 200, 'the stream had started')
    const events = sseEvents(text)
    t.equal(events.filter((e) => e.event === s.delta).length, 2, 'the two deltas sent before the cut came through')
    t.notOk(events.some((e) => e.event === s.completion), `no ${s.completion}`)
    const last = events.at(-1)
    t.equal(last?.event, 'error', 'the last event is an error event')
    const data = JSON.parse(last?.data ?? '{}') as Record<string, unknown>
    if (s.name === 'Responses') {
      // ResponseErrorEvent in the openai SDK's types: type, code, message, param, sequence_number
      t.same(Object.keys(data).sort(), ['code', 'message', 'param', 'sequence_number', 'type'])
      t.match(data, { type: 'error', code: 'upstream_error', message: String, param: null })
      const seqs = events.slice(0, -1).map((e) => (JSON.parse(e.data) as { sequence_number: number }).sequence_number)
      t.equal(data.sequence_number, Math.max(...seqs) + 1, 'the sequence goes on from the last event sent')
    } else {
      t.match(data, { type: 'error', error: { type: 'api_error', message: String } })
      t.same(Object.keys(data).sort(), ['error', 'type'])
    }
    t.ok(await waitFor(async () => await metricValue(gw.app, 'llm_gateway_stream_aborts_total', { side: 'upstream' }) === 1, 10_000), 'counted as an upstream abort')
    t.ok(await waitFor(async () => await inFlight(gw) === 0, 10_000))
  })
}

t.test('Responses cut mid-stream, as the openai SDK sees it: an error event, and the stream helper raises', async (t) => {
  const { gw, url } = await listeningGateway(t, { mock: { fault: 'cut', cut_after: 2 } })
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: gw.keys.main as string, maxRetries: 0, timeout: 10_000 })
  const events: OpenAI.Responses.ResponseStreamEvent[] = []
  for await (const e of await client.responses.create({ model: 'gpt-4.1', input: 'hi', stream: true })) events.push(e)
  const last = events.at(-1)
  t.equal(last?.type, 'error')
  if (last?.type === 'error') t.equal(last.code, 'upstream_error')
  t.notOk(events.some((e) => e.type === 'response.completed'))
  const text = events.map((e) => e.type === 'response.output_text.delta' ? e.delta : '').join('')
  t.equal(text, mockText(2), 'the text sent before the cut')
  // the helper rejects with the error event itself
  const err = await caught(t, async () => await client.responses.stream({ model: 'gpt-4.1', input: 'hi' }).finalResponse())
  t.match(err, { type: 'error', code: 'upstream_error', sequence_number: Number }, 'finalResponse() raises instead of returning half an answer')
})

t.test('Messages cut mid-stream, as the Anthropic SDK sees it: it raises', async (t) => {
  const { gw, url } = await listeningGateway(t, { mock: { fault: 'cut', cut_after: 2 } })
  const client = new Anthropic({ baseURL: url, apiKey: gw.keys.main as string, maxRetries: 0, timeout: 10_000 })
  const params = { model: 'claude-sonnet-4.5', max_tokens: 256, messages: [{ role: 'user' as const, content: 'hi' }] }
  let text = ''
  const err = await caught(t, async () => {
    for await (const e of await client.messages.create({ ...params, stream: true })) {
      if (e.type === 'content_block_delta' && e.delta.type === 'text_delta') text += e.delta.text
    }
  })
  t.ok(err instanceof Anthropic.APIError, 'the raw stream raises an APIError')
  t.match(err, { error: { type: 'error', error: { type: 'api_error' } } })
  t.equal(text, mockText(2))
  const helperErr = await caught(t, async () => await client.messages.stream(params).finalMessage())
  t.ok(helperErr instanceof Anthropic.APIError, 'finalMessage() raises it too')
})

/** 200 streams at once on one surface, every fifth held by the upstream and left by its client after the first delta. */
async function crowd (t: Test, s: Surface): Promise<void> {
  const { gw, url, agent } = await setup(t)
  const N = 200
  const runs = Array.from({ length: N }, async (_, i) => {
    const leaves = i % 5 === 0
    const body = leaves ? { ...s.body, mock: { fault: 'stall', cut_after: 1 } } : s.body
    const r = await readStream(agent, url, s, gw, body, leaves ? (text) => text.includes(`event: ${s.delta}`) : undefined)
    return { leaves, ...r }
  })
  const results = await Promise.all(runs)
  t.equal(results.filter((r) => r.status === 200).length, N, 'every stream started')
  const finished = results.filter((r) => !r.leaves)
  t.equal(finished.filter((r) => r.text.includes(`event: ${s.completion}`)).length, N * 0.8, 'every stream that was not left completed')
  t.ok(await waitFor(() => gw.mock.stats().aborted === N * 0.2, 20_000), 'the upstream saw every left stream closed')
  t.ok(await waitFor(async () => await inFlight(gw) === 0, 20_000), 'llm_gateway_requests_in_flight is back at 0')
  t.equal(gw.app.relay.inFlight, 0, 'no relay still open')
  t.equal(gw.mock.stats().in_flight, 0)
  t.equal(await metricValue(gw.app, 'llm_gateway_stream_aborts_total', { side: 'client' }), N * 0.2)
}

for (const s of SURFACES) {
  t.test(`${s.name}: 200 concurrent streams, 20% left mid-stream: nothing stays in flight`, async (t) => { await crowd(t, s) })
}
