// Hot reload on SIGHUP: a price and a target change while 50 streams are in flight on three replicas.
// No stream fails (each keeps the model entry it started with, its old price and upstream), new
// requests use the new price and target, every replica's config_info shows the same new hash, and a
// broken file changes nothing.
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hashKey } from '../../src/lib/keys.js'
import { chatBody } from '../support/gateway.js'
import { scrapedValue } from '../support/metrics.js'
import { startMock } from '../support/procs.js'
import { waitFor } from '../support/wait.js'
import { configInfo, postJson, startHeldUpstream } from './support.js'
import { startGateways, type GatewayProc as Replica } from '../support/procs.js'
import { startRedis } from '../support/redis.js'

const KEY = 'sk-gw-governance-reload'
const STREAMS = 50

t.test('price and target reloaded under 50 streams in flight', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-reload-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const modelsFile = join(dir, 'models.json')
  const held = await startHeldUpstream({ promptTokens: 10, completionTokens: 4 })
  t.teardown(async () => { await held.close() })
  const mock = await startMock()
  t.teardown(async () => { await mock.stop() })
  const models = (price: { input_per_1m: number, output_per_1m: number }, upstream: string): string => JSON.stringify({
    upstreams: { next: { base_url: `${mock.url}/v1`, api_key_env: 'NEXT_API_KEY' } },
    models: [{ id: 'gpt-4.1', price, targets: [{ upstream, model: 'gpt-4.1' }] }]
  })
  writeFileSync(modelsFile, models({ input_per_1m: 2, output_per_1m: 8 }, 'default'))
  const redis = await startRedis(t)
  const replicas = await startGateways(t, {
    UPSTREAM_BASE_URL: `${held.url}/v1`,
    NEXT_API_KEY: 'sk-next-upstream',
    MODELS_FILE: modelsFile,
    GATEWAY_KEYS: `k:${hashKey(KEY)}`,
    REDIS_URL: redis.url,
    STREAM_PING_INTERVAL_MS: '0'
  })
  const before = await Promise.all(replicas.map(configInfo))
  t.equal(new Set(before.map((i) => i?.models_hash)).size, 1, 'the replicas start on the same models')

  // 50 streams, spread over the replicas, each held by the upstream after its first chunk.
  const streams = Array.from({ length: STREAMS }, async (_, i) => {
    const r = replicas[i % 3] as Replica
    const res = await fetch(`${r.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(chatBody({ stream: true })) })
    return { status: res.status, text: await res.text() }
  })
  t.ok(await waitFor(() => held.held() === STREAMS, 30_000, 50), `${STREAMS} streams in flight`)

  writeFileSync(modelsFile, models({ input_per_1m: 4, output_per_1m: 16 }, 'next'))
  for (const r of replicas) process.kill(r.pid, 'SIGHUP')
  const changed = async (): Promise<boolean> => {
    const now = await Promise.all(replicas.map(configInfo))
    return new Set(now.map((i) => i?.models_hash)).size === 1 && now[0]?.models_hash !== before[0]?.models_hash
  }
  t.ok(await waitFor(changed, 15_000, 100), 'config_info: every replica shows the same new models hash')
  const after = await Promise.all(replicas.map(configInfo))
  t.equal(after[0]?.keys_hash, before[0]?.keys_hash, 'the keys did not change')

  // New requests take the new target and the new price: 3 prompt + 5 completion tokens at 4 / 16 USD per 1M.
  for (let i = 0; i < 6; i++) {
    const res = await postJson(`${(replicas[i % 3] as Replica).url}/v1/chat/completions`, KEY, chatBody())
    t.equal(res.status, 200, `new request ${i} served`)
  }
  const mockStats = await (await fetch(`${mock.url}/_mock/stats`)).json() as { requests: number }
  t.equal(mockStats.requests, 6, 'new requests went to the new target')
  t.equal(held.requests(), STREAMS, 'and none to the old one')

  held.release()
  const results = await Promise.all(streams)
  t.equal(results.filter((r) => r.status === 200 && r.text.includes('data: [DONE]') && !r.text.includes('"error"')).length, STREAMS, 'every stream in flight completed')
  // The streams keep the price they started with: 10 × 2 + 4 × 8 µUSD each; the new requests 3 × 4 + 5 × 16.
  const want = (STREAMS * (10 * 2 + 4 * 8) + 6 * (3 * 4 + 5 * 16)) / 1e6
  const cost = async (): Promise<number> => {
    let sum = 0
    for (const r of replicas) sum += await scrapedValue(r.metricsUrl, 'llm_gateway_cost_usd_total')
    return sum
  }
  t.ok(await waitFor(async () => Math.abs(await cost() - want) < 1e-9, 10_000, 100), `cost ${want} USD: old price for the streams, new price for new requests`)

  // A broken file is refused, logged, and changes nothing.
  writeFileSync(modelsFile, '{"models": [')
  process.kill((replicas[0] as Replica).pid, 'SIGHUP')
  t.ok(await waitFor(() => (replicas[0] as Replica).output().includes('models NOT reloaded'), 10_000), 'the broken file is reported')
  t.same(await configInfo(replicas[0] as Replica), after[0], 'config_info unchanged')
  t.equal((await postJson(`${(replicas[0] as Replica).url}/v1/chat/completions`, KEY, chatBody())).status, 200, 'still serving')
})
