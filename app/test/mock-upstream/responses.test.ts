// The mock's Responses API: JSON and typed SSE, usage details, stored responses and their {id} routes, chaining, the official client.
import t from 'tap'
import OpenAI from 'openai'
import { ResponseStore, STORE_MAX } from '../../src/mock-upstream/response-store.js'
import { post, readAll, start, typedEvents } from './helpers.js'
import { type Json } from '../support/http.js'

const req = { model: 'gpt-4.1', input: 'hello there world', instructions: 'be brief' }

t.test('JSON: a completed response with one message and usage details', async (t) => {
  const { url, mock } = await start(t)
  const res = await post(`${url}/v1/responses`, req)
  t.equal(res.status, 200)
  const body = await res.json() as Json
  t.match(body.id, /^resp_[0-9a-f]{48}$/)
  t.equal(body.object, 'response')
  t.equal(body.status, 'completed')
  t.equal(body.model, 'gpt-4.1')
  t.equal(body.instructions, 'be brief')
  t.equal(body.output.length, 1)
  t.match(body.output[0], { type: 'message', role: 'assistant', status: 'completed' })
  t.match(body.output[0].id, /^msg_/)
  t.same(body.output[0].content, [{ type: 'output_text', annotations: [], logprobs: [], text: 'tok0 tok1 tok2 tok3 tok4' }])
  t.same(body.usage, { input_tokens: 5, input_tokens_details: { cached_tokens: 0 }, output_tokens: 5, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 10 })
  t.same(mock.stats().usage_reported, { prompt_tokens: 5, completion_tokens: 5 })
  t.equal(mock.stats().recent[0]!.response_id, body.id)
})

t.test('stream: typed events in order with sequence numbers, the same words, completed with usage', async (t) => {
  const { url, mock } = await start(t, { chunks: 3, cached_tokens: 2, reasoning_tokens: 1 })
  const res = await post(`${url}/v1/responses`, { ...req, stream: true })
  t.match(res.headers.get('content-type'), /^text\/event-stream/)
  const ev = typedEvents(await res.text())
  t.same(ev.map((e) => e.event), [
    'response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added',
    'response.output_text.delta', 'response.output_text.delta', 'response.output_text.delta',
    'response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed'
  ])
  ev.forEach((e, i) => {
    t.equal(e.data.type, e.event, `event ${i}: type matches the event line`)
    t.equal(e.data.sequence_number, i, `event ${i}: sequence_number`)
  })
  t.equal(ev[0]!.data.response.status, 'in_progress')
  t.equal(ev[0]!.data.response.usage, null)
  const deltas = ev.filter((e) => e.event === 'response.output_text.delta')
  t.equal(deltas.map((e) => e.data.delta).join(''), 'tok0 tok1 tok2')
  const itemId = ev[2]!.data.item.id as string
  for (const e of deltas) t.match(e.data, { item_id: itemId, output_index: 0, content_index: 0 })
  t.equal(ev[7]!.data.text, 'tok0 tok1 tok2')
  const done = ev.at(-1)!.data.response
  t.equal(done.id, ev[0]!.data.response.id)
  t.equal(done.status, 'completed')
  t.equal(done.output[0].content[0].text, 'tok0 tok1 tok2')
  t.same(done.usage, { input_tokens: 5, input_tokens_details: { cached_tokens: 2 }, output_tokens: 3, output_tokens_details: { reasoning_tokens: 1 }, total_tokens: 8 })
  t.same(mock.stats().usage_details_reported, { cached_tokens: 2, reasoning_tokens: 1, cache_write_tokens: 0 })
})

t.test('incomplete: the stream ends with response.incomplete, usage present; JSON says incomplete too', async (t) => {
  const { url } = await start(t, { incomplete: true })
  const ev = typedEvents(await (await post(`${url}/v1/responses`, { ...req, stream: true })).text())
  t.equal(ev.at(-1)!.event, 'response.incomplete')
  t.notOk(ev.some((e) => e.event === 'response.completed'))
  t.equal(ev.at(-1)!.data.response.status, 'incomplete')
  t.same(ev.at(-1)!.data.response.incomplete_details, { reason: 'max_output_tokens' })
  t.equal(ev.at(-1)!.data.response.usage.output_tokens, 5)
  const body = await (await post(`${url}/v1/responses`, req)).json() as Json
  t.equal(body.status, 'incomplete')
  t.equal(body.output[0].status, 'incomplete')
})

