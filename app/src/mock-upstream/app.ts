// Builds the mock upstream: routing, auth, knobs and faults per request, control routes, stats.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { DEFAULT_OPTIONS, MockConfigError, mergeConfig, parseConfig, type MockConfigInput, type MockOptions } from './config.js'
import { Exchange } from './exchange.js'
import { faultApplies, faultStatus, statusFaultError, type ErrorSpec } from './faults.js'
import { chatCompletions, completions, embeddings, models, type Handler, type SendMode } from './handlers.js'
import { StatsRecorder, type MockStats, type RecentRequest } from './stats.js'

export type { MockOptions, MockConfigInput, MockKnobs, Fault } from './config.js'
export type { MockStats, RecentRequest } from './stats.js'

export interface MockUpstream {
  server: Server
  /** Listens on `port` (default 0: any free one) and `host` (default 127.0.0.1). */
  listen: (port?: number, host?: string) => Promise<{ port: number, url: string }>
  /** Stops listening and destroys every open connection, hung requests included. */
  close: () => Promise<void>
  stats: () => MockStats
  /** Restores the startup config and zeroes the stats. */
  reset: () => void
  /** Merges knobs into the current config; throws MockConfigError on a bad value. */
  setConfig: (partial: MockConfigInput) => void
  /** The current config (a copy). */
  config: () => MockOptions
}

const ROUTES: Record<string, Handler> = {
  'POST /v1/chat/completions': chatCompletions,
  'POST /v1/completions': completions,
  'POST /v1/embeddings': embeddings,
  'GET /v1/models': models
}

const MAX_BODY_BYTES = 64 * 1024 * 1024
const noop = (): void => {}

function badRequest (message: string, param: string | null = null): ErrorSpec {
  return { status: 400, type: 'invalid_request_error', param, code: null, message }
}

