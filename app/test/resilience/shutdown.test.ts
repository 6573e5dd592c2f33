// SIGTERM: stop taking requests, let in-flight streams finish within the grace period, then exit 0.
import t, { type Test } from 'tap'
import { Client, request } from 'undici'
import { hashKey } from '../../src/lib/keys.js'
import { startGateway, startMock, type GatewayProc } from '../support/procs.js'
import { waitFor } from '../support/wait.js'

const KEY = 'sk-gw-shutdown-test-key'

async function gatewayWithMock (t: Test, graceMs: number): Promise<GatewayProc> {
  const mock = await startMock()
  t.teardown(async () => { await mock.stop() })
  const gw = await startGateway({
    UPSTREAM_BASE_URL: `${mock.url}/v1`,
    GATEWAY_KEYS: `t:${hashKey(KEY)}`,
    SHUTDOWN_GRACE_MS: String(graceMs)
  })
  t.teardown(async () => { await gw.stop('SIGKILL') })
  return gw
}

async function startStream (url: string, mock: Record<string, number>): Promise<{ firstChunk: Promise<void>, text: Promise<string> }> {
  const res = await request(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4.1', stream: true, messages: [{ role: 'user', content: 'hi' }], mock })
  })
  let resolveFirst: () => void = () => {}
  const firstChunk = new Promise<void>((resolve) => { resolveFirst = resolve })
  const text = (async () => {
    let all = ''
    try {
      for await (const chunk of res.body) { all += (chunk as Buffer).toString(); if (all.includes('tok0')) resolveFirst() }
    } catch (err) {
      all += `\n[client error: ${(err as Error).message}]`
    }
    resolveFirst()
    return all
  })()
  return { firstChunk, text }
}

t.test('an in-flight stream finishes after SIGTERM and the process exits 0', async (t) => {
  const gw = await gatewayWithMock(t, 10_000)
  const s = await startStream(gw.url, { chunks: 15, chunk_delay_ms: 400 })
  await s.firstChunk
  let streamDone = false
  const text = s.text.then((x) => { streamDone = true; return x })
  process.kill(gw.pid, 'SIGTERM')
  // The listener closes promptly: new requests are refused while the stream still runs (~6 s).
  let refused: number | string | undefined = 200
  for (let i = 0; i < 100 && refused === 200 && !streamDone; i++) {
    await new Promise((r) => setTimeout(r, 50))
    refused = await request(`${gw.url}/healthz`, { reset: true }).then(async (r) => { await r.body.dump(); return r.statusCode }, (err: Error) => (err as Error & { code?: string }).code)
  }
  t.not(refused, 200, `no new requests after SIGTERM (got ${String(refused)})`)
  t.notOk(streamDone, 'refused while the in-flight stream was still running')
  t.match(await text, /tok14/, 'all content arrived')
  t.match(await text, /data: \[DONE\]/, 'the stream ended normally')
  t.equal(await gw.exited, 0, 'exit code 0')
})

t.test('a stream longer than the grace period ends with an SSE error event, exit 0', async (t) => {
  const gw = await gatewayWithMock(t, 400)
  // the stream would run for 30 s; the grace period is 0.4 s
  const s = await startStream(gw.url, { chunks: 300, chunk_delay_ms: 100 })
  await s.firstChunk
  const t0 = Date.now()
  process.kill(gw.pid, 'SIGTERM')
  const text = await s.text
  t.ok(Date.now() - t0 < 20_000, `ended by the grace period, not the stream's end (${Date.now() - t0} ms)`)
  t.match(text, /data: \{"error":\{[^\n]*"code":"shutting_down"/, 'error event tells the client why')
  t.notMatch(text, /\[DONE\]/, 'no [DONE]: the client knows the answer is incomplete')
  t.equal(await gw.exited, 0, 'exit code 0')
})

t.test('with SHUTDOWN_DRAIN_MS: new connections refused at once, open ones still served and closed after their answer', async (t) => {
  const mock = await startMock()
  t.teardown(async () => { await mock.stop() })
  const gw = await startGateway({ UPSTREAM_BASE_URL: `${mock.url}/v1`, GATEWAY_KEYS: `t:${hashKey(KEY)}`, SHUTDOWN_DRAIN_MS: '5000', READY_CACHE_MS: '0' })
  t.teardown(async () => { await gw.stop('SIGKILL') })
  // A keep-alive connection opened before the signal, as nginx holds them.
  const held = new Client(gw.url, { pipelining: 1 })
  t.teardown(async () => { await held.destroy() })
  const chat = { method: 'POST' as const, path: '/v1/chat/completions', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }] }) }
  const before = await held.request(chat)
  t.equal(before.statusCode, 200)
  t.not(before.headers.connection, 'close', 'kept alive before the signal')
  await before.body.dump()
  const t0 = Date.now()
  process.kill(gw.pid, 'SIGTERM')
  // The listener is closed once a fresh connection is refused.
  let refused = false
  await waitFor(async () => {
    refused = await request(`${gw.url}/healthz`, { reset: true }).then(async (r) => { await r.body.dump(); return false }, (err: Error & { code?: string }) => err.code === 'ECONNREFUSED')
    return refused
  }, 10_000, 20)
  t.ok(refused, 'a new connection is refused')
  const during = await held.request(chat)
  t.equal(during.statusCode, 200, 'a request on the open connection is served during the drain')
  t.equal(during.headers.connection, 'close', 'and its connection closes after the answer')
  await during.body.dump()
  t.equal(await gw.exited, 0, 'exit code 0')
  t.ok(Date.now() - t0 >= 4900, `it waited for the drain period (${Date.now() - t0} ms)`)
})
