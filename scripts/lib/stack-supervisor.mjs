// @ts-check
// The native stack's supervisor: allocates loopback ports, starts every component in dependency
// order (each must pass its readiness probe in time or the whole start fails and is undone),
// restarts any that dies, reloads nginx on SIGHUP and stops everything on SIGTERM.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import { childPids, freePorts, httpOk, pidAlive, redisPing, waitUntil } from './procs.mjs'
import { Supervised } from './supervised.mjs'
import { renderNativeNginx, writePrometheusConfig, writeRedisConfig } from './stack-configs.mjs'
import { writeJsonAtomic } from './stack-files.mjs'

/** @typedef {import('./stack-files.mjs').StackOptions} StackOptions */
/** @typedef {import('./stack-files.mjs').StackState} StackState */

/** @param {string} msg */
const log = (msg) => process.stdout.write(`${new Date().toISOString()} ${msg}\n`)

/**
 * @param {string} dir
 * @param {{ repoDir: string, appDir: string }} where
 */
export async function supervise (dir, { repoDir, appDir }) {
  /** @type {StackOptions} */
  const options = JSON.parse(readFileSync(join(dir, 'options.json'), 'utf8'))
  // Credentials given with --env/--mock-env arrive in this process's environment, never in a file.
  const secrets = JSON.parse(process.env.STACK_NATIVE_SECRET_ENV ?? '{}')
  delete process.env.STACK_NATIVE_SECRET_ENV
  Object.assign(options.gatewayEnv, secrets.gateway ?? {})
  Object.assign(options.mockEnv, secrets.mock ?? {})
  const statePath = join(dir, 'state.json')
  const logs = join(dir, 'logs')
  const n = options.replicas
  const timeoutMs = options.timeoutMs
  const baseEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? dir, LANG: 'C.UTF-8' }

  const ports = await freePorts(6 + 2 * n)
  const [redisPort, mockPort, httpPort, httpsPort, statusPort, promPort] = /** @type {[number, number, number, number, number, number]} */ (ports.slice(0, 6))
  const gatewayPorts = ports.slice(6, 6 + n)
  const metricsPorts = ports.slice(6 + n)
  const upstreamKey = 'sk-mock-' + Math.random().toString(36).slice(2) + Date.now().toString(36)

  /** @type {StackState} */
  const state = {
    status: 'starting',
    dir,
    supervisorPid: process.pid,
    startedAt: new Date().toISOString(),
    ca: join(dir, 'certs', 'ca.crt'),
    options: { replicas: n, rpm: Number(options.rpm), bodyLimit: Number(options.bodyLimit), corsOrigins: options.corsOrigins, edge: options.edge },
    redis: { pid: null, port: redisPort, url: `redis://127.0.0.1:${redisPort}` },
    // The mock's key stays in this process: state.json is read by tools and tests.
    mock: { pid: null, port: mockPort, url: `http://127.0.0.1:${mockPort}` },
    gateways: gatewayPorts.map((port, i) => ({
      index: i + 1,
      pid: null,
      restarts: 0,
      port,
      url: `http://127.0.0.1:${port}`,
      metricsPort: /** @type {number} */ (metricsPorts[i]),
      metricsUrl: `http://127.0.0.1:${metricsPorts[i]}/metrics`,
      log: join(logs, `gateway-${i + 1}.log`)
    })),
    nginx: {
      pid: null,
      generation: 0,
      httpPort,
      httpsPort,
      statusPort,
      httpUrl: `http://127.0.0.1:${httpPort}`,
      httpsUrl: `https://127.0.0.1:${httpsPort}`,
      statusUrl: `http://127.0.0.1:${statusPort}`,
      conf: join(dir, 'nginx', 'conf', 'nginx.conf'),
      prefix: join(dir, 'nginx') + '/',
      acmeRoot: join(dir, 'acme'),
      accessLog: join(logs, 'nginx-access.log'),
      errorLog: join(logs, 'nginx.log')
    },
    prometheus: options.prometheus ? { pid: null, port: promPort, url: `http://127.0.0.1:${promPort}` } : null,
    keys: options.keys.map(({ id, key, options: opts }) => ({ id, key, options: opts }))
  }
  const publish = () => writeJsonAtomic(statePath, state)
  publish()

  // Started in this order, stopped in reverse: edge first, so no new requests arrive while the
  // replicas drain (all replicas of a stage stop together).
  /** @type {Supervised[][]} */
  const stages = []
  let stopping = false

  async function stopAll () {
    for (const stage of [...stages].reverse()) {
      await Promise.all(stage.map(async (svc) => await svc.stop('SIGTERM', 15000).catch(() => {})))
    }
  }

  /**
   * @param {number} code
   * @param {string} reason
   */
  const shutdown = async (code, reason) => {
    if (stopping) return
    stopping = true
    log(`stopping (${reason})`)
    await stopAll()
    state.status = code === 0 ? 'stopped' : 'failed'
    publish()
    log('stopped')
    process.exit(code)
  }
  process.on('SIGTERM', () => { shutdown(0, 'SIGTERM') })
  process.on('SIGINT', () => { shutdown(0, 'SIGINT') })

  // A test that dies without running `down` must not leave the stack behind.
  const ownerPid = options.ownerPid
  if (ownerPid !== undefined) {
    const watch = setInterval(() => {
      if (!pidAlive(ownerPid)) {
        clearInterval(watch)
        shutdown(0, `owner pid ${ownerPid} exited`)
      }
    }, 1000)
  }

  // --- certificates ---------------------------------------------------------------------------
  execFileSync(join(repoDir, 'scripts', 'certs.sh'), [], {
    env: { ...baseEnv, CERTS_DIR: join(dir, 'certs'), CERTS_OWNER: '', SERVER_NAME: 'localhost' },
    stdio: ['ignore', 'inherit', 'inherit']
  })

  // --- redis ----------------------------------------------------------------------------------
  const redisConf = writeRedisConfig(join(dir, 'redis'), redisPort)
  const redis = new Supervised({
    name: 'redis',
    command: 'redis-server',
    args: [redisConf],
    env: baseEnv,
    cwd: dir,
    logFile: join(logs, 'redis.log'),
    ready: () => redisPing(redisPort),
    onChange: () => { state.redis.pid = redis.pid; publish() },
    log
  })

  // --- mock upstream --------------------------------------------------------------------------
  const mock = new Supervised({
    name: 'mock-upstream',
    command: process.execPath,
    args: [join(appDir, 'dist', 'mock-upstream', 'server.js')],
    env: { ...baseEnv, MOCK_PORT: String(mockPort), MOCK_HOST: '127.0.0.1', MOCK_API_KEY: upstreamKey, ...options.mockEnv },
    cwd: appDir,
    logFile: join(logs, 'mock-upstream.log'),
    ready: () => httpOk(`${state.mock.url}/healthz`),
    onChange: () => { state.mock.pid = mock.pid; publish() },
    log
  })

  // --- gateways -------------------------------------------------------------------------------
  const gateways = state.gateways.map((g) => {
    const svc = new Supervised({
      name: `gateway-${g.index}`,
      command: process.execPath,
      args: [join(appDir, 'dist', 'server.js')],
      env: {
        ...baseEnv,
        PORT: String(g.port),
        HOST: '127.0.0.1',
        METRICS_PORT: String(g.metricsPort),
        METRICS_HOST: '127.0.0.1',
        UPSTREAM_BASE_URL: `${state.mock.url}/v1`,
        UPSTREAM_API_KEY: upstreamKey,
        GATEWAY_KEYS: options.keys.map((k) => k.entry).join(','),
        REDIS_URL: state.redis.url,
        RATE_LIMIT_RPM: String(options.rpm),
        BODY_LIMIT_BYTES: String(options.bodyLimit),
        CORS_ORIGINS: options.corsOrigins,
        LOG_LEVEL: options.logLevel,
        // Longer than nginx's idle upstream keep-alive (2 s): a stopping replica drops no request.
        SHUTDOWN_DRAIN_MS: '3000',
        SHUTDOWN_GRACE_MS: '5000',
        ...options.gatewayEnv
      },
      cwd: appDir,
      logFile: g.log,
      ready: () => httpOk(`${g.url}/readyz`),
      onChange: () => { g.pid = svc.pid; g.restarts = svc.restarts; publish() },
      log
    })
    return svc
  })

  // --- nginx ----------------------------------------------------------------------------------
  const renderNginx = () => renderNativeNginx({ repoDir, dir, state, options })
  // Run as root, nginx would hand its workers to "nobody", who cannot enter DIR.
  const nginxGlobals = 'daemon off;' + (process.getuid?.() === 0 ? ` user ${userInfo().username};` : '')
  const nginxArgs = ['-p', state.nginx.prefix, '-c', state.nginx.conf, '-e', 'stderr', '-g', nginxGlobals]
  const nginxTest = () => execFileSync('nginx', ['-t', '-q', ...nginxArgs], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  const nginx = new Supervised({
    name: 'nginx',
    command: 'nginx',
    args: nginxArgs,
    env: baseEnv,
    cwd: dir,
    logFile: state.nginx.errorLog,
    ready: () => httpOk(`${state.nginx.statusUrl}/nginx-health`),
    onChange: () => { state.nginx.pid = nginx.pid; publish() },
    log
  })

  process.on('SIGHUP', () => {
    if (stopping || state.status !== 'ready') return
    ;(async () => {
      /** @type {StackOptions} */
      const next = JSON.parse(readFileSync(join(dir, 'options.json'), 'utf8'))
      options.edge = next.edge
      state.options.edge = next.edge
      renderNginx()
      nginxTest()
      const master = nginx.pid
      if (master === null) throw new Error('nginx is not running')
      const oldWorkers = childPids(master)
      process.kill(master, 'SIGHUP')
      // Reloaded once the new workers run and the old ones have finished their requests.
      await waitUntil('nginx reload', () => oldWorkers.every((p) => !pidAlive(p)) && childPids(master).length > 0, { timeoutMs: 70000 })
      delete state.nginx.reloadError
      state.nginx.generation += 1
      publish()
      log(`nginx reloaded: edge ${next.edge.rate} burst ${next.edge.burst} conn ${next.edge.conn}`)
    })().catch((err) => {
      const reloadError = `nginx reload failed: ${failure(err)}`
      state.nginx.reloadError = reloadError
      publish()
      log(reloadError)
    })
  })

  // --- prometheus -----------------------------------------------------------------------------
  /** @type {Supervised | undefined} */
  let prometheus
  const promState = state.prometheus
  if (promState !== null) {
    const promDir = writePrometheusConfig({ repoDir, dir, state, scrapeInterval: options.scrapeInterval, log })
    prometheus = new Supervised({
      name: 'prometheus',
      command: 'prometheus',
      args: [
        `--config.file=${join(promDir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(promDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        '--web.enable-lifecycle',
        '--log.level=warn'
      ],
      env: baseEnv,
      cwd: promDir,
      logFile: join(logs, 'prometheus.log'),
      ready: () => httpOk(`${promState.url}/-/ready`),
      onChange: () => { promState.pid = prometheus?.pid ?? null; publish() },
      log
    })
  }

  // --- start, in dependency order -------------------------------------------------------------
  try {
    log(`starting in ${dir}`)
    stages.push([redis])
    await redis.start(timeoutMs)
    stages.push([mock])
    await mock.start(timeoutMs)
    stages.push(gateways)
    await Promise.all(gateways.map((g) => g.start(timeoutMs)))
    renderNginx()
    nginxTest()
    stages.push([nginx])
    await nginx.start(timeoutMs)
    if (prometheus !== undefined) {
      stages.push([prometheus])
      await prometheus.start(timeoutMs)
    }
  } catch (err) {
    const error = failure(err)
    state.error = error
    log(`start failed: ${error}`)
    await shutdown(1, 'start-up failed')
    return
  }
  state.status = 'ready'
  state.readyAt = new Date().toISOString()
  publish()
  log('ready')
}

/**
 * What went wrong: a failed command's stderr, else the error's message.
 * @param {unknown} err
 */
function failure (err) {
  const e = /** @type {Error & { stderr?: string | Buffer }} */ (err)
  return String(e.stderr ?? e.message).trim()
}
