#!/usr/bin/env node
// @ts-check
// The whole stack on loopback without Docker, from the project's own config files: Redis, the
// mock upstream, N supervised gateway replicas, nginx rendered from nginx/templates, and
// optionally Prometheus. Used by `make stack-native`, the stack tests and the benchmarks.
//
//   node scripts/stack-native.mjs up     [--dir DIR] [options]   start; returns once ready
//   node scripts/stack-native.mjs down   [--dir DIR]             stop everything it started
//   node scripts/stack-native.mjs reload [--dir DIR] [edge options]  re-render nginx, reload it
//   node scripts/stack-native.mjs status [--dir DIR]             print DIR/state.json
//
// `up` starts a detached supervisor (this file, `supervise` command) that owns every process,
// restarts a dead one after 0.5 s like compose's restart policy, and keeps DIR/state.json
// current: ports, URLs, pids, the gateway keys in plaintext (only their hashes reach the
// gateways). Everything (logs, pid files, temp files, certs) stays inside DIR. Secret-looking
// --env/--mock-env values (names with KEY, TOKEN, SECRET or PASSWORD) never reach a file: they go
// to the supervisor in its environment. Logs of an earlier run in DIR are only replaced when the
// user says so (a prompt on a terminal, --replace-logs otherwise).
import { spawn, execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createInterface } from 'node:readline/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { pidAlive, sleep, waitUntil } from './lib/procs.mjs'
import { readJson, writeJsonAtomic } from './lib/stack-files.mjs'

/** @typedef {import('./lib/stack-files.mjs').StackState} StackState */
/** @typedef {import('./lib/stack-files.mjs').StackOptions} StackOptions */
/** @typedef {import('./lib/stack-files.mjs').StackKey} StackKey */

const repoDir = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const appDir = join(repoDir, 'app')
const selfPath = fileURLToPath(import.meta.url)

const OPTIONS = /** @type {const} */ ({
  dir: { type: 'string', default: join(repoDir, '.stack') },
  replicas: { type: 'string', default: '3' },
  prometheus: { type: 'boolean', default: false },
  'scrape-interval': { type: 'string' },
  rpm: { type: 'string', default: '600' },
  key: { type: 'string', multiple: true, default: /** @type {string[]} */ ([]) },
  'body-limit': { type: 'string', default: '10485760' },
  'cors-origins': { type: 'string', default: '' },
  'edge-rate': { type: 'string', default: '20r/s' },
  'edge-burst': { type: 'string', default: '40' },
  'edge-conn': { type: 'string', default: '64' },
  'nginx-workers': { type: 'string', default: 'auto' },
  'log-level': { type: 'string', default: 'info' },
  env: { type: 'string', multiple: true, default: /** @type {string[]} */ ([]) },
  'mock-env': { type: 'string', multiple: true, default: /** @type {string[]} */ ([]) },
  timeout: { type: 'string', default: '30000' },
  'owner-pid': { type: 'string' },
  'replace-logs': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false }
})
/** @typedef {ReturnType<typeof parseArgs<{ options: typeof OPTIONS, allowPositionals: true, tokens: true }>>['values']} Values */

const USAGE = `usage: node scripts/stack-native.mjs <up|down|reload|status> [--dir DIR] [options]
  --dir DIR              where state, logs, certs and temp files live (default .stack/)
  --replicas N           gateway replicas (3)
  --prometheus           also run Prometheus on prometheus/prometheus.yml (rules kept)
  --scrape-interval D    override Prometheus' scrape/evaluation interval (e.g. 2s)
  --rpm N                default per-key requests per minute, RATE_LIMIT_RPM (600)
  --key 'ID [rpm=N] [models=a|b]'  an extra gateway key (repeatable; "default" always exists)
  --body-limit BYTES     BODY_LIMIT_BYTES and nginx client_max_body_size (10485760)
  --cors-origins LIST    CORS_ORIGINS for nginx and the gateways ("")
  --edge-rate R          nginx per-IP limit_req rate (20r/s)      [reload]
  --edge-burst N         nginx per-IP limit_req burst (40)        [reload]
  --edge-conn N          nginx per-IP concurrent requests (64)    [reload]
  --nginx-workers N      nginx worker_processes (auto)
  --log-level L          gateway LOG_LEVEL (info)
  --env K=V              extra gateway environment (repeatable)
  --mock-env K=V         extra mock upstream environment, e.g. MOCK_LATENCY_MS=20 (repeatable)
  --timeout MS           per-component start-up timeout (30000)
  --owner-pid PID        stop the stack by itself when this process exits (for tests)
  --replace-logs         delete DIR/logs of an earlier run without asking`