t.test('stored responses: get, input_items, cancel, delete; unknown ids are 404 in OpenAI shape', async (t) => {
  const { url } = await start(t)
  const created = await (await post(`${url}/v1/responses`, { model: 'gpt-4.1', input: [{ role: 'user', content: 'first' }, { role: 'user', content: [{ type: 'input_text', text: 'second' }] }] })).json() as Json
  const got = await fetch(`${url}/v1/responses/${created.id as string}`)
  t.equal(got.status, 200)
  t.same(await got.json(), created, 'GET returns the response as created')
  const items = await (await fetch(`${url}/v1/responses/${created.id as string}/input_items`)).json() as Json
  t.equal(items.object, 'list')
  t.same(items.data.map((i: Json) => i.content[0].text), ['second', 'first'], 'newest first by default')
  t.equal(items.first_id, items.data[0].id)
  t.equal(items.has_more, false)
  const asc = await (await fetch(`${url}/v1/responses/${created.id as string}/input_items?order=asc&limit=1`)).json() as Json
  t.same(asc.data.map((i: Json) => i.content[0].text), ['first'])
  t.equal(asc.has_more, true)
  const cancelled = await post(`${url}/v1/responses/${created.id as string}/cancel`, '')
  t.equal(cancelled.status, 200)
  t.equal(((await cancelled.json()) as Json).id, created.id)
  const del = await fetch(`${url}/v1/responses/${created.id as string}`, { method: 'DELETE' })
  t.same(await del.json(), { id: created.id, object: 'response.deleted', deleted: true })
  for (const [method, path] of [['GET', ''], ['DELETE', ''], ['POST', '/cancel'], ['GET', '/input_items']] as const) {
    const res = await fetch(`${url}/v1/responses/${created.id as string}${path}`, { method })
    t.equal(res.status, 404, `${method} ${path || '{id}'} after delete`)
    const err = ((await res.json()) as Json).error
    t.same(Object.keys(err), ['message', 'type', 'param', 'code'])
    t.match(err.message, created.id)
  }
  const bg = await (await post(`${url}/v1/responses`, { ...req, background: true })).json() as Json
  t.equal(((await (await post(`${url}/v1/responses/${bg.id as string}/cancel`, '')).json()) as Json).status, 'cancelled', 'a background response can be cancelled')
  const unstored = await (await post(`${url}/v1/responses`, { ...req, store: false })).json() as Json
  t.equal((await fetch(`${url}/v1/responses/${unstored.id as string}`)).status, 404, 'store: false keeps nothing')
})

t.test('previous_response_id: a known id chains (the text says so), an unknown one is 404 previous_response_not_found', async (t) => {
  const { url, mock } = await start(t)
  const first = await (await post(`${url}/v1/responses`, req)).json() as Json
  const second = await (await post(`${url}/v1/responses`, { model: 'gpt-4.1', input: 'and then', previous_response_id: first.id })).json() as Json
  t.equal(second.previous_response_id, first.id)
  t.equal(second.output[0].content[0].text, `previous ${first.id as string} turn 2: tok0 tok1 tok2 tok3 tok4`)
  t.equal(second.usage.input_tokens, 2 + first.usage.total_tokens, 'the chain carries the earlier turn')
  const third = await post(`${url}/v1/responses`, { model: 'gpt-4.1', input: 'more', previous_response_id: second.id, stream: true })
  const deltas = typedEvents(await third.text()).filter((e) => e.event === 'response.output_text.delta')
  t.equal(deltas[0]!.data.delta, `previous ${second.id as string} turn 3:`)
  const unknown = await post(`${url}/v1/responses`, { ...req, previous_response_id: 'resp_elsewhere' })
  t.equal(unknown.status, 404)
  t.same(await unknown.json(), { error: { message: "Previous response with id 'resp_elsewhere' not found.", type: 'invalid_request_error', param: 'previous_response_id', code: 'previous_response_not_found' } })
  t.equal(mock.stats().recent.at(-1)!.previous_response_id, 'resp_elsewhere')
})

