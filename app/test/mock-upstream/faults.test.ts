// The mock's auth and injected faults: status errors, hang, reset, invalid_json, cut, stall, fault_rate.
import t from 'tap'
import { waitFor } from '../support/wait.js'
import { chat, post, start } from './helpers.js'
import { sseData, type Json } from '../support/http.js'

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
  const ev = sseData(text)
  t.equal(ev.length, 3, 'role chunk and two words')
  t.notOk(text.includes('[DONE]'))
  // with no delays the kept part goes out in one write before the connection drops
  const fast = await post(`${url}/v1/chat/completions`, { ...chat, stream: true, mock: { chunk_delay_ms: 0, cut_after: 3 } })
  const fastText = await fast.text().catch(() => '')
  t.ok(fastText === '' || (!fastText.includes('[DONE]') && sseData(fastText).length <= 4), 'no [DONE] after a fast cut')
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
  while (sseData(text).length < 2) text += Buffer.from((await reader.read()).value!).toString()
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

/** One valid request per route, so a fault is the only reason for what comes back. */
function everyRoute (): Array<{ path: string, init: RequestInit }> {
  const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
  const anthropic = { 'anthropic-version': '2023-06-01' }
  const form = (fields: Record<string, string>, fileField: string): RequestInit => {
    const fd = new FormData()
    for (const [k, v] of Object.entries(fields)) fd.append(k, v)
    fd.append(fileField, new Blob([Buffer.from('bytes')]), 'in.bin')
    return { method: 'POST', body: fd }
  }
  return [
    { path: '/v1/chat/completions', init: json(chat) },
    { path: '/v1/completions', init: json({ model: 'm', prompt: 'a' }) },
    { path: '/v1/embeddings', init: json({ model: 'm', input: 'a' }) },
    { path: '/v1/models', init: { method: 'GET' } },
    { path: '/v1/responses', init: json({ model: 'm', input: 'a' }) },
    { path: '/v1/responses/input_tokens', init: json({ model: 'm', input: 'a' }) },
    { path: '/v1/messages', init: json({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'a' }] }, anthropic) },
    { path: '/v1/messages/count_tokens', init: json({ model: 'm', messages: [{ role: 'user', content: 'a' }] }, anthropic) },
    { path: '/v1/moderations', init: json({ input: 'a' }) },
    { path: '/v1/images/generations', init: json({ model: 'gpt-image-1', prompt: 'a' }) },
    { path: '/v1/images/edits', init: form({ model: 'gpt-image-1', prompt: 'a' }, 'image') },
    { path: '/v1/audio/speech', init: json({ model: 'gpt-4o-mini-tts', voice: 'alloy', input: 'a' }) },
    { path: '/v1/audio/transcriptions', init: form({ model: 'whisper-1' }, 'file') },
    { path: '/v1/audio/translations', init: form({ model: 'whisper-1' }, 'file') }
  ]
}

t.test('faults work on every route, in the error shape its clients parse', async (t) => {
  const { url, mock } = await start(t)
  for (const { path, init } of everyRoute()) t.equal((await fetch(url + path, init)).status, 200, `${path} answers without a fault`)
  mock.setConfig({ fault: '429', retry_after: 4 })
  for (const { path, init } of everyRoute()) {
    const res = await fetch(url + path, init)
    t.equal(res.status, 429, `${path} 429`)
    t.equal(res.headers.get('retry-after'), '4')
    const body = await res.json() as Json
    if (path.startsWith('/v1/messages')) t.same(body.error.type, 'rate_limit_error', `${path} Anthropic shape`)
    else t.same(Object.keys(body.error), ['message', 'type', 'param', 'code'], `${path} OpenAI shape`)
  }
  mock.setConfig({ fault: 'reset' })
  for (const { path, init } of everyRoute()) t.type(await fetch(url + path, init).catch((e: Error) => e), Error, `${path} reset`)
})

t.test('hung requests on every route count as aborted, per path', async (t) => {
  const { url, mock } = await start(t, { fault: 'hang' })
  const routes = everyRoute()
  const ac = new AbortController()
  const pending = routes.map(({ path, init }) => fetch(url + path, { ...init, signal: ac.signal }).catch((e: Error) => e))
  t.ok(await waitFor(() => mock.stats().in_flight === routes.length, 10_000), 'all in flight')
  ac.abort()
  await Promise.all(pending)
  t.ok(await waitFor(() => mock.stats().aborted === routes.length, 10_000), 'all aborts seen')
  t.same(mock.stats().aborted_by_path, Object.fromEntries(routes.map((r) => [r.path, 1])))
})