export function createMockUpstream (options: MockConfigInput = {}): MockUpstream {
  const startup = mergeConfig(DEFAULT_OPTIONS, parseConfig(options))
  let config = { ...startup }
  const stats = new StatsRecorder()
  let requestSeq = 0
  // counts requests that had a fault configured, for the fault_rate pattern
  let faultSeq = 0

  const setConfig = (partial: MockConfigInput): void => {
    config = mergeConfig(config, parseConfig(partial))
    faultSeq = 0
  }
  const reset = (): void => {
    config = { ...startup }
    faultSeq = 0
    stats.reset()
  }

  function readBody (ex: Exchange, then: (body: Record<string, unknown>) => void): void {
    const chunks: Buffer[] = []
    let size = 0
    ex.req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size <= MAX_BODY_BYTES) chunks.push(chunk)
    })
    ex.req.on('end', () => {
      if (size > MAX_BODY_BYTES) {
        ex.sendError({ status: 413, type: 'invalid_request_error', param: null, code: 'request_too_large', message: 'Request body too large.' })
        return
      }
      let body: unknown
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      } catch {
        ex.sendError(badRequest('We could not parse the JSON body of your request. (HINT: This likely means you aren\'t using your HTTP library correctly. The OpenAI API expects a JSON payload.)'))
        return
      }
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        ex.sendError(badRequest('The request body must be a JSON object.'))
        return
      }
      then(body as Record<string, unknown>)
    })
  }

  function control (ex: Exchange, method: string, path: string): void {
    const reply = (value: unknown): void => ex.sendJson(200, JSON.stringify(value))
    if (method === 'GET' && path === '/_mock/stats') return reply(stats.snapshot())
    if (method === 'GET' && path === '/_mock/config') return reply(config)
    if (method === 'POST' && path === '/_mock/reset') {
      ex.req.resume()
      reset()
      return reply(config)
    }
    if (method === 'POST' && path === '/_mock/config') {
      return readBody(ex, (body) => {
        try {
          setConfig(body)
        } catch (err) {
          if (!(err instanceof MockConfigError)) throw err
          return ex.sendError(badRequest(err.message, err.key))
        }
        reply(config)
      })
    }
    ex.sendError({ status: 404, type: 'invalid_request_error', message: `Invalid URL (${method} ${path})` })
  }

  function authError (ex: Exchange, apiKey: string): ErrorSpec | undefined {
    const auth = ex.req.headers.authorization
    if (auth === `Bearer ${apiKey}`) return undefined
    if (auth === undefined || auth === '') {
      return { status: 401, type: 'invalid_request_error', code: null, message: "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)." }
    }
    return statusFaultError(401, { model: '', apiKey: auth.replace(/^Bearer\s+/i, '') })
  }

  function serve (ex: Exchange, entry: RecentRequest, handler: Handler, body: Record<string, unknown>): void {
    let knobs = config
    if (body.mock !== undefined) {
      entry.body_mock = body.mock
      try {
        knobs = mergeConfig(config, parseConfig(body.mock, 'mock.'))
      } catch (err) {
        if (!(err instanceof MockConfigError)) throw err
        return ex.sendError(badRequest(err.message, err.key))
      }
    }
    entry.stream = body.stream === true
    if (typeof body.model === 'string') entry.model = body.model
    let fault = knobs.fault
    if (fault !== 'none' && !faultApplies(faultSeq++, knobs.fault_rate)) fault = 'none'
    if (fault !== 'none') entry.fault = fault

    ex.later(knobs.latency_ms, () => {
      if (fault === 'hang') return
      if (fault === 'reset') return ex.destroy()
      const status = faultStatus(fault)
      if (status !== undefined) {
        const auth = ex.req.headers.authorization ?? ''
        const spec = statusFaultError(status, { model: entry.model ?? '', apiKey: auth.replace(/^Bearer\s+/i, '') }, knobs.fault_status_body)
        const extra = status === 429
          ? { 'retry-after': String(knobs.retry_after), 'retry-after-ms': String(knobs.retry_after * 1000) }
          : {}
        return ex.sendError(spec, extra)
      }
      const mode: SendMode = fault === 'cut' || fault === 'stall' || fault === 'invalid_json' ? fault : 'normal'
      const invalid = handler({
        ex,
        body,
        knobs,
        mode,
        recordUsage: (u) => stats.usage(u.prompt_tokens, u.completion_tokens)
      })
      if (invalid !== undefined) ex.sendError(invalid)
    })
  }

  function onRequest (req: IncomingMessage, res: ServerResponse): void {
    req.on('error', noop)
    res.on('error', noop)
    const ex = new Exchange(++requestSeq, req, res)
    const method = req.method ?? 'GET'
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)

    if (path === '/healthz') {
      res.on('close', () => ex.onClosed())
      return ex.sendJson(200, '{"status":"ok"}')
    }
    if (path.startsWith('/_mock/')) {
      res.on('close', () => ex.onClosed())
      return control(ex, method, path)
    }

    const entry: RecentRequest = { path, method, headers: req.headers, stream: false, aborted: false, completed: false }
    stats.begin(entry)
    res.on('close', () => {
      ex.onClosed()
      if (res.headersSent) entry.status = res.statusCode
      stats.end(entry, res.writableFinished ? 'completed' : ex.destroyedByMock ? 'destroyed' : 'aborted')
    })

    const handler = ROUTES[`${method} ${path}`]
    if (handler === undefined) {
      req.resume()
      return ex.sendError({ status: 404, type: 'invalid_request_error', message: `Invalid URL (${method} ${path})` })
    }
    if (config.api_key !== undefined) {
      const denied = authError(ex, config.api_key)
      if (denied !== undefined) {
        req.resume()
        return ex.sendError(denied)
      }
    }
    if (method === 'GET') {
      req.resume()
      return serve(ex, entry, handler, {})
    }
    readBody(ex, (body) => serve(ex, entry, handler, body))
  }

  const server = createServer({ keepAlive: true }, onRequest)
  // longer than common client pools keep idle sockets, so benchmarks reuse connections
  server.keepAliveTimeout = 65_000
  server.headersTimeout = 66_000

  return {
    server,
    listen: async (port = 0, host = '127.0.0.1') => {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, host, () => {
          server.off('error', reject)
          resolve()
        })
      })
      const bound = (server.address() as AddressInfo).port
      const shown = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host
      return { port: bound, url: `http://${shown}:${bound}` }
    },
    close: async () => {
      if (!server.listening) return
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
    },
    stats: () => stats.snapshot(),
    reset,
    setConfig,
    config: () => ({ ...config, models: [...config.models] })
  }
}
