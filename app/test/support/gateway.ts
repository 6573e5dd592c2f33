// Builds a gateway (buildApp) in front of in-process mock upstreams (one, or several named ones
// declared in a models file), and tears them all down.
import type { FastifyInstance } from 'fastify'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import pino from 'pino'
import { buildApp } from '../../src/app.js'
import { DEFAULT_MODELS_FILE, loadConfig, type Config } from '../../src/config.js'
import { generateKey, hashKey } from '../../src/lib/keys.js'
import { createMockUpstream, type MockConfigInput, type MockUpstream } from '../../src/mock-upstream/app.js'

export { metricValue } from './metrics.js'

export const UPSTREAM_KEY = 'sk-upstream-SECRET-0123456789abcdef'

/** The key the gateway holds for upstream `name` (each mock accepts only its own). */
export function upstreamKey (name: string): string {
  return name === 'default' ? UPSTREAM_KEY : `sk-upstream-${name}-SECRET-0123456789`
}

export interface TestGateway {
  app: FastifyInstance
  /** the "default" upstream (UPSTREAM_BASE_URL) */
  mock: MockUpstream
  /** an upstream by name ("default" is `mock`); throws for a name the gateway was not given */
  upstream: (name: string) => MockUpstream
  config: Config
  /** plaintext gateway keys by id: "main" (all models), "limited" (rpm=3), "embed-only" (text-embedding-3-small) */
  keys: Record<string, string>
  /** Authorization header for a key id (default "main") */
  auth: (id?: string) => { authorization: string }
  /** every log line the gateway wrote, as text */
  logs: () => string
  /** base URL once `listen()` was called */
  listen: () => Promise<string>
  close: () => Promise<void>
}

export interface TestGatewayOptions {
  env?: Record<string, string>
  /** the default upstream's knobs */
  mock?: MockConfigInput
  /** leave the default upstream unstarted and point at a closed port */
  upstreamDown?: boolean
  /** more upstreams by name, each a mock of its own with the key `upstreamKey(name)` */
  upstreams?: Record<string, MockConfigInput>
  /** models added to the shipped ones (an entry with a shipped id replaces it); targets name the upstreams */
  models?: ModelEntry[]
}

/** An entry of the models file, as a test writes it. */
export type ModelEntry = { id: string } & Record<string, unknown>

/**
 * Starts a mock for each named upstream (into `started`, so the caller closes them whatever
 * happens) and writes `dir`/models.json declaring them, with `models` added to the shipped ones
 * (an entry with a shipped id replaces it). Returns the environment that points a gateway there:
 * MODELS_FILE and each upstream's key variable.
 */
export async function declareUpstreams (dir: string, upstreams: Record<string, MockConfigInput>, models: ModelEntry[], started: Record<string, MockUpstream>): Promise<Record<string, string>> {
  const env: Record<string, string> = {}
  const declared: Record<string, { base_url: string, api_key_env: string }> = {}
  for (const [name, knobs] of Object.entries(upstreams)) {
    const mock = createMockUpstream({ api_key: upstreamKey(name), ...knobs })
    started[name] = mock
    const keyEnv = `UPSTREAM_${name.toUpperCase().replace(/-/g, '_')}_API_KEY`
    declared[name] = { base_url: `${(await mock.listen(0, '127.0.0.1')).url}/v1`, api_key_env: keyEnv }
    env[keyEnv] = upstreamKey(name)
  }
  const shipped = (JSON.parse(readFileSync(DEFAULT_MODELS_FILE, 'utf8')) as { models: ModelEntry[] }).models
  env.MODELS_FILE = join(dir, 'models.json')
  writeFileSync(env.MODELS_FILE, JSON.stringify({ upstreams: declared, models: [...shipped.filter((m) => !models.some((o) => o.id === m.id)), ...models] }))
  return env
}

/** The mock of an upstream by name; throws for a name that was not started. */
export function upstreamNamed (mocks: Record<string, MockUpstream>): (name: string) => MockUpstream {
  return (name) => {
    const m = mocks[name]
    if (m === undefined) throw new Error(`no upstream ${name}`)
    return m
  }
}

export async function startTestGateway (opts: TestGatewayOptions = {}): Promise<TestGateway> {
  const mock = createMockUpstream({ api_key: UPSTREAM_KEY, ...opts.mock })
  const { url } = await mock.listen(0, '127.0.0.1')
  if (opts.upstreamDown === true) await mock.close() // the port is closed now: connection refused
  const upstreams: Record<string, MockUpstream> = { default: mock }
  let dir: string | undefined
  const closeUpstreams = async (): Promise<void> => {
    await Promise.all(Object.entries(upstreams).map(async ([name, m]) => {
      if (name !== 'default' || opts.upstreamDown !== true) await m.close()
    }))
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  }
  const keys = { main: generateKey(), limited: generateKey(), 'embed-only': generateKey() }
  let app: FastifyInstance
  let config: Config
  let logText = ''
  try {
    let env: Record<string, string> = {}
    if (opts.upstreams !== undefined || opts.models !== undefined) {
      dir = mkdtempSync(join(tmpdir(), 'gw-test-models-'))
      env = await declareUpstreams(dir, opts.upstreams ?? {}, opts.models ?? [], upstreams)
    }
    config = loadConfig({
      UPSTREAM_BASE_URL: `${url}/v1`,
      UPSTREAM_API_KEY: UPSTREAM_KEY,
      GATEWAY_KEYS: [
        `main:${hashKey(keys.main)}`,
        `limited:${hashKey(keys.limited)} rpm=3`,
        `embed-only:${hashKey(keys['embed-only'])} models=text-embedding-3-small`
      ].join(','),
      LOG_LEVEL: 'info',
      STREAM_PING_INTERVAL_MS: '0',
      ...env,
      ...opts.env
    })
    const sink = new Writable({ write (chunk: Buffer, _enc, cb) { logText += chunk.toString(); cb() } })
    app = await buildApp(config, { loggerInstance: pino({ level: config.logLevel }, sink) })
  } catch (err) {
    // The caller never gets a handle to close: what was opened closes here.
    await closeUpstreams()
    throw err
  }
  return {
    app,
    mock,
    upstream: upstreamNamed(upstreams),
    config,
    keys,
    auth: (id = 'main') => ({ authorization: `Bearer ${keys[id as keyof typeof keys]}` }),
    logs: () => logText,
    listen: async () => {
      await app.listen({ port: 0, host: '127.0.0.1' })
      const addr = app.server.address()
      return `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`
    },
    close: async () => {
      await app.close()
      await closeUpstreams()
    }
  }
}

export function chatBody (extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: 'gpt-4.1', messages: [{ role: 'user', content: 'hello there gateway' }], ...extra }
}

/** The mock's completion text for `n` chunks ("tok0 tok1 …"). */
export function mockText (n: number): string {
  return Array.from({ length: n }, (_, i) => `tok${i}`).join(' ')
}
