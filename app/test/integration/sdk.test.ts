// The official openai client against a listening gateway: answers, streams, embeddings, models, error classes.
import t, { type Test } from 'tap'
import OpenAI, { APIError } from 'openai'
import { mockText, startTestGateway, UPSTREAM_KEY, type TestGateway, type TestGatewayOptions } from '../support/gateway.js'
import { caught } from '../support/http.js'

const MODELS = ['claude-sonnet-4.5', 'deepseek-v3.2', 'gemini-2.5-flash', 'gpt-4.1', 'gpt-4o-mini-tts', 'gpt-image-1', 'omni-moderation-latest', 'text-embedding-3-small', 'whisper-1']

async function setup (t: Test, opts: TestGatewayOptions = {}, keyId = 'main', clientOpts: { maxRetries?: number } = {}): Promise<{ gw: TestGateway, client: OpenAI }> {
  const gw = await startTestGateway(opts)
  t.teardown(() => gw.close())
  const url = await gw.listen()
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: gw.keys[keyId] as string, maxRetries: clientOpts.maxRetries ?? 0, timeout: 10_000 })
  return { gw, client }
}

type ChatParams = OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming
type ChatStreamParams = OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming

/** Adds the mock's per-request knobs to a request body (the client passes unknown fields on). */
function withMock<P extends object> (params: P, mock: Record<string, unknown>): P {
  return { ...params, mock } as P
}

const chat: ChatParams = { model: 'gpt-4.1', messages: [{ role: 'user', content: 'hello there gateway' }] }
const chatStream: ChatStreamParams = { ...chat, stream: true }

t.test('chat completion through the client', async (t) => {
  const { gw, client } = await setup(t)
  const res = await client.chat.completions.create(chat)
  t.equal(res.object, 'chat.completion')
  t.equal(res.choices[0]?.message.content, mockText(5))
  t.match(res.usage, { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 })
  t.equal(gw.mock.stats().requests, 1)
})

t.test('streamed chat without include_usage: the joined text, no usage chunk, no empty choices', async (t) => {
  const { client } = await setup(t)
  const stream = await client.chat.completions.create(chatStream)
  let text = ''
  let chunks = 0
  for await (const chunk of stream) {
    chunks++
    t.ok(chunk.choices.length > 0, `chunk ${chunks} has choices`)
    t.notOk(chunk.usage !== undefined && chunk.usage !== null, `chunk ${chunks} carries no usage`)
    text += chunk.choices[0]?.delta.content ?? ''
  }
  t.equal(text, mockText(5))
  t.equal(chunks, 7, 'role chunk, 5 words, finish chunk')
})

t.test('streamed chat with include_usage: usage on the final chunk', async (t) => {
  const { client } = await setup(t)
  const stream = await client.chat.completions.create({ ...chatStream, stream_options: { include_usage: true } })
  const all: OpenAI.Chat.Completions.ChatCompletionChunk[] = []
  for await (const chunk of stream) all.push(chunk)
  const last = all.at(-1)
  t.same(last?.choices, [], 'the final chunk is the usage chunk')
  t.match(last?.usage, { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 })
  t.equal(all.map((c) => c.choices[0]?.delta.content ?? '').join(''), mockText(5))
  for (const c of all.slice(0, -1)) t.equal(c.usage ?? null, null, 'earlier chunks carry no usage')
})

t.test('embeddings: the default base64 path and float decode to the same vector', async (t) => {
  const { client } = await setup(t)
  const b64 = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello' })
  const float = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello', encoding_format: 'float' })
  t.equal(b64.data.length, 1)
  t.equal(b64.data[0]?.embedding.length, 16)
  t.equal(float.data[0]?.embedding.length, 16)
  t.same(b64.data[0]?.embedding, float.data[0]?.embedding)
  t.ok(b64.data[0]?.embedding.every((x) => typeof x === 'number' && x >= -1 && x <= 1), 'numbers in [-1, 1]')
  const sized = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'], dimensions: 8 })
  t.same(sized.data.map((d) => d.embedding.length), [8, 8])
})

t.test('models.list: every configured model; the embed-only key sees only its own', async (t) => {
  const { gw, client } = await setup(t)
  const ids: string[] = []
  for await (const m of client.models.list()) ids.push(m.id)
  t.same(ids.sort(), MODELS)
  const embedOnly = new OpenAI({ baseURL: client.baseURL, apiKey: gw.keys['embed-only'] as string, maxRetries: 0 })
  const own: string[] = []
  for await (const m of embedOnly.models.list()) own.push(m.id)
  t.same(own, ['text-embedding-3-small'])
  t.equal(gw.mock.stats().requests, 0, 'the list comes from the gateway\'s own catalogue')
})