/**
 * @param {string} message
 * @returns {never}
 */
function fail (message) {
  process.stderr.write(`stack-native: ${message}\n`)
  process.exit(1)
}

/**
 * The stack's state.json in `dir`, if there is one.
 * @param {string} dir
 * @returns {StackState | undefined}
 */
const readState = (dir) => /** @type {StackState | undefined} */ (readJson(join(dir, 'state.json')))

/**
 * @param {string[]} list
 * @param {string} flag
 */
function parseKv (list, flag) {
  /** @type {Record<string, string>} */
  const out = {}
  for (const item of list) {
    const eq = item.indexOf('=')
    if (eq <= 0) fail(`${flag} expects KEY=VALUE, got "${item}"`)
    out[item.slice(0, eq)] = item.slice(eq + 1)
  }
  return out
}

/**
 * @param {string} value
 * @param {string} flag
 */
function positiveInt (value, flag) {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) fail(`${flag} must be a positive integer, got "${value}"`)
  return n
}

/**
 * @param {string} spec
 * @returns {StackKey}
 */
function makeKey (spec) {
  const [id, ...opts] = spec.trim().split(/\s+/)
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(id ?? '')) fail(`--key "${spec}": bad key id`)
  const key = 'sk-gw-' + randomBytes(24).toString('base64url')
  const hash = createHash('sha256').update(key).digest('hex')
  return { id: id ?? '', key, options: opts.join(' '), entry: [`${id}:${hash}`, ...opts].join(' ') }
}

/** Names whose values are credentials: kept out of options.json and state.json. */
const SECRET_NAME = /KEY|TOKEN|SECRET|PASSWORD/i
/** @param {Record<string, string>} env */
const publicEnv = (env) => Object.fromEntries(Object.entries(env).filter(([k]) => !SECRET_NAME.test(k)))
/** @param {Record<string, string>} env */
const secretEnv = (env) => Object.fromEntries(Object.entries(env).filter(([k]) => SECRET_NAME.test(k)))

/**
 * An earlier run's logs are the user's: replaced only on --replace-logs or a "y" at a prompt.
 * @param {string} logsDir
 * @param {boolean} replace
 */
async function confirmReplaceLogs (logsDir, replace) {
  /** @type {string[]} */
  let files = []
  try { files = readdirSync(logsDir) } catch {}
  if (files.length === 0 || replace) return
  if (!process.stdin.isTTY) fail(`${logsDir} holds logs of an earlier run; pass --replace-logs to delete them, or choose another --dir`)
  const rl = createInterface({ input: process.stdin, output: process.stdout })
  const answer = await rl.question(`${logsDir} holds logs of an earlier run. Delete them? [y/N] `)
  rl.close()
  if (!/^y(es)?$/i.test(answer.trim())) fail('left the earlier logs alone; choose another --dir or pass --replace-logs')
}

// ---------------------------------------------------------------------------------------------
// up: prepare DIR, start the supervisor detached, wait for it to report ready or failed.

