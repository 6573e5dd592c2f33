// What ends when the shutdown grace period is over (`relay.abortAll()`): the client is told
// `shutting_down`, and the upstream is not blamed for it (no upstream error, no breaker failure).
import t from 'tap'
import { chatBody, metricValue, startTestGateway, type TestGateway } from '../support/gateway.js'
import { waitFor } from '../support/wait.js'

const upstreamErrors = async (gw: TestGateway): Promise<number> => await metricValue(gw.app, 'llm_gateway_upstream_errors_total')

/** Posts a chat request; resolves with the response once its headers arrived. */
async function post (url: string, gw: TestGateway, body: unknown): Promise<Response> {
  return await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...gw.auth() },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(20_000)
  })
}

t.test('a stream cut by the end of the grace period: shutting_down event, counted as side="gateway"', async (t) => {
  const gw = await startTestGateway()
  t.teardown(() => gw.close())
  const url = await gw.listen()
  const res = await post(url, gw, chatBody({ stream: true, mock: { chunks: 5, chunk_delay_ms: 60_000 } }))
  t.equal(res.status, 200)
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  let text = ''
  while (!text.includes('tok0')) {
    const { value, done } = await reader.read()
    if (done) break
    text += decoder.decode(value, { stream: true })
  }
  gw.app.relay.abortAll()
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    text += decoder.decode(value, { stream: true })
  }
  t.match(text, /data: \{"error":\{[^\n]*"code":"shutting_down"/, 'the client is told why')
  t.notMatch(text, /\[DONE\]/)
  t.ok(await waitFor(async () => await metricValue(gw.app, 'llm_gateway_stream_aborts_total', { side: 'gateway' }) === 1, 10_000), 'stream_aborts_total{side="gateway"} is 1')
  t.equal(await metricValue(gw.app, 'llm_gateway_stream_aborts_total', { side: 'upstream' }), 0, 'not the upstream\'s doing')
  t.equal(await upstreamErrors(gw), 0, 'no upstream error counted')
  t.ok(await waitFor(() => gw.mock.stats().aborted === 1, 10_000), 'the upstream request was ended')

  const next = await post(url, gw, chatBody())
  t.equal(next.status, 200, 'the upstream is still used afterwards')
  await next.arrayBuffer()
})

t.test('a JSON request waiting for its answer at the end of the grace period: 503 shutting_down', async (t) => {
  const gw = await startTestGateway()
  t.teardown(() => gw.close())
  const url = await gw.listen()
  const pending = post(url, gw, chatBody({ mock: { latency_ms: 60_000 } }))
  t.ok(await waitFor(() => gw.mock.stats().in_flight === 1, 10_000), 'the request reached the upstream')
  gw.app.relay.abortAll()
  const res = await pending
  t.equal(res.status, 503)
  const body = await res.json() as { error: { code: string, type: string } }
  t.equal(body.error.code, 'shutting_down')
  t.equal(await upstreamErrors(gw), 0, 'no upstream error counted')
  t.equal(await metricValue(gw.app, 'llm_gateway_requests_total', { status: '5xx' }), 1, 'the request itself counts as a 5xx')
})