t.test('input_tokens: counts instructions and input; the prompt_tokens knob overrides', async (t) => {
  const { url } = await start(t)
  t.same(await (await post(`${url}/v1/responses/input_tokens`, req)).json(), { object: 'response.input_tokens', input_tokens: 5 })
  t.same(await (await post(`${url}/v1/responses/input_tokens`, { ...req, mock: { prompt_tokens: 1000 } })).json(), { object: 'response.input_tokens', input_tokens: 1000 })
  t.equal((await post(`${url}/v1/responses/input_tokens`, { ...req, previous_response_id: 'resp_nope' })).status, 404)
})

t.test('faults on the Responses routes: 429 with retry-after, cut mid-stream, the stored-id routes', async (t) => {
  const { url, mock } = await start(t)
  const limited = await post(`${url}/v1/responses`, { ...req, mock: { fault: '429', retry_after: 3 } })
  t.equal(limited.status, 429)
  t.equal(limited.headers.get('retry-after'), '3')
  t.equal(((await limited.json()) as Json).error.type, 'rate_limit_error')
  const cut = await post(`${url}/v1/responses`, { ...req, stream: true, mock: { fault: 'cut', cut_after: 2 } })
  const { text, error } = await readAll(cut)
  t.type(error, Error, 'the read fails')
  const names = typedEvents(text).map((e) => e.event)
  t.equal(names.filter((n) => n === 'response.output_text.delta').length, 2)
  t.notOk(names.includes('response.completed'), 'no completion after a cut')
  const first = await (await post(`${url}/v1/responses`, req)).json() as Json
  mock.setConfig({ fault: '503' })
  t.equal((await fetch(`${url}/v1/responses/${first.id as string}`)).status, 503, 'faults apply to GET {id} too')
  mock.setConfig({ fault: 'none' })
  t.equal(mock.stats().destroyed, 1)
})

t.test('the official openai client: create, stream, the stream helper, chaining, errors', async (t) => {
  const { url } = await start(t, { api_key: 'sk-test', prompt_tokens: 1000, cached_tokens: 800, completion_tokens: 300, reasoning_tokens: 200 })
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'sk-test', maxRetries: 0 })
  const res = await client.responses.create({ model: 'gpt-4.1', input: 'hi' })
  t.equal(res.output_text, 'tok0 tok1 tok2 tok3 tok4')
  t.same(res.usage, { input_tokens: 1000, input_tokens_details: { cached_tokens: 800 }, output_tokens: 300, output_tokens_details: { reasoning_tokens: 200 }, total_tokens: 1300 })
  const stream = await client.responses.create({ model: 'gpt-4.1', input: 'hi', stream: true })
  let text = ''
  let completed: OpenAI.Responses.Response | undefined
  for await (const event of stream) {
    if (event.type === 'response.output_text.delta') text += event.delta
    if (event.type === 'response.completed') completed = event.response
  }
  t.equal(text, 'tok0 tok1 tok2 tok3 tok4')
  t.equal(completed?.usage?.output_tokens_details.reasoning_tokens, 200)
  const helper = client.responses.stream({ model: 'gpt-4.1', input: 'hi', previous_response_id: res.id })
  const final = await helper.finalResponse()
  t.equal(final.output_text, `previous ${res.id} turn 2: tok0 tok1 tok2 tok3 tok4`)
  t.equal(final.usage?.input_tokens, 1000)
  t.equal((await client.responses.retrieve(final.id)).id, final.id)
  t.same((await client.responses.inputItems.list(final.id)).data.length, 1)
  await client.responses.delete(final.id)
  const gone = await client.responses.retrieve(final.id).catch((e: unknown) => e)
  t.ok(gone instanceof OpenAI.NotFoundError, 'a deleted response is NotFoundError')
  const counted = await client.responses.inputTokens.count({ model: 'gpt-4.1', input: 'hi' })
  t.same(counted, { object: 'response.input_tokens', input_tokens: 1000 })
})

t.test('the store keeps the newest responses only; reset empties it', async (t) => {
  const store = new ResponseStore()
  const entry = { response: {}, inputItems: [], turn: 1, contextTokens: 0 }
  for (let i = 0; i <= STORE_MAX; i++) store.put(`resp_${i}`, entry)
  t.equal(store.size, STORE_MAX)
  t.equal(store.get('resp_0'), undefined, 'the oldest fell out')
  t.equal(store.get(`resp_${STORE_MAX}`), entry)
  const { url, mock } = await start(t)
  const created = await (await post(`${url}/v1/responses`, req)).json() as Json
  mock.reset()
  t.equal((await fetch(`${url}/v1/responses/${created.id as string}`)).status, 404)
})
