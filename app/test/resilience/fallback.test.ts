// Ordered targets: fallback before the first byte only, and a breaker that routes around a failing upstream.
import t, { type Test } from 'tap'
import { metricValue, startTestGateway, upstreamKey } from '../support/gateway.js'

async function setup (t: Test, breakerFailures: number) {
  const gw = await startTestGateway({
    upstreams: { backup: {} },
    models: [{ id: 'gpt-4.1', price: { input_per_1m: 2, output_per_1m: 8 }, targets: [{ model: 'gpt-4.1' }, { upstream: 'backup', model: 'gpt-4.1-backup' }] }],
    env: { UPSTREAM_BREAKER_FAILURES: String(breakerFailures), UPSTREAM_BREAKER_COOLDOWN_MS: '60000' }
  })
  t.teardown(gw.close)
  const chat = async (extra: Record<string, unknown> = {}) => await gw.app.inject({
    method: 'POST',
    url: '/v1/chat/completions',
    headers: gw.auth(),
    payload: { model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }], ...extra }
  })
  return { app: gw.app, primary: gw.mock, backup: gw.upstream('backup'), chat }
}

t.test('a 5xx from the first target falls back to the next, with its own key and model name', async (t) => {
  const { primary, backup, chat } = await setup(t, 0)
  primary.setConfig({ fault: '500' })
  const res = await chat()
  t.equal(res.statusCode, 200)
  t.equal(primary.stats().requests, 1)
  t.equal(backup.stats().requests, 1)
  const seen = backup.stats().recent[0]
  t.equal(seen?.headers.authorization, `Bearer ${upstreamKey('backup')}`, 'the backup gets its own key')
  t.equal(seen?.model, 'gpt-4.1-backup', 'and its own model name')
})

t.test('client errors are not retried on another target', async (t) => {
  const { primary, backup, chat } = await setup(t, 0)
  primary.setConfig({ fault: '400' })
  const res = await chat()
  t.equal(res.statusCode, 400)
  t.equal(backup.stats().requests, 0)
})

t.test('all targets failing: the last error, and x-should-retry false since the gateway already retried', async (t) => {
  const { primary, backup, chat } = await setup(t, 0)
  primary.setConfig({ fault: '503' })
  backup.setConfig({ fault: '500' })
  const res = await chat()
  t.equal(res.statusCode, 502)
  t.equal(res.json().error.code, 'upstream_error')
  t.equal(res.headers['x-should-retry'], 'false')
})

t.test('a stream that fails after its first byte is never retried elsewhere', async (t) => {
  const { primary, backup, chat } = await setup(t, 0)
  const res = await chat({ stream: true, mock: { fault: 'cut', cut_after: 2 } })
  t.equal(res.statusCode, 200)
  t.match(res.body, /data: \{"error":/)
  t.notMatch(res.body, /\[DONE\]/)
  t.equal(primary.stats().requests, 1)
  t.equal(backup.stats().requests, 0, 'no second upstream request: no duplicated text')
})

t.test('the breaker skips a failing upstream while another target remains', async (t) => {
  const { app, primary, backup, chat } = await setup(t, 3)
  primary.setConfig({ fault: '500' })
  for (let i = 0; i < 6; i++) t.equal((await chat()).statusCode, 200)
  t.equal(primary.stats().requests, 3, 'after 3 failures in a row the primary is left alone')
  t.equal(backup.stats().requests, 6)
  t.equal(await metricValue(app, 'llm_gateway_upstream_errors_total', { upstream: 'default', reason: 'circuit_open' }), 3)
})
