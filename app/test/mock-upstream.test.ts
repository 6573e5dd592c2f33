// The shipped mock upstream: OpenAI-shaped answers, knobs, faults, stats, and the process wrapper.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import OpenAI from 'openai'
import { createMockUpstream, type MockConfigInput } from '../src/mock-upstream/app.js'
import { waitFor } from './integration/fixtures/helpers.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any -- parsed response bodies

async function start (t: Test, options: MockConfigInput = {}): Promise<{ url: string, mock: ReturnType<typeof createMockUpstream> }> {
  const mock = createMockUpstream(options)
  const { url } = await mock.listen()
  t.teardown(() => mock.close())
  return { url, mock }
}

async function post (url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body)
  })
}

function events (text: string): string[] {
  return text.split('\n\n').filter((e) => e !== '').map((e) => e.replace(/^data: /, ''))
}

const chat = { model: 'gpt-4.1', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: [{ type: 'text', text: 'hello there world' }] }] }

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
  t.same(body.usage, { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 })
})

t.test('chat stream without include_usage: role, words, stop, [DONE], no usage', async (t) => {
  const { url, mock } = await start(t)
  const res = await post(`${url}/v1/chat/completions`, { ...chat, stream: true })
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/event-stream/)
  const ev = events(await res.text())
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
  const ev = events(await res.text())
  t.equal(ev.at(-1), '[DONE]')
  const chunks = ev.slice(0, -1).map((e) => JSON.parse(e) as Json)
  t.equal(chunks.length, 6)
  for (const c of chunks.slice(0, -1)) t.equal(c.usage, null)
  t.equal(chunks[4]!.choices[0].finish_reason, 'stop')
  t.same(chunks[5]!.choices, [])
  t.same(chunks[5]!.usage, { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 })
  t.same(mock.stats().usage_reported, { prompt_tokens: 5, completion_tokens: 3 })
})

