// @ts-check
// Child processes and waiting, shared by the scripts, the tests and the bench: start a process
// (output kept in memory or appended to a log file, optionally pinned to CPUs) and stop it by
// PID, free loopback ports, whether a PID runs, and one polling loop with its probes.
import { spawn } from 'node:child_process'
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs'
import { connect, createServer } from 'node:net'

/** @param {number} ms */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * A child process, stopped by PID.
 * @typedef {object} Proc
 * @property {string} name
 * @property {number} pid
 * @property {import('node:child_process').ChildProcess} child
 * @property {Promise<number | string | null>} exited its exit code, or the signal that ended it
 * @property {() => string} output what it wrote to stdout and stderr (from a log file: the last ~4 KB)
 * @property {() => boolean} alive
 * @property {(signal?: NodeJS.Signals, graceMs?: number) => Promise<number | string | null>} stop
 *   `signal` (SIGTERM), then SIGKILL after `graceMs` (5 s); resolves once it has exited
 */

/**
 * @typedef {object} StartOptions
 * @property {string} [name] for messages (default: the command)
 * @property {Record<string, string | undefined>} [env] added to a clean environment (PATH and HOME only)
 * @property {string} [cwd]
 * @property {string} [logFile] append stdout and stderr to this file (a file descriptor, not a
 *   pipe: a process logging a line per request costs this process nothing); default: kept in memory
 * @property {string} [cpus] a taskset CPU list that pins the process and all its threads
 */

/**
 * The last `bytes` of a file, as text ('' when it cannot be read).
 * @param {string} file
 */
function tailOf (file, bytes = 4000) {
  try {
    const fd = openSync(file, 'r')
    try {
      const size = fstatSync(fd).size
      const len = Math.min(bytes, size)
      const buf = Buffer.alloc(len)
      readSync(fd, buf, 0, len, size - len)
      return buf.toString('utf8')
    } finally {
      closeSync(fd)
    }
  } catch {
    return ''
  }
}

/**
 * Spawns `command` with a clean environment plus `opts.env`.
 * @param {string} command
 * @param {string[]} args
 * @param {StartOptions} [opts]
 * @returns {Proc}
 */
export function startProcess (command, args, { name = command, env = {}, cwd, logFile, cpus } = {}) {
  const [cmd, argv] = cpus === undefined ? [command, args] : ['taskset', ['-c', cpus, command, ...args]]
  const fd = logFile === undefined ? undefined : openSync(logFile, 'a')
  let child
  try {
    child = spawn(cmd, argv, {
      cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: fd === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', fd, fd]
    })
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
  let out = ''
  child.stdout?.on('data', (/** @type {Buffer} */ d) => { out += d.toString() })
  child.stderr?.on('data', (/** @type {Buffer} */ d) => { out += d.toString() })
  // A command that cannot start reports it as an event; without a listener it would throw.
  child.on('error', (err) => { out += `${err.message}\n` })
  const pid = child.pid
  if (pid === undefined) throw new Error(`could not start ${name} (${command})`)
  const c = child
  /** @type {Promise<number | string | null>} */
  const exited = new Promise((resolve) => c.once('exit', (code, signal) => resolve(code ?? signal)))
  const alive = () => c.exitCode === null && c.signalCode === null
  return {
    name,
    // taskset execs the command, so the PID is the command's own
    pid,
    child: c,
    exited,
    output: () => logFile === undefined ? out : tailOf(logFile),
    alive,
    async stop (signal = 'SIGTERM', graceMs = 5000) {
      if (!alive()) return await exited
      try { process.kill(pid, signal) } catch {}
      const timer = setTimeout(() => { try { process.kill(pid, 'SIGKILL') } catch {} }, graceMs)
      const result = await exited
      clearTimeout(timer)
      return result
    }
  }
}

/**
 * A free TCP port on loopback (closed again before it is returned).
 * @returns {Promise<number>}
 */
export function freePort () {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.unref()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      s.close(() => resolve(port))
    })
  })
}

/**
 * Distinct free ports (a port handed out twice in one run would make two services collide).
 * @param {number} n
 */
export async function freePorts (n) {
  /** @type {Set<number>} */
  const ports = new Set()
  while (ports.size < n) ports.add(await freePort())
  return [...ports]
}

/**
 * True while `pid` runs; a zombie (exited, not yet reaped by its parent) holds no sockets and
 * counts as gone.
 * @param {number | null | undefined} pid
 */
export function pidAlive (pid) {
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
  } catch (err) {
    return /** @type {NodeJS.ErrnoException} */ (err).code === 'EPERM'
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return true
  }
}

/**
 * Direct children of a PID (nginx's workers of its master); [] when it is gone.
 * @param {number} pid
 * @returns {number[]}
 */
