// The mock's classic OpenAI routes: chat and legacy completions (plain and streamed), embeddings, models, the official client.
import t from 'tap'
import OpenAI from 'openai'
import { chat, chatUsage, post, start } from './helpers.js'
import { sseData, type Json } from '../support/http.js'

t.test('non-stream chat: deterministic text, usage and headers', async (t) => {
  const { url } = await start(t)
  const res = await post(`${url}/v1/chat/completions`, chat)
  t.equal(res.status, 200)
  for (const [k, v] of Object.entries({ 'openai-organization': 'mock-org', server: 'mock-upstream', 'set-cookie': 'mock_session=secret; Path=/', 'x-ratelimit-limit-requests': '10000', 'x-ratelimit-remaining-requests': '9999', 'x-ratelimit-reset-requests': '6ms' })) {
    t.equal(res.headers.get(k), v, k)
  }
  t.match(res.headers.get('x-request-id'), /^mock-\d+$/)
  t.match(res.headers.get('openai-processing-ms'), /^\d+$/)
  const body = await res.json() as Json
  t.equal(body.object, 'chat.completion')
  t.equal(body.model, 'gpt-4.1')
  t.equal(body.choices[0].message.content, 'tok0 tok1 tok2 tok3 tok4')
  t.equal(body.choices[0].finish_reason, 'stop')
  t.same(body.usage, chatUsage(5, 5))
})

t.test('chat stream without include_usage: role, words, stop, [DONE], no usage', async (t) => {
  const { url, mock } = await start(t)
  const res = await post(`${url}/v1/chat/completions`, { ...chat, stream: true })
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/event-stream/)
  const ev = sseData(await res.text())
  t.equal(ev.at(-1), '[DONE]')
  const chunks = ev.slice(0, -1).map((e) => JSON.parse(e) as Json)
  t.equal(chunks.length, 7)
  t.same(chunks[0]!.choices[0].delta, { role: 'assistant', content: '' })
  t.equal(chunks.slice(1, 6).map((c) => c.choices[0].delta.content).join(''), 'tok0 tok1 tok2 tok3 tok4')
  t.same(chunks[6]!.choices[0].delta, {})
  t.equal(chunks[6]!.choices[0].finish_reason, 'stop')
  for (const c of chunks) {
    t.equal(c.object, 'chat.completion.chunk')
    t.equal(c.id, chunks[0]!.id)
    t.equal(c.created, chunks[0]!.created)
    t.equal(c.model, 'gpt-4.1')
    t.notOk('usage' in c, 'no usage key without include_usage')
  }
  t.same(mock.stats().usage_reported, { prompt_tokens: 0, completion_tokens: 0 })
})

t.test('chat stream with include_usage: usage:null on every chunk, then a usage-only chunk', async (t) => {
  const { url, mock } = await start(t, { chunks: 3 })
  const res = await post(`${url}/v1/chat/completions`, { ...chat, stream: true, stream_options: { include_usage: true } })
  const ev = sseData(await res.text())
  t.equal(ev.at(-1), '[DONE]')
  const chunks = ev.slice(0, -1).map((e) => JSON.parse(e) as Json)
  t.equal(chunks.length, 6)
  for (const c of chunks.slice(0, -1)) t.equal(c.usage, null)
  t.equal(chunks[4]!.choices[0].finish_reason, 'stop')
  t.same(chunks[5]!.choices, [])
  t.same(chunks[5]!.usage, chatUsage(5, 3))
  t.same(mock.stats().usage_reported, { prompt_tokens: 5, completion_tokens: 3 })
})

t.test('legacy completions, plain and streamed, prompt string or array', async (t) => {
  const { url } = await start(t)
  const plain = await (await post(`${url}/v1/completions`, { model: 'gpt-4.1', prompt: ['one two', 'three'] })).json() as Json
  t.equal(plain.object, 'text_completion')
  t.equal(plain.choices[0].text, 'tok0 tok1 tok2 tok3 tok4')
  t.same(plain.usage, chatUsage(3, 5))
  const res = await post(`${url}/v1/completions`, { model: 'gpt-4.1', prompt: 'a b', stream: true, stream_options: { include_usage: true } })
  const ev = sseData(await res.text())
  t.equal(ev.at(-1), '[DONE]')
  const chunks = ev.slice(0, -1).map((e) => JSON.parse(e) as Json)
  t.equal(chunks.slice(0, 5).map((c) => c.choices[0].text).join(''), 'tok0 tok1 tok2 tok3 tok4')
  t.equal(chunks[5]!.choices[0].finish_reason, 'stop')
  t.same(chunks[6]!.usage, chatUsage(2, 5))
  for (const c of chunks) t.equal(c.object, 'text_completion')
})

