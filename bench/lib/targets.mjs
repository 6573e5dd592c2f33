// The systems under test. Each start function returns a target: where to send requests, which
// headers to add, and which PIDs to charge CPU time to.
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { childPids, freePort, startProcess, waitForHttp } from './procs.mjs'

export const benchDir = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const repoDir = resolve(benchDir, '..')
let appDist = join(repoDir, 'app', 'dist')

/**
 * Copies app/dist (with package.json and models.json beside it, node_modules linked) into the
 * run's temp dir and starts every gateway and mock from there, so a rebuild of app/dist while
 * the bench runs cannot mix two builds in one result.
 */
export function snapshotApp (tmpDir) {
  const app = join(repoDir, 'app')
  const copy = join(tmpDir, 'app')
  mkdirSync(copy, { recursive: true })
  cpSync(join(app, 'dist'), join(copy, 'dist'), { recursive: true })
  for (const f of ['package.json', 'models.json']) cpSync(join(app, f), join(copy, f))
  symlinkSync(join(app, 'node_modules'), join(copy, 'node_modules'))
  appDist = join(copy, 'dist')
  return appDist
}
const CHAT_PATH = '/v1/chat/completions'

function target (name, origin, extra = {}) {
  return { name, origin, path: CHAT_PATH, url: origin + CHAT_PATH, headers: {}, pids: () => [], ...extra }
}

/** The shipped mock upstream; `env` sets its defaults (chunks, pacing). */
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

export async function startRedis (tmpDir) {
  const port = await freePort()
  const proc = startProcess('redis', 'redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmpDir, '--protected-mode', 'yes'
  ], { logFile: join(tmpDir, 'redis.log') })
  // redis answers PING on a raw socket; polling its port with HTTP would only get resets
  const { connect } = await import('node:net')
  const deadline = Date.now() + 10000
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = connect(port, '127.0.0.1')
      s.once('connect', () => { s.end('PING\r\n') })
      s.once('data', (d) => { s.destroy(); resolve(d.toString().startsWith('+PONG')) })
      s.once('error', () => resolve(false))
    })
    if (ok) break
    if (Date.now() > deadline || !proc.alive()) throw new Error(`redis did not start:\n${proc.output()}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return { proc, port, url: `redis://127.0.0.1:${port}` }
}

export function directTarget (mock) {
  return target('direct', mock.origin, { headers: { authorization: 'Bearer sk-bench-upstream' }, pids: () => [] })
}

