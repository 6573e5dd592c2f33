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

/** How long a connection accepted just before shutdown gets to deliver its request. */
const CONNECTION_SETTLE_MS = 500

/**
 * Closes the listening socket only. `http.Server#close` would also close every idle connection at
 * once; this resolves when the last open connection has ended.
 */
async function stopAccepting (server: Server): Promise<void> {
  await new Promise<void>((resolve) => { NetServer.prototype.close.call(server, () => { resolve() }) })
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
    // Drain: /readyz fails and every response closes its connection, while the listener stays open.
    // Behind nginx this runs longer than nginx's upstream keepalive_timeout, so by the end nginx
    // holds no idle connection to this replica that a close could race with a new request.
    if (config.shutdownDrainMs > 0) await sleep(config.shutdownDrainMs)
    // In-flight streams get the grace period; after it they end with an SSE error event.
    const grace = setTimeout(() => { app.relay.abortAll() }, config.shutdownGraceMs)
    grace.unref()
    // Stop accepting, but keep the open connections: one accepted a moment ago has its request on
    // the way, and closing it as idle would fail that request (nginx never re-sends a POST). A new
    // connection attempt is refused, which nginx does retry on another replica.
    const connectionsClosed = stopAccepting(app.server)
    await sleep(CONNECTION_SETTLE_MS)
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
