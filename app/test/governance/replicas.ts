// Replicas for the governance tests: mock upstreams shared by every replica, and several in-process
// gateways on the same Redis, mocks and keys (as three containers would be).
import type { Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LightMyRequestResponse } from 'fastify'
import { hashKey } from '../../src/lib/keys.js'
import { createMockUpstream, type MockConfigInput, type MockUpstream } from '../../src/mock-upstream/app.js'
import { UPSTREAM_KEY, declareUpstreams, startTestGateway, upstreamNamed, type ModelEntry, type TestGateway } from '../support/gateway.js'

export interface ReplicaSet {
  gateways: TestGateway[]
  /** a mock upstream by name ("default" is UPSTREAM_BASE_URL), shared by every replica */
  upstream: (name: string) => MockUpstream
  /** plaintext keys by id */
  keys: Record<string, string>
  /** POST JSON through replica `i` with key `keyId` */
  post: (i: number, url: string, body: unknown, opts?: { key?: string, headers?: Record<string, string> }) => Promise<LightMyRequestResponse>
}

export interface ReplicaOptions {
  replicas?: number
  /** undefined: no REDIS_URL (each replica on its own) */
  redisUrl: string | undefined
  /** key id → options after the hash (e.g. "cache=on"); the plaintext keys are made up here */
  keys: Record<string, string>
  /** extra upstreams by name, with their mock knobs */
  upstreams?: Record<string, MockConfigInput>
  /** models added to the shipped ones (an entry with a shipped id replaces it) */
  models?: ModelEntry[]
  mock?: MockConfigInput
  env?: Record<string, string>
}

export async function startReplicas (t: Test, opts: ReplicaOptions): Promise<ReplicaSet> {
  const mocks: Record<string, MockUpstream> = {}
  const dir = mkdtempSync(join(tmpdir(), 'gw-governance-'))
  t.teardown(async () => {
    await Promise.all(Object.values(mocks).map(async (m) => { await m.close() }))
    rmSync(dir, { recursive: true, force: true })
  })
  const env: Record<string, string> = { LOG_LEVEL: 'info', ...opts.env }
  mocks.default = createMockUpstream({ api_key: UPSTREAM_KEY, ...opts.mock })
  env.UPSTREAM_BASE_URL = `${(await mocks.default.listen(0, '127.0.0.1')).url}/v1`
  env.UPSTREAM_API_KEY = UPSTREAM_KEY
  Object.assign(env, await declareUpstreams(dir, opts.upstreams ?? {}, opts.models ?? [], mocks))
  const keys: Record<string, string> = {}
  env.GATEWAY_KEYS = Object.entries(opts.keys).map(([id, options]) => {
    keys[id] = `sk-gw-${id}-${Math.random().toString(36).slice(2)}-governance`
    return `${id}:${hashKey(keys[id])} ${options}`.trim()
  }).join(',')
  if (opts.redisUrl !== undefined) env.REDIS_URL = opts.redisUrl
  const gateways: TestGateway[] = []
  for (let i = 0; i < (opts.replicas ?? 3); i++) {
    // Each replica brings its own unused default mock; UPSTREAM_BASE_URL points them all at ours.
    const gw = await startTestGateway({ env })
    t.teardown(async () => { await gw.close() })
    gateways.push(gw)
  }
  const first = Object.keys(opts.keys)[0] as string
  return {
    gateways,
    keys,
    upstream: upstreamNamed(mocks),
    post: async (i, url, body, o = {}) => await (gateways[i % gateways.length] as TestGateway).app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${keys[o.key ?? first] ?? ''}`, ...o.headers },
      payload: JSON.stringify(body)
    })
  }
}

/** Requests the mock received on a path (stats.by_path). */
export function upstreamCalls (mock: MockUpstream, path = '/v1/chat/completions'): number {
  return mock.stats().by_path[path] ?? 0
}