export function childPids (pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

/**
 * @typedef {object} PollOptions
 * @property {number} timeoutMs
 * @property {number} intervalMs
 * @property {() => string | false | undefined | null} [abort] a reason to stop waiting at once
 */

/**
 * The one polling loop: `probe()` until it returns true, at least once and once more after the
 * deadline. Anything else it returns is the reason it is not done yet.
 * @param {() => unknown} probe
 * @param {PollOptions} opts
 * @returns {Promise<{ done: true } | { done: false, last: string, aborted: boolean }>}
 */
async function poll (probe, { timeoutMs, intervalMs, abort }) {
  const deadline = Date.now() + timeoutMs
  let last = 'no answer'
  for (;;) {
    const reason = abort?.()
    if (typeof reason === 'string') return { done: false, last: reason, aborted: true }
    const result = await probe()
    if (result === true) return { done: true }
    last = String(result)
    if (Date.now() > deadline) return { done: false, last, aborted: false }
    await sleep(intervalMs)
  }
}

/**
 * Polls `check()` until it is true; false when `timeoutMs` passed first (assert on the result).
 * A check that throws ends the wait with its error.
 * @param {() => boolean | Promise<boolean>} check
 * @param {number} timeoutMs
 */
export async function waitFor (check, timeoutMs, intervalMs = 20) {
  return (await poll(check, { timeoutMs, intervalMs })).done
}

/**
 * Waits until `probe()` resolves true; throws naming `what` and the last reason (a returned
 * string or a thrown error's message) after `timeoutMs`, or at once when `abort()` gives one.
 * @param {string} what
 * @param {() => unknown} probe
 * @param {Partial<PollOptions>} [opts]
 */
export async function waitUntil (what, probe, { timeoutMs = 30000, intervalMs = 100, abort } = {}) {
  const result = await poll(async () => {
    try {
      return await probe()
    } catch (err) {
      return err instanceof Error ? err.message : String(err)
    }
  }, { timeoutMs, intervalMs, abort })
  if (result.done) return
  throw new Error(result.aborted ? `${what}: ${result.last}` : `${what}: not within ${timeoutMs} ms (${result.last})`)
}

/**
 * A probe: true when `url` answers `status`, else what it answered.
 * @param {string} url
 * @param {{ status?: number, headers?: Record<string, string> }} [opts]
 * @returns {Promise<true | string>}
 */
export async function httpOk (url, { status = 200, headers } = {}) {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(2000) })
  await res.arrayBuffer()
  return res.status === status ? true : `status ${res.status}`
}

/**
 * A probe: true when a TCP connection to `port` opens (readiness without sending a request).
 * @param {number} port
 * @returns {Promise<true | string>}
 */
export function portOpen (port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const s = connect(port, host)
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', (err) => resolve(err.message))
  })
}

/**
 * A probe: a Redis PING over RESP, true on +PONG.
 * @param {number} port
 * @returns {Promise<true | string>}
 */
export function redisPing (port, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const sock = connect({ port, host })
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('redis PING timed out')) }, 2000)
    let buf = ''
    sock.on('connect', () => sock.write('PING\r\n'))
    sock.on('data', (d) => {
      buf += d.toString()
      if (buf.includes('\r\n')) {
        clearTimeout(timer)
        sock.end()
        resolve(buf.startsWith('+PONG') ? true : buf.trim())
      }
    })
    sock.on('error', (err) => { clearTimeout(timer); reject(err) })
  })
}

/** @typedef {Pick<Proc, 'name' | 'alive' | 'output'>} Watched a process being waited for */

/**
 * Waits for a process to become ready: stops at once when it exits, and says what it wrote.
 * @param {string} what
 * @param {() => unknown} probe
 * @param {number} timeoutMs
 * @param {number} intervalMs
 * @param {Watched | undefined} proc
 */
async function waitForProc (what, probe, timeoutMs, intervalMs, proc) {
  try {
    await waitUntil(what, probe, { timeoutMs, intervalMs, abort: () => proc === undefined || proc.alive() ? undefined : `${proc.name} exited first` })
  } catch (err) {
    throw proc === undefined ? err : new Error(`${/** @type {Error} */ (err).message}\n${proc.output()}`)
  }
}

/**
 * Polls `url` until it answers `status`, the process dies, or `timeoutMs` passes.
 * @param {string} url
 * @param {{ timeoutMs?: number, status?: number, proc?: Watched, headers?: Record<string, string> }} [opts]
 */
export async function waitForHttp (url, { timeoutMs = 20000, status = 200, proc, headers } = {}) {
  await waitForProc(`${url} answering ${status}`, () => httpOk(url, { status, headers }), timeoutMs, 100, proc)
}

/**
 * Polls until a TCP connection to `port` on loopback opens, the process dies, or `timeoutMs` passes.
 * @param {number} port
 * @param {{ timeoutMs?: number, proc?: Watched }} [opts]
 */
export async function waitForPort (port, { timeoutMs = 20000, proc } = {}) {
  await waitForProc(`port ${port} opening`, () => portOpen(port), timeoutMs, 50, proc)
}
