// 200 concurrent streams, 20% of which the client drops: every drop aborts its upstream request.
import t from 'tap'
import { Agent, request } from 'undici'
import { chatBody, metricValue, startTestGateway } from '../support/gateway.js'

const STREAMS = 200
const DROPPED = 40

t.test('200 concurrent streams with 20% early disconnects', async (t) => {
  const gw = await startTestGateway()
  const url = await gw.listen()
  const agent = new Agent({ connections: STREAMS + 10 })
  t.teardown(async () => { await agent.close(); await gw.close() })

  const body = JSON.stringify(chatBody({ stream: true, mock: { chunks: 20, chunk_delay_ms: 40 } }))
  const run = async (i: number): Promise<'done' | 'dropped'> => {
    const ac = new AbortController()
    const res = await request(`${url}/v1/chat/completions`, {
      method: 'POST',
      dispatcher: agent,
      signal: ac.signal,
      headers: { ...gw.auth(), 'content-type': 'application/json' },
      body
    })
    if (res.statusCode !== 200) throw new Error(`stream ${i}: status ${res.statusCode}`)
    let text = ''
    try {
      for await (const chunk of res.body) {
        text += (chunk as Buffer).toString()
        if (i < DROPPED && text.includes('tok1')) { ac.abort(); return 'dropped' }
      }
    } catch (err) {
      if (i < DROPPED) return 'dropped'
      throw err
    }
    if (!text.includes('data: [DONE]') || !text.includes('tok19')) throw new Error(`stream ${i} incomplete`)
    return 'done'
  }
  const results = await Promise.all(Array.from({ length: STREAMS }, async (_, i) => await run(i)))
  t.equal(results.filter((r) => r === 'done').length, STREAMS - DROPPED, 'every kept stream completed with [DONE]')
  t.equal(results.filter((r) => r === 'dropped').length, DROPPED)

  // The upstream sees each drop as an aborted request, well before its 800 ms of chunks would end.
  const deadline = Date.now() + 20_000
  while (gw.mock.stats().aborted < DROPPED && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  t.equal(gw.mock.stats().aborted, DROPPED, 'each dropped client aborted its upstream request')
  t.equal(gw.mock.stats().in_flight, 0, 'no upstream request left open')

  while (await metricValue(gw.app, 'llm_gateway_requests_in_flight') > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  t.equal(await metricValue(gw.app, 'llm_gateway_requests_in_flight'), 0, 'in-flight gauge back to 0')
  t.equal(await metricValue(gw.app, 'llm_gateway_stream_aborts_total', { side: 'client' }), DROPPED)
  t.equal(await metricValue(gw.app, 'llm_gateway_requests_total', { stream: 'true' }), STREAMS, 'every stream counted once')

  const health = await request(`${url}/healthz`, { dispatcher: agent })
  t.equal(health.statusCode, 200, 'still healthy')
  await health.body.dump()
  const after = await request(`${url}/v1/chat/completions`, { method: 'POST', dispatcher: agent, headers: { ...gw.auth(), 'content-type': 'application/json' }, body: JSON.stringify(chatBody()) })
  t.equal(after.statusCode, 200, 'still serving')
  await after.body.dump()
})