/** @param {Values} values */
async function up (values) {
  const dir = resolve(values.dir)
  const statePath = join(dir, 'state.json')
  const previous = readState(dir)
  if (previous !== undefined && pidAlive(previous.supervisorPid)) {
    fail(`a stack is already running in ${dir} (supervisor pid ${previous.supervisorPid}); run: node scripts/stack-native.mjs down --dir ${dir}`)
  }
  for (const entry of [join(appDir, 'dist', 'server.js'), join(appDir, 'dist', 'mock-upstream', 'server.js')]) {
    if (!existsSync(entry)) fail(`${entry} is missing; run: make build`)
  }
  for (const bin of ['nginx', 'redis-server', 'openssl', ...(values.prometheus ? ['prometheus'] : [])]) {
    try {
      execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' })
    } catch {
      fail(`${bin} is not installed (Debian: apt-get install -y --no-install-recommends ${bin === 'redis-server' ? 'redis-server' : bin})`)
    }
  }
  const replicas = positiveInt(values.replicas, '--replicas')
  const timeoutMs = positiveInt(values.timeout, '--timeout')
  positiveInt(values.rpm, '--rpm')
  positiveInt(values['body-limit'], '--body-limit')
  const gatewayEnv = parseKv(values.env, '--env')
  const mockEnv = parseKv(values['mock-env'], '--mock-env')
  const keySpecs = ['default', ...values.key]
  const keys = keySpecs.map(makeKey)
  if (new Set(keys.map((k) => k.id)).size !== keys.length) fail('--key ids must be unique')

  await confirmReplaceLogs(join(dir, 'logs'), values['replace-logs'])
  rmSync(join(dir, 'logs'), { recursive: true, force: true })
  for (const sub of ['logs', 'nginx/run', 'redis', 'acme/.well-known/acme-challenge']) mkdirSync(join(dir, sub), { recursive: true })
  rmSync(statePath, { force: true })
  /** @type {StackOptions} */
  const options = {
    replicas,
    timeoutMs,
    prometheus: values.prometheus,
    scrapeInterval: values['scrape-interval'],
    rpm: values.rpm,
    keys,
    bodyLimit: values['body-limit'],
    corsOrigins: values['cors-origins'],
    edge: { rate: values['edge-rate'], burst: values['edge-burst'], conn: values['edge-conn'] },
    nginxWorkers: values['nginx-workers'],
    logLevel: values['log-level'],
    gatewayEnv: publicEnv(gatewayEnv),
    mockEnv: publicEnv(mockEnv),
    ownerPid: values['owner-pid'] === undefined ? undefined : positiveInt(values['owner-pid'], '--owner-pid')
  }
  writeJsonAtomic(join(dir, 'options.json'), options)

  const logPath = join(dir, 'logs', 'supervisor.log')
  const fd = openSync(logPath, 'a')
  const child = spawn(process.execPath, [selfPath, 'supervise', '--dir', dir], {
    detached: true,
    stdio: ['ignore', fd, fd],
    cwd: repoDir,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? dir,
      STACK_NATIVE_SECRET_ENV: JSON.stringify({ gateway: secretEnv(gatewayEnv), mock: secretEnv(mockEnv) })
    }
  })
  closeSync(fd)
  child.unref()

  // Enough for every component's own timeout, in order.
  const deadline = Date.now() + timeoutMs * (4 + (values.prometheus ? 1 : 0)) + 10000
  /** @type {StackState | undefined} */
  let state
  while (Date.now() < deadline) {
    state = readState(dir)
    if (state?.status === 'ready' || state?.status === 'failed') break
    if (!pidAlive(child.pid)) break
    await sleep(100)
  }
  if (state?.status !== 'ready') {
    const pid = child.pid
    if (pid !== undefined && pidAlive(pid)) {
      process.kill(pid, 'SIGTERM')
      await waitUntil('supervisor exit', () => !pidAlive(pid), { timeoutMs: 30000 }).catch(() => {})
    }
    const log = existsSync(logPath) ? readFileSync(logPath, 'utf8').split('\n').slice(-30).join('\n') : ''
    fail(`the stack did not come up: ${state?.error ?? 'supervisor gave no answer'}\n--- ${logPath} (tail) ---\n${log}`)
  }
  printSummary(state)
}

/** @param {StackState} state */
function printSummary (state) {
  const key = state.keys[0]
  const lines = [
    `native stack ready in ${state.dir} (supervisor pid ${state.supervisorPid})`,
    `  API (HTTPS, h2)  ${state.nginx.httpsUrl}/v1   (CA: ${state.ca})`,
    `  HTTP redirect    ${state.nginx.httpUrl}`,
    `  nginx status     ${state.nginx.statusUrl}/stub_status`,
    ...state.gateways.map((g) => `  gateway-${g.index}        ${g.url}   metrics ${g.metricsUrl}`),
    `  mock upstream    ${state.mock.url}/v1   stats ${state.mock.url}/_mock/stats`,
    `  redis            ${state.redis.url}`,
    ...(state.prometheus ? [`  prometheus       ${state.prometheus.url}`] : []),
    ...state.keys.map((k) => `  key ${k.id.padEnd(12)} ${k.key}${k.options ? `   (${k.options})` : ''}`),
    '',
    'try:',
    `  curl --cacert ${state.ca} ${state.nginx.httpsUrl}/v1/chat/completions \\`,
    `    -H 'Authorization: Bearer ${key?.key}' -H 'Content-Type: application/json' \\`,
    '    -d \'{"model":"gpt-4.1","messages":[{"role":"user","content":"Hello"}]}\'',
    `stop: node scripts/stack-native.mjs down${state.dir === join(repoDir, '.stack') ? '' : ` --dir ${state.dir}`}`
  ]
  process.stdout.write(lines.join('\n') + '\n')
}

// ---------------------------------------------------------------------------------------------
// down: stop the supervisor (which stops its children), then make sure every recorded pid is gone.

/**
 * @param {StackState | undefined} state
 * @returns {number[]}
 */
