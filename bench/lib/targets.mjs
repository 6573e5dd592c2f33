// @ts-check
// The systems under test. Each start function returns a target: where to send requests, which
// headers to add, which PIDs to charge CPU time and memory to, and its RSS before any request.
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { redisPing } from '../../scripts/lib/procs.mjs'
import { childPids, freePort, pinPid, rssOf, sleep, startProcess, waitForHttp, waitForPort } from './procs.mjs'

/** @typedef {import('./types.js').Target} Target */
/** @typedef {import('./types.js').Upstream} Upstream */
/** @typedef {import('./types.js').RedisServer} RedisServer */
/** @typedef {import('./types.js').CpuPlan} CpuPlan */

export const benchDir = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const repoDir = resolve(benchDir, '..')
let appDist = join(repoDir, 'app', 'dist')

/** How long a fresh process is left alone before its idle RSS is read (lazy start-up work settles). */
const IDLE_SETTLE_MS = 1000

/**
 * Copies app/dist (with package.json and models.json beside it, node_modules linked) into the
 * run's temp dir and starts every gateway and mock from there, so a rebuild of app/dist while
 * the bench runs cannot mix two builds in one result. `app` may name another build of the app
 * (a directory with the same layout), e.g. the one before a change.
 * @param {string} tmpDir
 * @param {string} [app]
 */
export function snapshotApp (tmpDir, app = join(repoDir, 'app')) {
  const copy = join(tmpDir, 'app')
  mkdirSync(copy, { recursive: true })
  cpSync(join(app, 'dist'), join(copy, 'dist'), { recursive: true })
  for (const f of ['package.json', 'models.json']) cpSync(join(app, f), join(copy, f))
  symlinkSync(join(app, 'node_modules'), join(copy, 'node_modules'))
  appDist = join(copy, 'dist')
  return appDist
}
const CHAT_PATH = '/v1/chat/completions'

/**
 * @param {string} name
 * @param {string} origin
 * @param {Partial<Target>} [extra]
 * @returns {Target}
 */
function target (name, origin, extra = {}) {
  return { name, origin, path: CHAT_PATH, url: origin + CHAT_PATH, headers: {}, pids: () => [], passesMockKnobs: true, idleRssBytes: null, ...extra }
}

/** `cpus` of the plan for the system under test, or undefined when nothing is pinned. */
const targetCpus = (/** @type {CpuPlan} */ plan) => plan.pinned ? plan.targetCpus : undefined

/**
 * RSS of a fresh process (and its children) once it listens, before any request.
 * @param {() => number[]} pids
 */
async function idleRss (pids) {
  await sleep(IDLE_SETTLE_MS)
  return rssOf(pids())
}

/**
 * The shipped mock upstream; `env` sets its defaults (chunks, pacing). Runs on the load side.
 * @param {string} tmpDir
 * @param {string} name
 * @param {Record<string, string>} [env]
 * @returns {Promise<Upstream>}
 */
export async function startMock (tmpDir, name, env = {}) {
  const port = await freePort()
  const proc = startProcess(name, process.execPath, [join(appDist, 'mock-upstream', 'server.js')], {
    env: { MOCK_PORT: String(port), MOCK_HOST: '127.0.0.1', ...env },
    logFile: join(tmpDir, `${name}.log`)
  })
  const origin = `http://127.0.0.1:${port}`
  await waitForHttp(`${origin}/healthz`, { proc })
  return { proc, port, origin }
}

/**
 * A Redis for the gateway's shared limits. It runs on the load side: in production it is a
 * service of its own, not part of a replica's CPU.
 * @param {string} tmpDir
 * @param {string} [name]
 * @returns {Promise<RedisServer>}
 */
export async function startRedis (tmpDir, name = 'redis') {
  const port = await freePort()
  const proc = startProcess(name, 'redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmpDir, '--protected-mode', 'yes'
  ], { logFile: join(tmpDir, `${name}.log`) })
  const deadline = Date.now() + 10000
  for (;;) {
    if (await redisPing(port).catch(() => false) === true) break
    if (Date.now() > deadline || !proc.alive()) throw new Error(`redis did not start:\n${proc.output()}`)
    await sleep(100)
  }
  return { proc, port, url: `redis://127.0.0.1:${port}` }
}

/** @param {Upstream} mock */
export function directTarget (mock) {
  return target('direct', mock.origin, { headers: { authorization: 'Bearer sk-bench-upstream' } })
}

/**
 * Debian's nginx with a bench-only config: plain proxy_pass, upstream keep-alive, no buffering;
 * one worker per core it is pinned to.
 * @param {string} tmpDir
 * @param {Upstream} mock
 * @param {CpuPlan} plan
 */
