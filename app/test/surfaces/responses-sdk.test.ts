// The official openai client on the Responses API through the gateway: JSON, streams, the stream
// helper, previous_response_id chains and the {id} routes, with one upstream and with two.
import t, { type Test } from 'tap'
import OpenAI from 'openai'
import { mockText, type TestGatewayOptions } from '../support/gateway.js'
import { lastReceived, listeningGateway, received } from './support.js'

/** The mock reports this usage: 1,000 input tokens (800 cached), 300 output tokens (200 reasoning). */
const USAGE_KNOBS = { prompt_tokens: 1000, cached_tokens: 800, completion_tokens: 300, reasoning_tokens: 200 }
const EXPECTED_USAGE = {
  input_tokens: 1000,
  input_tokens_details: { cached_tokens: 800 },
  output_tokens: 300,
  output_tokens_details: { reasoning_tokens: 200 },
  total_tokens: 1300
}

async function setup (t: Test, opts: TestGatewayOptions = {}): Promise<{ gw: Awaited<ReturnType<typeof listeningGateway>>['gw'], client: OpenAI }> {
  const { gw, url } = await listeningGateway(t, opts)
  return { gw, client: new OpenAI({ baseURL: `${url}/v1`, apiKey: gw.keys.main as string, maxRetries: 0, timeout: 10_000 }) }
}

t.test('responses.create (JSON): the text and the usage the mock sent', async (t) => {
  const { gw, client } = await setup(t, { mock: USAGE_KNOBS })
  const res = await client.responses.create({ model: 'gpt-4.1', input: 'hello there gateway' })
  t.equal(res.object, 'response')
  t.equal(res.status, 'completed')
  t.equal(res.output_text, mockText(5))
  t.same(res.usage, EXPECTED_USAGE)
  const stats = gw.mock.stats()
  t.same(stats.usage_reported, { prompt_tokens: 1000, completion_tokens: 300 }, 'the mock sent exactly this usage once')
  t.same(stats.usage_details_reported, { cached_tokens: 800, reasoning_tokens: 200, cache_write_tokens: 0 })
  t.equal(lastReceived(gw.mock, '/v1/responses').response_id, res.id, 'the id is the one the upstream created')
})

t.test('responses.create with stream: true: typed events in order, text joined, usage on response.completed', async (t) => {
  const { gw, client } = await setup(t, { mock: USAGE_KNOBS })
  const stream = await client.responses.create({ model: 'gpt-4.1', input: 'hello there gateway', stream: true })
  const types: string[] = []
  let text = ''
  let completed: OpenAI.Responses.Response | undefined
  for await (const event of stream) {
    types.push(event.type)
    if (event.type === 'response.output_text.delta') text += event.delta
    if (event.type === 'response.completed') completed = event.response
  }
  t.equal(types[0], 'response.created')
  t.equal(types.at(-1), 'response.completed')
  t.equal(types.filter((x) => x === 'response.output_text.delta').length, 5)
  t.notOk(types.includes('error'), 'no error event')
  t.equal(text, mockText(5))
  t.same(completed?.usage, EXPECTED_USAGE)
  t.equal(completed?.id, lastReceived(gw.mock, '/v1/responses').response_id)
  t.same(gw.mock.stats().usage_reported, { prompt_tokens: 1000, completion_tokens: 300 })
})

t.test('responses.stream() helper: text deltas and finalResponse()', async (t) => {
  const { gw, client } = await setup(t, { mock: USAGE_KNOBS })
  const stream = client.responses.stream({ model: 'gpt-4.1', input: 'hello there gateway' })
  let deltas = ''
  stream.on('response.output_text.delta', (e) => { deltas += e.delta })
  const final = await stream.finalResponse()
  t.equal(deltas, mockText(5))
  t.equal(final.output_text, mockText(5))
  t.equal(final.status, 'completed')
  t.same(final.usage, EXPECTED_USAGE)
  t.equal(lastReceived(gw.mock, '/v1/responses').stream, true, 'the upstream was asked for a stream')
})

t.test('previous_response_id chains, and the {id} routes, with one upstream', async (t) => {
  const { gw, client } = await setup(t)
  const first = await client.responses.create({ model: 'gpt-4.1', input: 'first turn' })
  const second = await client.responses.create({ model: 'gpt-4.1', input: 'second turn', previous_response_id: first.id })
  // the mock prefixes a chained answer with the id it found in its own store
  t.equal(second.output_text, `previous ${first.id} turn 2: ${mockText(5)}`)
  t.equal(second.previous_response_id, first.id)
  t.equal(lastReceived(gw.mock, '/v1/responses').previous_response_id, first.id)

  const got = await client.responses.retrieve(second.id)
  t.equal(got.id, second.id)
  t.equal(got.output_text, second.output_text)
  const items = await client.responses.inputItems.list(second.id)
  t.equal(items.data.length, 1)
  t.match(items.data[0], { type: 'message', role: 'user' })
  const count = await client.responses.inputTokens.count({ model: 'gpt-4.1', input: 'one two three' })
  t.equal(count.input_tokens, 3)
  await client.responses.delete(first.id)
  const gone = await client.responses.retrieve(first.id).then(() => undefined, (err: unknown) => err)
  t.ok(gone instanceof OpenAI.NotFoundError, 'a deleted response is a 404 the SDK raises as NotFoundError')
})

