// The mock's Anthropic Messages API: JSON and typed SSE, Anthropic's usage convention, count_tokens, auth, errors, the official SDK.
import t from 'tap'
import Anthropic from '@anthropic-ai/sdk'
import { post, readAll, start, typedEvents } from './helpers.js'
import { type Json } from '../support/http.js'

const KEY = 'sk-ant-upstream'
const headers = { 'x-api-key': KEY, 'anthropic-version': '2023-06-01' }
const req = { model: 'claude-sonnet-4.5', max_tokens: 100, system: 'be brief', messages: [{ role: 'user', content: 'hello there world' }] }

t.test('JSON: a message with text and usage; input_tokens excludes cache reads and writes', async (t) => {
  const { url, mock } = await start(t, { api_key: KEY })
  const res = await post(`${url}/v1/messages`, req, headers)
  t.equal(res.status, 200)
  const body = await res.json() as Json
  t.match(body.id, /^msg_01/)
  t.match(body, { type: 'message', role: 'assistant', model: 'claude-sonnet-4.5', stop_reason: 'end_turn', stop_sequence: null })
  t.same(body.content, [{ type: 'text', text: 'tok0 tok1 tok2 tok3 tok4' }])
  t.same(body.usage, { input_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 5 })
  const cached = await (await post(`${url}/v1/messages`, { ...req, mock: { prompt_tokens: 1000, cached_tokens: 800, cache_write_tokens: 150 } }, headers)).json() as Json
  t.same(cached.usage, { input_tokens: 50, cache_creation_input_tokens: 150, cache_read_input_tokens: 800, output_tokens: 5 })
  t.same(mock.stats().usage_reported, { prompt_tokens: 1005, completion_tokens: 10 }, 'the stats count in OpenAI convention')
  t.same(mock.stats().usage_details_reported, { cached_tokens: 800, reasoning_tokens: 0, cache_write_tokens: 150 })
  t.equal(mock.stats().recent[0]!.anthropic_version, '2023-06-01')
})

t.test('stream: message_start, content_block_start, ping, deltas, stop, message_delta, message_stop', async (t) => {
  const { url, mock } = await start(t, { chunks: 3, prompt_tokens: 1000, cached_tokens: 800 })
  const res = await post(`${url}/v1/messages`, { ...req, stream: true }, { ...headers, 'anthropic-beta': 'prompt-caching-2024-07-31' })
  t.match(mock.stats().recent[0], { anthropic_version: '2023-06-01', anthropic_beta: 'prompt-caching-2024-07-31', stream: true })
  t.match(res.headers.get('content-type'), /^text\/event-stream/)
  const ev = typedEvents(await res.text())
  t.same(ev.map((e) => e.event), ['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'])
  for (const e of ev) t.equal(e.data.type, e.event)
  const start0 = ev[0]!.data.message
  t.same(start0.content, [])
  t.equal(start0.stop_reason, null)
  t.same(start0.usage, { input_tokens: 200, cache_creation_input_tokens: 0, cache_read_input_tokens: 800, output_tokens: 1 }, 'provisional output count of 1')
  t.same(ev[1]!.data.content_block, { type: 'text', text: '' })
  t.equal(ev.slice(3, 6).map((e) => e.data.delta.text).join(''), 'tok0 tok1 tok2')
  for (const e of ev.slice(3, 6)) t.equal(e.data.delta.type, 'text_delta')
  t.same(ev[7]!.data.delta, { stop_reason: 'end_turn', stop_sequence: null })
  t.same(ev[7]!.data.usage, { input_tokens: 200, cache_creation_input_tokens: 0, cache_read_input_tokens: 800, output_tokens: 3 }, 'cumulative output, input repeated')
})

t.test('count_tokens counts system and messages; the knob overrides', async (t) => {
  const { url } = await start(t)
  const countReq = { model: req.model, system: req.system, messages: req.messages }
  t.same(await (await post(`${url}/v1/messages/count_tokens`, countReq, headers)).json(), { input_tokens: 5 })
  t.same(await (await post(`${url}/v1/messages/count_tokens`, { ...countReq, mock: { prompt_tokens: 42 } }, headers)).json(), { input_tokens: 42 })
})

