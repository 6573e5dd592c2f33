// An upstream that does not know `stream_options`: the gateway's own usage request must not break
// streaming for clients that never asked for it.
import t from 'tap'
import { chatBody, metricValue, mockText, startTestGateway } from '../support/gateway.js'
import { sseData, type Json } from '../support/http.js'
import { waitFor } from '../support/wait.js'

t.test('an upstream that rejects stream_options: the stream is sent again without it, and usage is estimated', async (t) => {
  const gw = await startTestGateway({ mock: { reject_stream_options: true } })
  t.teardown(() => gw.close())
  const base = await gw.listen()
  const stream = async (extra: Record<string, unknown> = {}): Promise<{ status: number, text: string }> => {
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...gw.auth() },
      body: JSON.stringify(chatBody({ stream: true, ...extra }))
    })
    return { status: res.status, text: await res.text() }
  }

  const first = await stream()
  t.equal(first.status, 200, 'the client never sees the upstream\'s 400')
  const data = sseData(first.text)
  t.equal(data.at(-1), '[DONE]')
  t.equal(data.slice(0, -1).map((d) => (JSON.parse(d) as Json).choices[0]?.delta?.content ?? '').join(''), mockText(5), 'the whole answer')
  t.equal(gw.mock.stats().requests, 2, 'one refused attempt, then one without the option')
  t.equal(gw.mock.stats().recent[0]?.status, 400)
  t.ok(await waitFor(async () => await metricValue(gw.app, 'llm_gateway_tokens_total', { source: 'estimated', type: 'completion' }) > 0, 10_000), 'tokens estimated, labelled as such')
  t.equal(await metricValue(gw.app, 'llm_gateway_tokens_total', { source: 'upstream' }), 0)
  t.match(gw.logs(), /upstream rejects stream_options/, 'a warning says so')

  const second = await stream()
  t.equal(second.status, 200)
  t.equal(gw.mock.stats().requests, 3, 'remembered: the next stream goes without the option at once')

  // A client that asks for usage itself asked for what this upstream cannot do: it hears so.
  const asked = await stream({ stream_options: { include_usage: true } })
  t.equal(asked.status, 400)
  t.equal((JSON.parse(asked.text) as Json).error.param, 'stream_options', 'the upstream\'s own error, passed through')
})

t.test('an upstream that knows stream_options is asked for usage on every stream', async (t) => {
  const gw = await startTestGateway()
  t.teardown(() => gw.close())
  for (let i = 0; i < 2; i++) {
    const res = await gw.app.inject({ method: 'POST', url: '/v1/chat/completions', headers: gw.auth(), payload: chatBody({ stream: true }) })
    t.equal(res.statusCode, 200)
  }
  t.equal(gw.mock.stats().requests, 2, 'one upstream request a stream')
  t.same(gw.mock.stats().usage_reported, { prompt_tokens: 6, completion_tokens: 10 }, 'the upstream sent usage for both')
})