export async function startNginx (tmpDir, mock, plan) {
  const prefix = join(tmpDir, 'nginx')
  mkdirSync(join(prefix, 'logs'), { recursive: true })
  const port = await freePort()
  const conf = join(prefix, 'nginx.conf')
  writeFileSync(conf, `# bench only: the cheapest reasonable nginx reverse proxy, the floor for any proxy
worker_processes ${plan.pinned ? plan.targetCpus.split(',').length : 'auto'};
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 16384; }
worker_rlimit_nofile 65536;
http {
  access_log off;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  upstream mock {
    server 127.0.0.1:${mock.port};
    keepalive 256;
  }
  server {
    listen 127.0.0.1:${port};
    keepalive_requests 1000000;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`)
  const proc = startProcess('nginx', 'nginx', ['-p', prefix, '-c', conf, '-e', join(prefix, 'logs', 'error.log')], { logFile: join(tmpDir, 'nginx.log'), cpus: targetCpus(plan) })
  const pids = () => [proc.pid, ...childPids(proc.pid)]
  await waitForPort(port, { proc })
  const idle = await idleRss(pids)
  const origin = `http://127.0.0.1:${port}`
  await waitForHttp(`${origin}/healthz`, { proc })
  return target('nginx', origin, {
    proc,
    headers: { authorization: 'Bearer sk-bench-upstream' },
    pids,
    version: await nginxVersion(),
    idleRssBytes: idle
  })
}

/** @returns {Promise<string>} */
export async function nginxVersion () {
  return await new Promise((resolve) => execFile('nginx', ['-v'], (err, out, errOut) => resolve(err ? 'unknown' : (errOut || out).trim().replace(/^nginx version: /, ''))))
}

/**
 * The bare node:http + undici Pool proxy, with the gateway's default upstream pool size.
 * @param {string} tmpDir
 * @param {Upstream} mock
 * @param {CpuPlan} plan
 * @param {number} upstreamConnections
 */
export async function startUndiciProxy (tmpDir, mock, plan, upstreamConnections) {
  const port = await freePort()
  const proc = startProcess('undici-proxy', process.execPath, [join(benchDir, 'undici-proxy.mjs')], {
    env: { PORT: String(port), UPSTREAM_ORIGIN: mock.origin, UPSTREAM_MAX_CONNECTIONS: String(upstreamConnections) },
    logFile: join(tmpDir, 'undici-proxy.log'),
    cwd: benchDir,
    cpus: targetCpus(plan)
  })
  await waitForPort(port, { proc })
  const pids = () => [proc.pid]
  const idle = await idleRss(pids)
  const origin = `http://127.0.0.1:${port}`
  await waitForHttp(`${origin}/healthz`, { proc })
  return target('undici-proxy', origin, { proc, headers: { authorization: 'Bearer sk-bench-upstream' }, pids, idleRssBytes: idle })
}

/**
 * The framework's floor (`fastify-proxy.mjs`): the gateway's Fastify and undici with nothing of the
 * gateway on top, the same upstream pool size.
 * @param {string} tmpDir
 * @param {Upstream} mock
 * @param {CpuPlan} plan
 * @param {number} upstreamConnections
 */
export async function startFastifyProxy (tmpDir, mock, plan, upstreamConnections) {
  const port = await freePort()
  const proc = startProcess('fastify-proxy', process.execPath, [join(benchDir, 'fastify-proxy.mjs')], {
    env: { PORT: String(port), UPSTREAM_ORIGIN: mock.origin, UPSTREAM_MAX_CONNECTIONS: String(upstreamConnections) },
    logFile: join(tmpDir, 'fastify-proxy.log'),
    cwd: benchDir,
    cpus: targetCpus(plan)
  })
  await waitForPort(port, { proc })
  const pids = () => [proc.pid]
  const idle = await idleRss(pids)
  const origin = `http://127.0.0.1:${port}`
  await waitForHttp(`${origin}/healthz`, { proc })
  return target('fastify-proxy', origin, { proc, headers: { authorization: 'Bearer sk-bench-upstream' }, pids, idleRssBytes: idle })
}

/** A fresh plaintext gateway key and its GATEWAY_KEYS entry, with an rpm far above any load. */
export function benchKey () {
  const key = 'sk-gw-bench-' + randomBytes(16).toString('hex')
  return { key, entry: `bench:${createHash('sha256').update(key).digest('hex')} rpm=100000000` }
}

/**
 * One gateway process with the shipped defaults (LOG_LEVEL=info, Redis-backed limits, metrics
 * on); `env` adds to or overrides them (e.g. LOG_LEVEL=warn for the extra row). The log goes to
 * a file, as a container's stdout goes to its log driver.
 * @param {string} tmpDir
 * @param {Upstream} mock
 * @param {RedisServer} redis
 * @param {CpuPlan} plan
 * @param {{ name?: string, env?: Record<string, string>, nodeArgs?: string[] }} [opts]
 */