/** gpt-4.1 served by two upstreams, "a" first; both are mocks with their own response store. */
const TWO: TestGatewayOptions = {
  upstreams: { a: {}, b: {} },
  models: [{ id: 'gpt-4.1', type: 'chat', price: { input_per_1m: 2, output_per_1m: 8 }, targets: [{ upstream: 'a' }, { upstream: 'b' }] }]
}

t.test('two upstreams: a response created on the second target is chained and read on that one', async (t) => {
  const { gw, client } = await setup(t, TWO)
  const a = gw.upstream('a')
  const b = gw.upstream('b')
  // "a" fails the create, so the gateway falls back and "b" creates the response
  a.setConfig({ fault: '503' })
  const first = await client.responses.create({ model: 'gpt-4.1', input: 'first turn' })
  t.equal(received(b, '/v1/responses').length, 1, 'b created it')
  t.equal(lastReceived(b, '/v1/responses').response_id, first.id)
  a.setConfig({ fault: 'none' })
  a.reset()

  // "a" is healthy and first in line again: only the remembered id sends the chain to "b"
  const second = await client.responses.create({ model: 'gpt-4.1', input: 'second turn', previous_response_id: first.id })
  t.equal(second.output_text, `previous ${first.id} turn 2: ${mockText(5)}`, 'b found the previous response')
  t.equal(lastReceived(b, '/v1/responses').previous_response_id, first.id)

  const got = await client.responses.retrieve(first.id)
  t.equal(got.id, first.id)
  const items = await client.responses.inputItems.list(first.id)
  t.equal(items.data.length, 1)
  const cancelled = await client.responses.cancel(first.id)
  t.equal(cancelled.id, first.id)
  const count = await client.responses.inputTokens.count({ model: 'gpt-4.1', input: 'x', previous_response_id: first.id })
  t.ok(count.input_tokens > 1, 'b counted the chained context')
  await client.responses.delete(first.id)
  t.equal(received(b, `/v1/responses/${first.id}`, 'GET').length, 1, 'GET reached b')
  t.equal(received(b, `/v1/responses/${first.id}/input_items`).length, 1, 'input_items reached b')
  t.equal(received(b, `/v1/responses/${first.id}/cancel`).length, 1, 'cancel reached b')
  t.equal(received(b, `/v1/responses/${first.id}`, 'DELETE').length, 1, 'DELETE reached b')
  t.equal(a.stats().requests, 0, 'nothing about b\'s response went to a')
  t.equal(lastReceived(b, '/v1/responses').response_id, second.id, 'the chained response is b\'s too')
})

t.test('two upstreams: a streamed create is remembered too, and a response of the first target stays there', async (t) => {
  const { gw, client } = await setup(t, TWO)
  const a = gw.upstream('a')
  const b = gw.upstream('b')
  a.setConfig({ fault: '503' })
  const onB = await client.responses.stream({ model: 'gpt-4.1', input: 'streamed turn' }).finalResponse()
  t.equal(lastReceived(b, '/v1/responses').response_id, onB.id, 'b created the streamed response')
  a.setConfig({ fault: 'none' })

  const onA = await client.responses.create({ model: 'gpt-4.1', input: 'plain turn' })
  t.equal(lastReceived(a, '/v1/responses').response_id, onA.id, 'a (first target, healthy again) created this one')

  const chainB = await client.responses.stream({ model: 'gpt-4.1', input: 'next', previous_response_id: onB.id }).finalResponse()
  t.equal(chainB.output_text, `previous ${onB.id} turn 2: ${mockText(5)}`)
  const chainA = await client.responses.create({ model: 'gpt-4.1', input: 'next', previous_response_id: onA.id })
  t.equal(chainA.output_text, `previous ${onA.id} turn 2: ${mockText(5)}`)
  t.equal((await client.responses.retrieve(onB.id)).id, onB.id)
  t.equal((await client.responses.retrieve(onA.id)).id, onA.id)
  t.equal(received(b, `/v1/responses/${onB.id}`, 'GET').length, 1)
  t.equal(received(a, `/v1/responses/${onA.id}`, 'GET').length, 1)
  t.equal(received(a, `/v1/responses/${onB.id}`, 'GET').length, 0)
})