/** Debian's nginx with a bench-only config: plain proxy_pass, upstream keep-alive, no buffering. */
export async function startNginx (tmpDir, mock) {
  const prefix = join(tmpDir, 'nginx')
  mkdirSync(join(prefix, 'logs'), { recursive: true })
  const port = await freePort()
  const conf = join(prefix, 'nginx.conf')
  writeFileSync(conf, `# bench only: the cheapest reasonable nginx reverse proxy, the floor for any proxy
worker_processes auto;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 8192; }
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
  const proc = startProcess('nginx', 'nginx', ['-p', prefix, '-c', conf, '-e', join(prefix, 'logs', 'error.log')], { logFile: join(tmpDir, 'nginx.log') })
  const origin = `http://127.0.0.1:${port}`
  await waitForHttp(`${origin}/healthz`, { proc })
  return target('nginx', origin, {
    proc,
    headers: { authorization: 'Bearer sk-bench-upstream' },
    pids: () => [proc.pid, ...childPids(proc.pid)],
    version: await nginxVersion()
  })
}

export async function nginxVersion () {
  return await new Promise((resolve) => execFile('nginx', ['-v'], (err, out, errOut) => resolve(err ? 'unknown' : (errOut || out).trim().replace(/^nginx version: /, ''))))
}

export async function startUndiciProxy (tmpDir, mock) {
  const port = await freePort()
  const proc = startProcess('undici-proxy', process.execPath, [join(benchDir, 'undici-proxy.mjs')], {
    env: { PORT: String(port), UPSTREAM_ORIGIN: mock.origin, UPSTREAM_MAX_CONNECTIONS: '256' },
    logFile: join(tmpDir, 'undici-proxy.log'),
    cwd: benchDir
  })
  const origin = `http://127.0.0.1:${port}`
  await waitForHttp(`${origin}/healthz`, { proc })
  return target('undici-proxy', origin, { proc, headers: { authorization: 'Bearer sk-bench-upstream' }, pids: () => [proc.pid] })
}

/** A fresh plaintext gateway key and its GATEWAY_KEYS entry, with an rpm far above any load. */
export function benchKey () {
  const key = 'sk-gw-bench-' + randomBytes(16).toString('hex')
  return { key, entry: `bench:${createHash('sha256').update(key).digest('hex')} rpm=100000000` }
}

/** One gateway process: Redis-backed limits on, metrics on, LOG_LEVEL=warn. */
export async function startGateway (tmpDir, mock, redis, { name = 'gateway', env = {}, nodeArgs = [] } = {}) {
  const port = await freePort()
  const metricsPort = await freePort()
  const { key, entry } = benchKey()
  const proc = startProcess(name, process.execPath, [...nodeArgs, join(appDist, 'server.js')], {
    env: {
      HOST: '127.0.0.1',
      PORT: String(port),
      METRICS_PORT: String(metricsPort),
      UPSTREAM_BASE_URL: `${mock.origin}/v1`,
      UPSTREAM_API_KEY: 'sk-bench-upstream',
      GATEWAY_KEYS: entry,
      REDIS_URL: redis.url,
      LOG_LEVEL: 'warn',
      ...env
    },
    logFile: join(tmpDir, `${name}.log`),
    cwd: tmpDir
  })
  const origin = `http://127.0.0.1:${port}`
  await waitForHttp(`${origin}/healthz`, { proc })
  return target(name, origin, {
    proc,
    headers: { authorization: `Bearer ${key}` },
    pids: () => [proc.pid],
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`
  })
}

/** Portkey's open-source gateway from npm, kept on loopback by a preload (see portkey-loopback.mjs). */
export async function startPortkey (tmpDir, mock) {
  const port = await freePort()
  const entry = join(benchDir, 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js')
  const proc = startProcess('portkey', process.execPath, ['--import', join(benchDir, 'portkey-loopback.mjs'), entry, `--port=${port}`, '--headless'], {
    env: { NODE_ENV: 'production' },
    logFile: join(tmpDir, 'portkey.log'),
    cwd: tmpDir
  })
  const origin = `http://127.0.0.1:${port}`
  await waitForHttp(`${origin}/`, { proc })
  return target('portkey', origin, {
    proc,
    headers: {
      authorization: 'Bearer sk-bench-upstream',
      'x-portkey-provider': 'openai',
      'x-portkey-custom-host': `${mock.origin}/v1`
    },
    pids: () => [proc.pid]
  })
}

/**
 * The whole stack from the project's own files through scripts/stack-native.mjs: nginx (TLS) →
 * 3 gateways → its own mock and Redis. Edge limits are raised so the load is never refused.
 */
export async function startStack (tmpDir, mockEnv, registerCleanup) {
  const dir = join(tmpDir, 'stack')
  const launcher = join(repoDir, 'scripts', 'stack-native.mjs')
  const args = [launcher, 'up', '--dir', dir, '--replicas', '3', '--rpm', '10000000',
    '--edge-rate', '1000000r/s', '--edge-burst', '100000', '--edge-conn', '60000', '--log-level', 'warn',
    ...Object.entries(mockEnv).flatMap(([k, v]) => ['--mock-env', `${k}=${v}`])]
  const stop = async () => await new Promise((resolve) => execFile(process.execPath, [launcher, 'down', '--dir', dir], { timeout: 60000 }, () => resolve()))
  // registered before `up`, so an interrupted start-up is torn down too
  registerCleanup?.(stop)
  try {
    await new Promise((resolve, reject) => execFile(process.execPath, args, { timeout: 180000 }, (err, out, errOut) => err ? reject(new Error(`stack-native up failed:\n${out}${errOut}`)) : resolve()))
  } catch (err) {
    await stop()
    throw err
  }
  const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'))
  const readState = () => { try { return JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) } catch { return state } }
  return target('stack', state.nginx.httpsUrl, {
    ca: readFileSync(state.ca),
    servername: 'localhost',
    headers: { authorization: `Bearer ${state.keys[0].key}` },
    pids: () => {
      const s = readState()
      return [s.nginx.pid, ...childPids(s.nginx.pid), ...s.gateways.map((g) => g.pid)].filter(Boolean)
    },
    stop
  })
}