function recordedPids (state) {
  const pids = []
  for (const p of [state?.nginx?.pid, state?.mock?.pid, state?.redis?.pid, state?.prometheus?.pid]) if (p) pids.push(p)
  for (const g of state?.gateways ?? []) if (g.pid) pids.push(g.pid)
  return pids
}

/** @param {Values} values */
async function down (values) {
  const dir = resolve(values.dir)
  const statePath = join(dir, 'state.json')
  const state = readState(dir)
  if (state === undefined) {
    process.stdout.write(`stack-native: no stack in ${dir}\n`)
    return
  }
  const sup = state.supervisorPid
  if (pidAlive(sup)) {
    process.kill(sup, 'SIGTERM')
    await waitUntil('supervisor exit', () => !pidAlive(sup), { timeoutMs: 40000 }).catch(() => {
      try { process.kill(sup, 'SIGKILL') } catch {}
    })
  }
  // A supervisor that was killed cannot stop its children: do it from the recorded pids.
  const latest = readState(dir) ?? state
  const left = [...new Set([...recordedPids(state), ...recordedPids(latest)])].filter(pidAlive)
  for (const pid of left) { try { process.kill(pid, 'SIGTERM') } catch {} }
  await waitUntil('processes exit', () => left.every((p) => !pidAlive(p)), { timeoutMs: 10000 }).catch(() => {
    for (const pid of left.filter(pidAlive)) { try { process.kill(pid, 'SIGKILL') } catch {} }
  })
  await waitUntil('processes exit', () => left.every((p) => !pidAlive(p)), { timeoutMs: 5000 }).catch(() => {})
  const still = left.filter(pidAlive)
  if (still.length > 0) fail(`could not stop pids ${still.join(', ')}`)
  writeJsonAtomic(statePath, { ...latest, status: 'stopped', stoppedAt: new Date().toISOString() })
  process.stdout.write(`stack-native: stopped the stack in ${dir}\n`)
}

// ---------------------------------------------------------------------------------------------
// reload: new edge settings → the supervisor re-renders nginx and reloads it gracefully.

/**
 * @param {Values} values
 * @param {Set<string>} explicit the options given on the command line
 */
async function reload (values, explicit) {
  const dir = resolve(values.dir)
  const state = readState(dir)
  if (state?.status !== 'ready' || !pidAlive(state.supervisorPid)) fail(`no running stack in ${dir}`)
  const options = /** @type {StackOptions | undefined} */ (readJson(join(dir, 'options.json')))
  if (options === undefined) fail(`no options.json in ${dir}`)
  if (explicit.has('edge-rate')) options.edge.rate = values['edge-rate']
  if (explicit.has('edge-burst')) options.edge.burst = values['edge-burst']
  if (explicit.has('edge-conn')) options.edge.conn = values['edge-conn']
  writeJsonAtomic(join(dir, 'options.json'), options)
  const before = state.nginx.generation
  process.kill(state.supervisorPid, 'SIGHUP')
  // A reload error ends the wait at once.
  await waitUntil('nginx reload', () => {
    const now = readState(dir)
    const reloadError = now?.nginx.reloadError
    return reloadError !== undefined ? fail(reloadError) : (now?.nginx.generation ?? before) > before
  }, { timeoutMs: 30000 }).catch((err) => fail(err.message))
  process.stdout.write(`stack-native: nginx reloaded (edge ${options.edge.rate}, burst ${options.edge.burst}, conn ${options.edge.conn})\n`)
}

// ---------------------------------------------------------------------------------------------

async function main () {
  const { values, positionals, tokens } = parseArgs({ options: OPTIONS, allowPositionals: true, tokens: true })
  const command = positionals[0]
  if (values.help || command === undefined) {
    process.stdout.write(USAGE + '\n')
    process.exit(command === undefined && !values.help ? 1 : 0)
  }
  const explicit = new Set(tokens.filter((t) => t.kind === 'option').map((t) => t.name))
  switch (command) {
    case 'up': return await up(values)
    case 'down': return await down(values)
    case 'reload': return await reload(values, explicit)
    case 'status': {
      const state = readState(resolve(values.dir))
      if (state === undefined) fail(`no stack in ${resolve(values.dir)}`)
      process.stdout.write(JSON.stringify(state, null, 2) + '\n')
      return
    }
    case 'supervise': {
      const { supervise } = await import('./lib/stack-supervisor.mjs')
      return await supervise(resolve(values.dir), { repoDir, appDir })
    }
    default: fail(`unknown command "${command}"\n${USAGE}`)
  }
}

main().catch((err) => fail(err.stack ?? err.message))