t.test('legacy completions, plain and streamed, prompt string or array', async (t) => {
  const { url } = await start(t)
  const plain = await (await post(`${url}/v1/completions`, { model: 'gpt-4.1', prompt: ['one two', 'three'] })).json() as Json
  t.equal(plain.object, 'text_completion')
  t.equal(plain.choices[0].text, 'tok0 tok1 tok2 tok3 tok4')
  t.same(plain.usage, { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 })
  const res = await post(`${url}/v1/completions`, { model: 'gpt-4.1', prompt: 'a b', stream: true, stream_options: { include_usage: true } })
  const ev = events(await res.text())
  t.equal(ev.at(-1), '[DONE]')
  const chunks = ev.slice(0, -1).map((e) => JSON.parse(e) as Json)
  t.equal(chunks.slice(0, 5).map((c) => c.choices[0].text).join(''), 'tok0 tok1 tok2 tok3 tok4')
  t.equal(chunks[5]!.choices[0].finish_reason, 'stop')
  t.same(chunks[6]!.usage, { prompt_tokens: 2, completion_tokens: 5, total_tokens: 7 })
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

t.test('auth when an API key is set', async (t) => {
  const { url } = await start(t, { api_key: 'sk-upstream' })
  t.equal((await post(`${url}/v1/chat/completions`, chat)).status, 401)
  const wrong = await post(`${url}/v1/chat/completions`, chat, { authorization: 'Bearer sk-wrong-123' })
  t.equal(wrong.status, 401)
  t.match(((await wrong.json()) as Json).error.message, 'sk-wrong-123')
  t.equal((await post(`${url}/v1/chat/completions`, chat, { authorization: 'Bearer sk-upstream' })).status, 200)
  t.equal((await fetch(`${url}/_mock/stats`)).status, 200, 'control routes need no key')
  t.equal((await fetch(`${url}/healthz`)).status, 200)
})

t.test('status faults answer with OpenAI error bodies', async (t) => {
  const { url } = await start(t)
  for (const status of [400, 401, 403, 404, 409, 422, 429, 500, 502, 503]) {
    const res = await post(`${url}/v1/chat/completions`, { ...chat, mock: { fault: String(status) } }, { authorization: 'Bearer sk-secret-key' })
    t.equal(res.status, status)
    const body = await res.json() as Json
    t.same(Object.keys(body.error), ['message', 'type', 'param', 'code'], `${status} error shape`)
    if (status === 401) t.match(body.error.message, 'Incorrect API key provided: sk-secret-key')
    if (status === 429) {
      t.equal(res.headers.get('retry-after'), '1')
      t.equal(res.headers.get('retry-after-ms'), '1000')
    }
  }
  const custom = await post(`${url}/v1/embeddings`, { model: 'm', input: 'a', mock: { fault: 429, retry_after: 7, fault_status_body: 'slow down' } })
  t.equal(custom.headers.get('retry-after'), '7')
  t.equal(((await custom.json()) as Json).error.message, 'slow down')
})

t.test('hang: no headers until the client gives up; counted as aborted; close() does not wait', async (t) => {
  const { url, mock } = await start(t, { fault: 'hang' })
  const ac = new AbortController()
  const pending = post(`${url}/v1/chat/completions`, chat).catch((e: Error) => e)
  const aborted = fetch(`${url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(chat), signal: ac.signal }).catch((e: Error) => e)
  t.ok(await waitFor(() => mock.stats().in_flight === 2, 10_000), 'both requests in flight')
  ac.abort()
  t.type(await aborted, Error)
  t.ok(await waitFor(() => mock.stats().aborted === 1, 10_000), 'the abort was seen')
  const s = mock.stats()
  t.equal(s.aborted, 1)
  t.equal(s.in_flight, 1)
  t.equal(s.recent[1]!.aborted, true)
  await mock.close()
  t.type(await pending, Error, 'close() destroyed the other hung request')
})

t.test('reset and invalid_json', async (t) => {
  const { url, mock } = await start(t)
  t.type(await post(`${url}/v1/chat/completions`, { ...chat, mock: { fault: 'reset' } }).catch((e: Error) => e), Error)
  const bad = await post(`${url}/v1/chat/completions`, { ...chat, mock: { fault: 'invalid_json' } })
  t.equal(bad.status, 200)
  t.match(bad.headers.get('content-type'), 'application/json')
  const text = await bad.text()
  t.throws(() => JSON.parse(text))
  const s = mock.stats()
  t.equal(s.destroyed, 1)
  t.equal(s.completed, 1)
  t.same(s.usage_reported, { prompt_tokens: 0, completion_tokens: 0 }, 'no usage counted for damaged answers')
})

t.test('cut: a stream stops after cut_after words with no [DONE]; a plain body stops half-way', async (t) => {
  const { url, mock } = await start(t, { fault: 'cut', cut_after: 2, chunk_delay_ms: 5 })
  const res = await post(`${url}/v1/chat/completions`, { ...chat, stream: true, stream_options: { include_usage: true } })
  t.equal(res.status, 200)
  let text = ''
  const reader = res.body!.getReader()
  const err = await (async () => {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return undefined
      text += Buffer.from(value).toString()
    }
  })().catch((e: Error) => e)
  t.type(err, Error, 'the body read fails')
  const ev = events(text)
  t.equal(ev.length, 3, 'role chunk and two words')
  t.notOk(text.includes('[DONE]'))
  // with no delays the kept part goes out in one write before the connection drops
  const fast = await post(`${url}/v1/chat/completions`, { ...chat, stream: true, mock: { chunk_delay_ms: 0, cut_after: 3 } })
  const fastText = await fast.text().catch(() => '')
  t.ok(fastText === '' || (!fastText.includes('[DONE]') && events(fastText).length <= 4), 'no [DONE] after a fast cut')
  const plain = await post(`${url}/v1/chat/completions`, chat)
  t.equal(plain.status, 200)
  t.type(await plain.text().catch((e: Error) => e), Error)
  t.equal(mock.stats().destroyed, 3)
  t.same(mock.stats().usage_reported, { prompt_tokens: 0, completion_tokens: 0 })
})

t.test('stall: words then silence until the client leaves', async (t) => {
  const { url, mock } = await start(t)
  const ac = new AbortController()
  const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ ...chat, stream: true, mock: { fault: 'stall', cut_after: 1 } }), signal: ac.signal })
  const reader = res.body!.getReader()
  let text = ''
  while (events(text).length < 2) text += Buffer.from((await reader.read()).value!).toString()
  const next = reader.read().catch((e: Error) => e)
  const timeout = new Promise((resolve) => setTimeout(() => resolve('silent'), 100))
  t.equal(await Promise.race([next, timeout]), 'silent')
  ac.abort()
  await next
  t.ok(await waitFor(() => mock.stats().aborted === 1 && mock.stats().in_flight === 0, 10_000), 'counted as aborted, nothing in flight')
})

t.test('fault_rate spreads faults evenly, starting with the first request', async (t) => {
  const { url } = await start(t, { fault: '503', fault_rate: 0.5 })
  const statuses = []
  for (let i = 0; i < 6; i++) statuses.push((await post(`${url}/v1/chat/completions`, chat)).status)
  t.same(statuses, [503, 200, 503, 200, 503, 200])
})

t.test('knobs: request mock beats /_mock/config; reset restores startup and zeroes stats', async (t) => {
  const { url, mock } = await start(t, { chunks: 2 })
  const words = async (extra: Json = {}): Promise<number> =>
    ((await (await post(`${url}/v1/chat/completions`, { ...chat, ...extra })).json()) as Json).usage.completion_tokens
  t.equal(await words(), 2)
  const cfg = await post(`${url}/_mock/config`, { chunks: 4, latency_ms: 30 })
  t.equal(((await cfg.json()) as Json).chunks, 4)
  const t0 = Date.now()
  t.equal(await words(), 4)
  t.ok(Date.now() - t0 >= 25, 'latency_ms delays the answer')
  t.equal(await words({ mock: { chunks: 9, latency_ms: 0 } }), 9)
  t.same(mock.stats().recent.at(-1)!.body_mock, { chunks: 9, latency_ms: 0 })
  t.equal((await post(`${url}/_mock/config`, { chunks: -1 })).status, 400)
  const before = mock.stats()
  t.equal(before.requests, 3, 'control routes are not counted')
  t.same(before.usage_reported, { prompt_tokens: 15, completion_tokens: 15 })
  t.equal((await post(`${url}/_mock/reset`, {})).status, 200)
  t.equal(mock.stats().requests, 0)
  t.equal(await words(), 2)
  mock.setConfig({ chunkDelayMs: 0, chunks: 1 })
  t.equal(await words(), 1)
  mock.reset()
  t.equal(await words(), 2)
})

t.test('stats: by_path, recent headers, paced streams finish', async (t) => {
  const { url, mock } = await start(t, { first_chunk_delay_ms: 20, chunk_delay_ms: 10, chunks: 3 })
  const t0 = Date.now()
  const ev = events(await (await post(`${url}/v1/chat/completions`, { ...chat, stream: true }, { 'x-request-id': 'abc' })).text())
  t.ok(Date.now() - t0 >= 35, 'first_chunk_delay_ms + 2 × chunk_delay_ms')
  t.equal(ev.at(-1), '[DONE]')
  await fetch(`${url}/v1/models`)
  const s = mock.stats()
  t.same(s.by_path, { '/v1/chat/completions': 1, '/v1/models': 1 })
  t.equal(s.completed, 2)
  t.equal(s.recent[0]!.headers['x-request-id'], 'abc')
  t.equal(s.recent[0]!.stream, true)
  t.equal(s.recent[0]!.completed, true)
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
  t.same(usage, { prompt_tokens: 1, completion_tokens: 5, total_tokens: 6 })
  const emb = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello' })
  t.equal(emb.data[0]!.embedding.length, 16)
  t.ok(emb.data[0]!.embedding.every((x) => typeof x === 'number' && x >= -1 && x <= 1))
  const list = await client.models.list()
  t.equal(list.data.length, 5)
  const limited = await client.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }], mock: { fault: '429' } } as OpenAI.ChatCompletionCreateParamsNonStreaming).catch((e: unknown) => e)
  t.ok(limited instanceof OpenAI.RateLimitError, 'a 429 fault surfaces as RateLimitError')
})

t.test('server.ts: bad env stops with the variable named; SIGTERM exits 0', async (t) => {
  const entry = fileURLToPath(new URL('../src/mock-upstream/server.ts', import.meta.url))
  const run = (env: Record<string, string>): { out: () => string, exited: Promise<number | null>, kill: () => void } => {
    const child = spawn(process.execPath, [...process.execArgv, entry], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { out += d.toString() })
    t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
    return { out: () => out, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))), kill: () => child.kill('SIGTERM') }
  }
  const bad = run({ MOCK_CHUNKS: 'five' })
  t.equal(await bad.exited, 1)
  t.match(bad.out(), 'MOCK_CHUNKS')
  const good = run({ MOCK_PORT: '0', MOCK_HOST: '127.0.0.1' })
  while (!good.out().includes('listening on')) await new Promise((resolve) => setTimeout(resolve, 20))
  t.match(good.out(), /mock upstream listening on 127\.0\.0\.1:\d+/)
  good.kill()
  t.equal(await good.exited, 0)
})
