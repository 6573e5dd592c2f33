// Ordered targets: fallback before the first byte only, and a breaker that routes around a failing upstream.
import t, { type Test } from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { hashKey } from '../../src/lib/keys.js'
import { createMockUpstream } from '../../src/mock-upstream/app.js'
import { metricValue } from '../support/gateway.js'

const KEY = 'sk-gw-fallback-test'

async function setup (t: Test, breakerFailures: number) {
  const primary = createMockUpstream({ api_key: 'primary-key' })
  const backup = createMockUpstream({ api_key: 'backup-key' })
  const p = await primary.listen(0, '127.0.0.1')
  const b = await backup.listen(0, '127.0.0.1')
  const dir = mkdtempSync(join(tmpdir(), 'gw-fallback-'))
  const modelsFile = join(dir, 'models.json')
  writeFileSync(modelsFile, JSON.stringify({
    upstreams: { backup: { base_url: `${b.url}/v1`, api_key_env: 'BACKUP_API_KEY' } },
    models: [{ id: 'gpt-4.1', price: { input_per_1m: 2, output_per_1m: 8 }, targets: [{ model: 'gpt-4.1' }, { upstream: 'backup', model: 'gpt-4.1-backup' }] }]
  }))
  const config = loadConfig({
    UPSTREAM_BASE_URL: `${p.url}/v1`,
    UPSTREAM_API_KEY: 'primary-key',
    BACKUP_API_KEY: 'backup-key',
    GATEWAY_KEYS: `k:${hashKey(KEY)}`,
    MODELS_FILE: modelsFile,
    UPSTREAM_BREAKER_FAILURES: String(breakerFailures),
    UPSTREAM_BREAKER_COOLDOWN_MS: '60000',
    LOG_LEVEL: 'silent'
  })
  const app = await buildApp(config)
  t.teardown(async () => { await app.close(); await primary.close(); await backup.close() })
  const chat = async (extra: Record<string, unknown> = {}) => await app.inject({
    method: 'POST',
    url: '/v1/chat/completions',
    headers: { authorization: `Bearer ${KEY}` },
    payload: { model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }], ...extra }
  })
  return { app, primary, backup, chat }
}

t.test('a 5xx from the first target falls back to the next, with its own key and model name', async (t) => {
  const { primary, backup, chat } = await setup(t, 0)
  primary.setConfig({ fault: '500' })
  const res = await chat()
  t.equal(res.statusCode, 200)
  t.equal(primary.stats().requests, 1)
  t.equal(backup.stats().requests, 1)
  const seen = backup.stats().recent[0]
  t.equal(seen?.headers.authorization, 'Bearer backup-key', 'the backup gets its own key')
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