export async function startGateway (tmpDir, mock, redis, plan, { name = 'gateway', env = {}, nodeArgs = [] } = {}) {
  const port = await freePort()
  const metricsPort = await freePort()
  const { key, entry } = benchKey()
  const proc = startProcess(name, process.execPath, [...nodeArgs, join(appDist, 'server.js')], {
    env: {
      HOST: '127.0.0.1',
      PORT: String(port),
      METRICS_HOST: '127.0.0.1',
      METRICS_PORT: String(metricsPort),
      UPSTREAM_BASE_URL: `${mock.origin}/v1`,
      UPSTREAM_API_KEY: 'sk-bench-upstream',
      GATEWAY_KEYS: entry,
      REDIS_URL: redis.url,
      ...env
    },
    logFile: join(tmpDir, `${name}.log`),
    cwd: tmpDir,
    cpus: targetCpus(plan)
  })
  await waitForPort(port, { proc })
  const pids = () => [proc.pid]
  const idle = await idleRss(pids)
  const origin = `http://127.0.0.1:${port}`
  await waitForHttp(`${origin}/healthz`, { proc })
  return target(name, origin, {
    proc,
    headers: { authorization: `Bearer ${key}` },
    pids,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    idleRssBytes: idle
  })
}

/**
 * Portkey's open-source gateway from npm, kept on loopback by a preload (see portkey-loopback.mjs).
 * @param {string} tmpDir
 * @param {Upstream} mock
 * @param {CpuPlan} plan
 */
export async function startPortkey (tmpDir, mock, plan) {
  const port = await freePort()
  const entry = join(benchDir, 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js')
  const proc = startProcess('portkey', process.execPath, ['--import', join(benchDir, 'portkey-loopback.mjs'), entry, `--port=${port}`, '--headless'], {
    env: { NODE_ENV: 'production' },
    logFile: join(tmpDir, 'portkey.log'),
    cwd: tmpDir,
    cpus: targetCpus(plan)
  })
  await waitForPort(port, { proc, timeoutMs: 30000 })
  const pids = () => [proc.pid]
  const idle = await idleRss(pids)
  const origin = `http://127.0.0.1:${port}`
  await waitForHttp(`${origin}/`, { proc })
  return target('portkey', origin, {
    proc,
    headers: {
      authorization: 'Bearer sk-bench-upstream',
      'x-portkey-provider': 'openai',
      'x-portkey-custom-host': `${mock.origin}/v1`
    },
    pids,
    // Portkey forwards only the OpenAI fields it knows: the mock never sees a body's knobs
    passesMockKnobs: false,
    idleRssBytes: idle
  })
}

/**
 * The whole stack from the project's own files through scripts/stack-native.mjs: nginx (TLS) →
 * 3 gateways (shipped defaults) → its own mock and Redis. Edge limits are raised so the load is
 * never refused. Once up, nginx and the gateways are pinned to the target CPUs, the stack's mock,
 * Redis and supervisor to the load side.
 * @param {string} tmpDir
 * @param {Record<string, string>} mockEnv
 * @param {CpuPlan} plan
 * @param {(stop: () => Promise<void>) => void} registerCleanup
 */
export async function startStack (tmpDir, mockEnv, plan, registerCleanup) {
  const dir = join(tmpDir, 'stack')
  const launcher = join(repoDir, 'scripts', 'stack-native.mjs')
  const args = [launcher, 'up', '--dir', dir, '--replicas', '3', '--rpm', '10000000',
    '--edge-rate', '1000000r/s', '--edge-burst', '100000', '--edge-conn', '60000', '--log-level', 'info',
    ...Object.entries(mockEnv).flatMap(([k, v]) => ['--mock-env', `${k}=${v}`])]
  /** @type {() => Promise<void>} */
  const stop = async () => await new Promise((resolve) => execFile(process.execPath, [launcher, 'down', '--dir', dir], { timeout: 60000 }, () => resolve()))
  // registered before `up`, so an interrupted start-up is torn down too
  registerCleanup(stop)
  try {
    await new Promise((resolve, reject) => execFile(process.execPath, args, { timeout: 180000 }, (err, out, errOut) => err ? reject(new Error(`stack-native up failed:\n${out}${errOut}`)) : resolve(undefined)))
  } catch (err) {
    await stop()
    throw err
  }
  /** @typedef {{ nginx: { pid: number, httpsUrl: string }, gateways: Array<{ pid: number }>, mock: { pid: number }, redis: { pid: number }, supervisorPid: number, ca: string, keys: Array<{ key: string }> }} StackState */
  /** @type {StackState} */
  const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'))
  /** @returns {StackState} */
  const readState = () => { try { return JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) } catch { return state } }
  const pids = () => {
    const s = readState()
    return [s.nginx.pid, ...childPids(s.nginx.pid), ...s.gateways.map((g) => g.pid)].filter(Boolean)
  }
  if (plan.pinned) {
    for (const pid of pids()) pinPid(pid, plan.targetCpus)
    for (const pid of [state.mock.pid, state.redis.pid, state.supervisorPid]) if (pid) pinPid(pid, plan.loadCpus)
  }
  return target('stack', state.nginx.httpsUrl, {
    ca: readFileSync(state.ca),
    servername: 'localhost',
    headers: { authorization: `Bearer ${state.keys[0]?.key ?? ''}` },
    pids,
    stop,
    // the launcher's health probes have run, no relayed request yet
    idleRssBytes: await idleRss(pids)
  })
}
