// Builds a gateway (buildApp) in front of an in-process mock upstream, and tears both down.
import type { FastifyInstance } from 'fastify'
import { Writable } from 'node:stream'
import pino from 'pino'
import { buildApp } from '../../src/app.js'
import { loadConfig, type Config } from '../../src/config.js'
import { generateKey, hashKey } from '../../src/lib/keys.js'
import { createMockUpstream, type MockConfigInput, type MockUpstream } from '../../src/mock-upstream/app.js'

export const UPSTREAM_KEY = 'sk-upstream-SECRET-0123456789abcdef'

export interface TestGateway {
  app: FastifyInstance
  mock: MockUpstream
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
  mock?: MockConfigInput
  /** leave the upstream unstarted and point at a closed port */
  upstreamDown?: boolean
}

export async function startTestGateway (opts: TestGatewayOptions = {}): Promise<TestGateway> {
  const mock = createMockUpstream({ api_key: UPSTREAM_KEY, ...opts.mock })
  const { url } = await mock.listen(0, '127.0.0.1')
  let upstreamUrl = url
  if (opts.upstreamDown === true) {
    await mock.close()
    upstreamUrl = url // the port is closed now: connection refused
  }
  const keys = { main: generateKey(), limited: generateKey(), 'embed-only': generateKey() }
  const config = loadConfig({
    UPSTREAM_BASE_URL: `${upstreamUrl}/v1`,
    UPSTREAM_API_KEY: UPSTREAM_KEY,
    GATEWAY_KEYS: [
      `main:${hashKey(keys.main)}`,
      `limited:${hashKey(keys.limited)} rpm=3`,
      `embed-only:${hashKey(keys['embed-only'])} models=text-embedding-3-small`
    ].join(','),
    LOG_LEVEL: 'info',
    STREAM_PING_INTERVAL_MS: '0',
    ...opts.env
  })
  let logText = ''
  const sink = new Writable({ write (chunk: Buffer, _enc, cb) { logText += chunk.toString(); cb() } })
  const app = await buildApp(config, { loggerInstance: pino({ level: config.logLevel }, sink) })
  return {
    app,
    mock,
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
      if (opts.upstreamDown !== true) await mock.close()
    }
  }
}

export function chatBody (extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: 'gpt-4.1', messages: [{ role: 'user', content: 'hello there gateway' }], ...extra }
}

/** Reads one metric sample value from the app's registry (0 when the series does not exist). */
export async function metricValue (app: FastifyInstance, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = app.metrics.registry.getSingleMetric(name)
  if (metric === undefined) throw new Error(`no metric ${name}`)
  const { values } = await metric.get()
  let sum = 0
  for (const v of values as Array<{ value: number, labels: object, metricName?: string }>) {
    if (v.metricName !== undefined && v.metricName !== name) continue
    if (Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want)) sum += v.value
  }
  return sum
}