t.test('legacy completions through the client', async (t) => {
  const { client } = await setup(t)
  const res = await client.completions.create({ model: 'gpt-4.1', prompt: 'say something' })
  t.equal(res.object, 'text_completion')
  t.equal(res.choices[0]?.text, mockText(5))
})

t.test('a bad gateway key raises AuthenticationError', async (t) => {
  const { gw, client } = await setup(t)
  const bad = new OpenAI({ baseURL: client.baseURL, apiKey: 'sk-gw-not-a-real-key-000000000000', maxRetries: 0 })
  const err = await caught(t, () => bad.chat.completions.create(chat))
  t.type(err, OpenAI.AuthenticationError)
  t.equal((err as APIError).status, 401)
  t.equal((err as APIError).type, 'authentication_error')
  t.equal(gw.mock.stats().requests, 0)
})

t.test('an unknown model raises BadRequestError', async (t) => {
  const { gw, client } = await setup(t)
  const err = await caught(t, () => client.chat.completions.create({ ...chat, model: 'gpt-99-imaginary' }))
  t.type(err, OpenAI.BadRequestError)
  t.equal((err as APIError).status, 400)
  t.equal((err as APIError).code, 'model_not_found')
  t.equal((err as APIError).param, 'model')
  t.equal(gw.mock.stats().requests, 0)
})

t.test('upstream 429 raises RateLimitError with the upstream\'s retry-after', async (t) => {
  const { client } = await setup(t)
  const err = await caught(t, () => client.chat.completions.create(withMock(chat, { fault: '429', retry_after: 7 })))
  t.type(err, OpenAI.RateLimitError)
  t.equal((err as APIError).status, 429)
  t.equal((err as APIError).headers?.get('retry-after'), '7')
})

t.test('upstream 500 raises InternalServerError: 502 upstream_error', async (t) => {
  const { client } = await setup(t)
  const err = await caught(t, () => client.chat.completions.create(withMock(chat, { fault: '500' })))
  t.type(err, OpenAI.InternalServerError)
  t.equal((err as APIError).status, 502)
  t.equal((err as APIError).code, 'upstream_error')
})

t.test('upstream 401: 502 upstream_auth_failed, never the upstream\'s text or key', async (t) => {
  const { client } = await setup(t)
  const err = await caught(t, () => client.chat.completions.create(withMock(chat, { fault: '401' })))
  t.type(err, APIError)
  const apiErr = err as APIError
  t.equal(apiErr.status, 502)
  t.equal(apiErr.code, 'upstream_auth_failed')
  t.notOk(apiErr.message.includes(UPSTREAM_KEY), 'no upstream key in the message')
  t.notOk(apiErr.message.includes('Incorrect API key'), 'not the upstream\'s text')
  t.notOk(JSON.stringify(apiErr.error ?? {}).includes(UPSTREAM_KEY), 'no upstream key in the error body')
})

t.test('the gateway\'s own per-key limit: the 4th request raises RateLimitError with x-ratelimit-* headers', async (t) => {
  const { gw, client } = await setup(t, {}, 'limited')
  for (let i = 0; i < 3; i++) await client.chat.completions.create(chat)
  const err = await caught(t, () => client.chat.completions.create(chat))
  t.type(err, OpenAI.RateLimitError)
  const headers = (err as APIError).headers
  t.match(headers?.get('retry-after'), /^[1-9]\d*$/, 'retry-after in whole seconds')
  t.ok(Number(headers?.get('retry-after')) <= 60, 'retry-after within the window')
  t.equal(headers?.get('x-ratelimit-limit-requests'), '3')
  t.equal(headers?.get('x-ratelimit-remaining-requests'), '0')
  t.match(headers?.get('x-ratelimit-reset-requests'), /^(\d+m)?\d+(ms|s)$/)
  t.equal((err as APIError).code, 'rate_limit_exceeded')
  t.equal(gw.mock.stats().requests, 3, 'the refused request never reached the upstream')
})

t.test('a stream cut mid-way: the client yields the first chunks, then raises', async (t) => {
  const { client } = await setup(t)
  const stream = await client.chat.completions.create(withMock(chatStream, { fault: 'cut', cut_after: 2 }))
  const seen: string[] = []
  const err = await caught(t, async () => {
    for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? '')
  })
  t.type(err, APIError, 'the error event raises')
  t.equal((err as APIError).code, 'upstream_error')
  t.equal(seen.join(''), 'tok0 tok1', 'the chunks before the cut arrived')
})