t.test('auth by x-api-key or Bearer; anthropic-version required; every error in Anthropic shape', async (t) => {
  const { url } = await start(t, { api_key: KEY })
  const error = async (res: Response, status: number, type: string): Promise<Json> => {
    t.equal(res.status, status, `status ${status}`)
    const body = await res.json() as Json
    t.same(Object.keys(body), ['type', 'error'])
    t.equal(body.type, 'error')
    t.same(Object.keys(body.error), ['type', 'message'])
    t.equal(body.error.type, type)
    return body
  }
  t.equal((await post(`${url}/v1/messages`, req, { authorization: `Bearer ${KEY}`, 'anthropic-version': '2023-06-01' })).status, 200, 'Bearer works')
  await error(await post(`${url}/v1/messages`, req, { 'anthropic-version': '2023-06-01' }), 401, 'authentication_error')
  await error(await post(`${url}/v1/messages`, req, { 'x-api-key': 'wrong', 'anthropic-version': '2023-06-01' }), 401, 'authentication_error')
  const noVersion = await error(await post(`${url}/v1/messages`, req, { 'x-api-key': KEY }), 400, 'invalid_request_error')
  t.match(noVersion.error.message, 'anthropic-version')
  await error(await post(`${url}/v1/messages`, { ...req, max_tokens: undefined }, headers), 400, 'invalid_request_error')
  await error(await post(`${url}/v1/messages`, '{"model":', headers), 400, 'invalid_request_error')
  await error(await post(`${url}/v1/messages/nope`, req, headers), 404, 'not_found_error')
  const types: Record<string, string> = { 400: 'invalid_request_error', 401: 'authentication_error', 403: 'permission_error', 404: 'not_found_error', 429: 'rate_limit_error', 500: 'api_error', 502: 'api_error', 503: 'overloaded_error', 529: 'overloaded_error' }
  for (const [status, type] of Object.entries(types)) {
    const res = await post(`${url}/v1/messages`, { ...req, mock: { fault: status } }, headers)
    await error(res, Number(status), type)
    if (status === '429') t.equal(res.headers.get('retry-after'), '1')
  }
  await error(await post(`${url}/v1/messages/count_tokens`, { ...req, mock: { fault: '529' } }, headers), 529, 'overloaded_error')
})

t.test('cut: the stream ends mid-way with no message_stop; reset and a cut JSON body too', async (t) => {
  const { url, mock } = await start(t)
  const { text, error } = await readAll(await post(`${url}/v1/messages`, { ...req, stream: true, mock: { fault: 'cut', cut_after: 2 } }, headers))
  t.type(error, Error, 'the read fails')
  const names = typedEvents(text).map((e) => e.event)
  t.equal(names.filter((n) => n === 'content_block_delta').length, 2)
  t.notOk(names.includes('message_stop'))
  t.notOk(names.includes('message_delta'))
  t.type(await post(`${url}/v1/messages`, { ...req, mock: { fault: 'reset' } }, headers).catch((e: Error) => e), Error)
  const plain = await post(`${url}/v1/messages`, { ...req, mock: { fault: 'cut' } }, headers)
  t.type((await readAll(plain)).error, Error, 'a JSON body stops half-way')
  t.equal(mock.stats().destroyed, 3)
  t.same(mock.stats().usage_reported, { prompt_tokens: 0, completion_tokens: 0 })
})

t.test('the official Anthropic SDK: create, stream, countTokens, its error classes', async (t) => {
  const { url, mock } = await start(t, { api_key: KEY, prompt_tokens: 1000, cached_tokens: 800, completion_tokens: 300 })
  const client = new Anthropic({ baseURL: url, apiKey: KEY, maxRetries: 0 })
  const params: Anthropic.MessageCreateParamsNonStreaming = { model: 'claude-sonnet-4.5', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }
  const msg = await client.messages.create(params)
  const block = msg.content[0]
  t.equal(block?.type === 'text' ? block.text : undefined, 'tok0 tok1 tok2 tok3 tok4')
  t.equal(msg.usage.input_tokens, 200)
  t.equal(msg.usage.cache_read_input_tokens, 800)
  t.equal(msg.usage.output_tokens, 300)
  const stream = client.messages.stream(params)
  let text = ''
  stream.on('text', (delta) => { text += delta })
  const final = await stream.finalMessage()
  t.equal(text, 'tok0 tok1 tok2 tok3 tok4')
  t.match(final.usage, { input_tokens: 200, cache_creation_input_tokens: 0, cache_read_input_tokens: 800, output_tokens: 300 })
  t.match(mock.stats().recent.at(-1)!.anthropic_version, /^\d{4}-\d{2}-\d{2}$/, 'the SDK sent its anthropic-version')
  const counted = await client.messages.countTokens({ model: 'claude-sonnet-4.5', messages: [{ role: 'user', content: 'hi' }] })
  t.same(counted, { input_tokens: 1000 })
  const wrong = new Anthropic({ baseURL: url, apiKey: 'nope', maxRetries: 0 })
  t.ok(await wrong.messages.create(params).catch((e: unknown) => e) instanceof Anthropic.AuthenticationError, 'a wrong key is AuthenticationError')
  const limited = await client.messages.create({ ...params, mock: { fault: '429', retry_after: 5 } } as Anthropic.MessageCreateParamsNonStreaming).catch((e: unknown) => e)
  t.ok(limited instanceof Anthropic.RateLimitError, 'a 429 is RateLimitError')
  t.equal((limited as InstanceType<typeof Anthropic.RateLimitError>).headers.get('retry-after'), '5')
  const overloaded = await client.messages.create({ ...params, mock: { fault: '529' } } as Anthropic.MessageCreateParamsNonStreaming).catch((e: unknown) => e)
  t.ok(overloaded instanceof Anthropic.InternalServerError, 'a 529 is InternalServerError')
  t.equal((overloaded as InstanceType<typeof Anthropic.APIError>).type, 'overloaded_error')
})