t.test('embeddings: float and base64 agree, dimensions honoured', async (t) => {
  const { url } = await start(t)
  const float = await (await post(`${url}/v1/embeddings`, { model: 'text-embedding-3-small', input: ['hello world', 'x'] })).json() as Json
  t.equal(float.object, 'list')
  t.equal(float.data.length, 2)
  t.equal(float.data[0].embedding.length, 16)
  t.same(float.usage, { prompt_tokens: 3, total_tokens: 3 })
  const b64 = await (await post(`${url}/v1/embeddings`, { model: 'text-embedding-3-small', input: 'hello world', encoding_format: 'base64', dimensions: 8 })).json() as Json
  const buf = Buffer.from(b64.data[0].embedding as string, 'base64')
  t.equal(buf.length, 8 * 4)
  const decoded = Array.from({ length: 8 }, (_, i) => buf.readFloatLE(i * 4))
  const float8 = await (await post(`${url}/v1/embeddings`, { model: 'm', input: 'hello world', dimensions: 8 })).json() as Json
  t.same(decoded, float8.data[0].embedding, 'same vector in both encodings')
  t.notSame(float.data[0].embedding, float.data[1].embedding, 'different inputs, different vectors')
  t.equal((await post(`${url}/v1/embeddings`, { model: 'm', input: 'a', encoding_format: 'hex' })).status, 400)
})

t.test('models, 404 and bad JSON', async (t) => {
  const { url } = await start(t, { models: ['a', 'b'] })
  const list = await (await fetch(`${url}/v1/models`)).json() as Json
  t.same(list, { object: 'list', data: [{ id: 'a', object: 'model', created: 1_700_000_000, owned_by: 'mock-upstream' }, { id: 'b', object: 'model', created: 1_700_000_000, owned_by: 'mock-upstream' }] })
  const nf = await fetch(`${url}/v1/nope`)
  t.equal(nf.status, 404)
  t.same(Object.keys(((await nf.json()) as Json).error), ['message', 'type', 'param', 'code'])
  const bad = await post(`${url}/v1/chat/completions`, '{"model":')
  t.equal(bad.status, 400)
  t.equal(((await bad.json()) as Json).error.type, 'invalid_request_error')
  t.equal((await post(`${url}/v1/chat/completions`, { model: 'x' })).status, 400, 'messages missing')
  t.equal((await post(`${url}/v1/chat/completions`, { ...chat, mock: { chunkz: 1 } })).status, 400, 'unknown knob')
  t.same(await (await fetch(`${url}/healthz`)).json(), { status: 'ok' })
})

t.test('the official openai client works against the mock', async (t) => {
  const { url } = await start(t, { api_key: 'sk-test' })
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'sk-test', maxRetries: 0 })
  const done = await client.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }] })
  t.equal(done.choices[0]!.message.content, 'tok0 tok1 tok2 tok3 tok4')
  const stream = await client.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } })
  let text = ''
  let usage
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? ''
    if (chunk.usage) usage = chunk.usage
  }
  t.equal(text, 'tok0 tok1 tok2 tok3 tok4')
  t.same(usage, chatUsage(1, 5))
  const emb = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello' })
  t.equal(emb.data[0]!.embedding.length, 16)
  t.ok(emb.data[0]!.embedding.every((x) => typeof x === 'number' && x >= -1 && x <= 1))
  const list = await client.models.list()
  t.equal(list.data.length, 9)
  t.same(list.data.map((m) => m.id).slice(5), ['omni-moderation-latest', 'gpt-image-1', 'gpt-4o-mini-tts', 'whisper-1'])
  const limited = await client.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }], mock: { fault: '429' } } as OpenAI.ChatCompletionCreateParamsNonStreaming).catch((e: unknown) => e)
  t.ok(limited instanceof OpenAI.RateLimitError, 'a 429 fault surfaces as RateLimitError')
})
