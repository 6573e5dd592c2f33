// The only file that listens: API and metrics ports, signals, graceful shutdown.
import { createServer, type Server } from 'node:http'
import { Server as NetServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import closeWithGrace from 'close-with-grace'
import pino from 'pino'
import { buildApp, loggerOptions } from './app.js'
import { IdleReclaim, lowMemoryCollector } from './lib/idle-reclaim.js'
import { ConfigError, loadConfig, type Config } from './config.js'
import { ConfigReloader } from './lib/config-reload.js'
import { adminApi, type AdminApi } from './routes/admin.js'

/** The internal port: /metrics, and the admin API under /admin/ (never published through nginx). */
function metricsServer (app: Awaited<ReturnType<typeof buildApp>>, admin: AdminApi): Server {
  return createServer((req, res) => {
    if (admin.handle(req, res)) return
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      return
    }
    app.metrics.registry.metrics().then((body) => {
      res.writeHead(200, { 'content-type': app.metrics.registry.contentType }).end(body)
    }, (err: Error) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err.message}\n`)
    })
  })
}

/** How long a connection accepted just before the listener closed gets to deliver its request. */
const CONNECTION_SETTLE_MS = 500
/** The listener closes once no connection has arrived for this long (bounded by CLOSE_WITHIN_MS). */
const QUIET_MS = 20
const CLOSE_WITHIN_MS = 1000

/**
 * Closes the listening socket only (`http.Server#close` would also close every idle connection at
 * once) and resolves when the last open connection has ended. Closing resets every connection still
 * in the kernel's accept queue, into which nginx has already written its request (and it never
 * re-sends a POST). So it closes in a quiet moment, with no connection arriving for QUIET_MS, and
 * only after the event loop's next poll phase has accepted what was queued (setImmediate runs
 * right after it; a timer, where this starts, runs before it). Resolves once the listener is
 * closed, with the promise of the last connection's end.
 */
async function stopAccepting (server: Server): Promise<{ ended: Promise<void> }> {
  let last = performance.now()
  const arrived = (): void => { last = performance.now() }
  server.on('connection', arrived)
  const until = last + CLOSE_WITHIN_MS
  while (performance.now() - last < QUIET_MS && performance.now() < until) await sleep(5)
  server.off('connection', arrived)
  await new Promise<void>((resolve) => { setImmediate(resolve) })
  return { ended: new Promise<void>((resolve) => { NetServer.prototype.close.call(server, () => { resolve() }) }) }
}

async function main (): Promise<void> {
  let config: Config
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`llm-gateway: ${err.message}\n`)
      process.exit(2)
    }
    throw err
  }
  // Asynchronous writes: under load many log lines share one write instead of one syscall each.
  const destination = pino.destination({ dest: 1, sync: false })
  const logger = pino(loggerOptions(config), destination)
  const app = await buildApp(config, { loggerInstance: logger })
  const admin = adminApi(app, config.adminTokenFile)
  const metrics = metricsServer(app, admin)
  if (config.upstreams[0]?.apiKey === '') app.log.warn('UPSTREAM_API_KEY is empty: requests go to the upstream without a key')

  // SIGHUP reloads the keys (GATEWAY_KEYS_FILE), the models file (models, prices, targets) and the
  // admin token instead of stopping.
  const reloader = new ConfigReloader(app)
  process.on('SIGHUP', () => {
    reloader.reload()
    const problem = admin.reloadToken()
    if (problem !== undefined) app.log.error({ problem }, 'admin token NOT reloaded: the previous one stays in use')
  })
  closeWithGrace({ delay: config.shutdownDrainMs + config.shutdownGraceMs + 10_000, logger: false, skip: ['SIGHUP'] }, async ({ signal, err }) => {
    if (err !== undefined) app.log.error({ err: { message: err.message, stack: err.stack } }, 'fatal error, shutting down')
    app.log.info({ signal, in_flight: app.relay.inFlight }, 'shutting down: no new requests, waiting for in-flight ones')
    app.shuttingDown = true
    // /readyz fails now. The listener closes at once (in a quiet moment): new connections are refused,
    // which nginx retries on another replica, since nothing was sent. Open keep-alive connections are
    // still served, and from now on each response closes its connection (request-context), so a
    // busy connection ends after its next answer. nginx closes its idle ones itself after its
    // upstream keepalive_timeout, shorter than the drain, so by the end none is left that a close
    // could race with a request nginx is writing into it.
    const { ended: connectionsClosed } = await stopAccepting(app.server)
    app.closingConnections = true
    await sleep(Math.max(config.shutdownDrainMs, CONNECTION_SETTLE_MS))
    // In-flight streams get the grace period; after it they end with an SSE error event.
    const grace = setTimeout(() => { app.relay.abortAll() }, config.shutdownGraceMs)
    grace.unref()
    // Keep-alive connections whose stream just ended would stay open until their idle timeout.
    const sweep = setInterval(() => { app.server.closeIdleConnections() }, 100)
    sweep.unref()
    app.server.closeIdleConnections()
    await connectionsClosed
    await app.close()
    clearTimeout(grace)
    clearInterval(sweep)
    await new Promise<void>((resolve) => metrics.close(() => resolve()))
    app.log.info('shut down cleanly')
    destination.flushSync()
  })

  if (config.idleReclaim) {
    const reclaim = new IdleReclaim({
      inFlight: () => app.relay.inFlight,
      started: () => app.relay.started,
      rss: () => process.memoryUsage.rss(),
      collect: lowMemoryCollector(),
      onReclaim: (before, after, ms) => {
        app.log.info({ rss_before_mb: Math.round(before / 2 ** 20), rss_after_mb: Math.round(after / 2 ** 20), gc_ms: Math.round(ms) }, 'idle after a burst: memory given back')
      }
    })
    setInterval(() => { reclaim.tick(performance.now()) }, 1000).unref()
  }

  // Start-up (compiling every module, building the app) grows V8's heap well past what an idle
  // replica holds; one low-memory collection before listening gives that back (bench/README.md).
  if (config.idleReclaim) await lowMemoryCollector()()
  await app.listen({ port: config.port, host: config.host })
  await new Promise<void>((resolve, reject) => {
    metrics.once('error', reject)
    metrics.listen(config.metricsPort, config.metricsHost, () => resolve())
  })
  app.log.info({ port: config.port, metrics_port: config.metricsPort, upstream: config.upstreams[0]?.origin, keys: config.keys.length, models: config.catalog.models.length }, 'gateway ready')
}

main().catch((err: Error) => {
  process.stderr.write(`llm-gateway: failed to start: ${err.message}\n`)
  process.exit(1)
})
