// The mock's knobs (per request and /_mock/config), its stats, and the process wrapper (server.ts).
import t from 'tap'
import { startProcess, type Proc } from '../support/procs.js'
import { waitFor } from '../support/wait.js'
import { fileURLToPath } from 'node:url'
import { chat, post, start } from './helpers.js'
import { sseData, type Json } from '../support/http.js'

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
  const ev = sseData(await (await post(`${url}/v1/chat/completions`, { ...chat, stream: true }, { 'x-request-id': 'abc' })).text())
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

t.test('server.ts: bad env stops with the variable named; SIGTERM exits 0', async (t) => {
  const entry = fileURLToPath(new URL('../../src/mock-upstream/server.ts', import.meta.url))
  const run = (env: Record<string, string>): Proc => {
    const proc = startProcess(process.execPath, [...process.execArgv, entry], { name: 'mock upstream', env: { ...process.env, ...env } })
    t.teardown(async () => { await proc.stop('SIGKILL') })
    return proc
  }
  const bad = run({ MOCK_CHUNKS: 'five' })
  t.equal(await bad.exited, 1)
  t.match(bad.output(), 'MOCK_CHUNKS')
  const good = run({ MOCK_PORT: '0', MOCK_HOST: '127.0.0.1' })
  t.ok(await waitFor(() => good.output().includes('listening on') || !good.alive(), 30_000), 'started or exited')
  t.match(good.output(), /mock upstream listening on 127\.0\.0\.1:\d+/)
  t.equal(await good.stop('SIGTERM'), 0)
})
