// Builds the mock upstream: routing, auth, knobs and faults per request, control routes, stats.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { authError, header, presentedKey } from './auth.js'
import { badRequest, digestBody, readJson, readMultipart } from './body.js'
import { DEFAULT_OPTIONS, MockConfigError, mergeConfig, parseConfig, type MockConfigInput, type MockOptions } from './config.js'
import { Exchange } from './exchange.js'
import { faultApplies, faultStatus, statusFaultError } from './faults.js'
import type { FilePart } from './multipart.js'
import { ResponseStore } from './response-store.js'
import type { SendMode } from './route.js'
import { errorFormatOf, findRoute, type Route } from './routes.js'
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

const noop = (): void => {}

export function createMockUpstream (options: MockConfigInput = {}): MockUpstream {
  const startup = mergeConfig(DEFAULT_OPTIONS, parseConfig(options))
  let config = { ...startup }
  const stats = new StatsRecorder()
  const store = new ResponseStore()
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
    store.clear()
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
      return readJson(ex, (body) => {
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

  function serve (ex: Exchange, entry: RecentRequest, route: Route, id: string, body: Record<string, unknown>, files: FilePart[] = []): void {
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
        const apiKey = presentedKey(ex.req, ex.format === 'anthropic') ?? ''
        const spec = statusFaultError(status, { model: entry.model ?? '', apiKey }, knobs.fault_status_body)
        const extra = status === 429
          ? { 'retry-after': String(knobs.retry_after), 'retry-after-ms': String(knobs.retry_after * 1000) }
          : {}
        return ex.sendError(spec, extra)
      }
      const mode: SendMode = fault === 'cut' || fault === 'stall' || fault === 'invalid_json' ? fault : 'normal'
      const invalid = route.handler({
        ex,
        body,
        files,
        id,
        query: new URL(ex.req.url ?? '/', 'http://mock').searchParams,
        knobs,
        mode,
        entry,
        store,
        recordUsage: (u) => stats.usage(u)
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

    digestBody(req, entry)
    ex.format = errorFormatOf(path)
    const found = findRoute(method, path)
    if (found === undefined) {
      req.resume()
      return ex.sendError({ status: 404, type: 'invalid_request_error', message: `Invalid URL (${method} ${path})` })
    }
    if (config.api_key !== undefined) {
      const denied = authError(req, ex.format, config.api_key)
      if (denied !== undefined) {
        req.resume()
        return ex.sendError(denied)
      }
    }
    if (ex.format === 'anthropic') {
      entry.anthropic_version = header(req, 'anthropic-version')
      entry.anthropic_beta = header(req, 'anthropic-beta')
      if (entry.anthropic_version === undefined) {
        req.resume()
        return ex.sendError(badRequest('anthropic-version: header is required'))
      }
    }
    const { route, id } = found
    switch (route.body) {
      case 'none':
        req.resume()
        return serve(ex, entry, route, id, {})
      case 'json':
        return readJson(ex, (body) => serve(ex, entry, route, id, body))
      case 'multipart':
        return readMultipart(ex, ({ fields, files }) => {
          entry.fields = fields
          entry.files = files
          const body: Record<string, unknown> = { ...fields }
          if (fields.stream !== undefined) body.stream = fields.stream === 'true'
          if (fields.mock !== undefined) {
            try {
              body.mock = JSON.parse(fields.mock)
            } catch {
              return ex.sendError(badRequest('mock must be a JSON object', 'mock'))
            }
          }
          serve(ex, entry, route, id, body, files)
        })
    }
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
