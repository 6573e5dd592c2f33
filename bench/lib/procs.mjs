// @ts-check
// Child processes of one bench run: start (optionally pinned to CPUs), wait for, sample (/proc),
// and stop every one of them by PID.
import { execFileSync, spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync, readSync, fstatSync } from 'node:fs'
import { connect } from 'node:net'
import { freePort, sleep } from '../../scripts/lib/procs.mjs'

export { freePort, sleep }

/** @typedef {import('./types.js').Proc} Proc */

/** @type {Set<Proc>} */
const started = new Set()

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
 * Spawns `command` with a clean environment plus `env`. Its stdout and stderr go straight to
 * `logFile` (a file descriptor, not a pipe), so a gateway logging one line per request costs
 * the load generator's CPU nothing. `cpus` (a taskset CPU list) pins it and all its threads.
 * The process is remembered so `stopAll()` ends it whatever happens to the run.
 * @param {string} name
 * @param {string} command
 * @param {string[]} args
 * @param {{ env?: Record<string, string>, logFile: string, cwd?: string, cpus?: string }} opts
 * @returns {Proc}
 */
export function startProcess (name, command, args, { env = {}, logFile, cwd, cpus }) {
  const fd = openSync(logFile, 'a')
  const [cmd, argv] = cpus === undefined ? [command, args] : ['taskset', ['-c', cpus, command, ...args]]
  let child
  try {
    child = spawn(cmd, argv, {
      cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', fd, fd]
    })
  } finally {
    closeSync(fd)
  }
  const pid = child.pid
  if (pid === undefined) throw new Error(`could not start ${name} (${command})`)
  const c = child
  /** @type {Promise<number | string | null>} */
  const exited = new Promise((resolve) => c.once('exit', (code, signal) => resolve(code ?? signal)))
  /** @type {Proc} */
  const proc = {
    name,
    // taskset execs the command, so the PID is the command's own
    pid,
    child: c,
    exited,
    output: () => tailOf(logFile),
    alive: () => c.exitCode === null && c.signalCode === null,
    async stop (graceMs = 5000) {
      started.delete(proc)
      if (!proc.alive()) return await exited
      try { process.kill(pid, 'SIGTERM') } catch {}
      const timer = setTimeout(() => { try { process.kill(pid, 'SIGKILL') } catch {} }, graceMs)
      const result = await exited
      clearTimeout(timer)
      return result
    }
  }
  started.add(proc)
  return proc
}

/** Stops every process still running, newest first. */
export async function stopAll () {
  for (const proc of [...started].reverse()) {
    try { await proc.stop() } catch {}
  }
}

/** Last-resort cleanup when the driver is killed: SIGKILL by PID, synchronously. */
export function killAllSync () {
  for (const proc of started) {
    try { process.kill(proc.pid, 'SIGKILL') } catch {}
  }
  started.clear()
}

/**
 * Polls `url` until it answers `status`, the process dies, or `timeoutMs` passes.
 * @param {string} url
 * @param {{ timeoutMs?: number, status?: number, proc?: Proc, dispatcher?: import('undici').Dispatcher, headers?: Record<string, string> }} [opts]
 */
export async function waitForHttp (url, { timeoutMs = 20000, status = 200, proc, dispatcher, headers } = {}) {
  const { request } = await import('undici')
  const deadline = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < deadline) {
    if (proc !== undefined && !proc.alive()) throw new Error(`${proc.name} exited before ${url} answered:\n${proc.output()}`)
    try {
      const res = await request(url, { dispatcher, headers, headersTimeout: 1000, bodyTimeout: 1000 })
      await res.body.dump()
      if (res.statusCode === status) return
      last = `status ${res.statusCode}`
    } catch (err) {
      last = err instanceof Error ? err.message : String(err)
    }
    await sleep(100)
  }
  throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (${last})${proc !== undefined ? '\n' + proc.output() : ''}`)
}

/**
 * Polls until a TCP connection to `port` succeeds: readiness without sending a request, so the
 * idle RSS measured next is that of a process that has served nothing.
 * @param {number} port
 * @param {{ timeoutMs?: number, proc?: Proc }} [opts]
 */
export async function waitForPort (port, { timeoutMs = 20000, proc } = {}) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (proc !== undefined && !proc.alive()) throw new Error(`${proc.name} exited before port ${port} opened:\n${proc.output()}`)
    const ok = await new Promise((resolve) => {
      const s = connect(port, '127.0.0.1')
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    await sleep(50)
  }
  throw new Error(`port ${port} did not open within ${timeoutMs} ms${proc !== undefined ? '\n' + proc.output() : ''}`)
}

const CLK_TCK = 100 // USER_HZ on Linux

/**
 * utime+stime of one process in microseconds, or 0 when it is gone.
 * @param {number} pid
 */
export function cpuMicros (pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15
    return (Number(fields[11]) + Number(fields[12])) * (1e6 / CLK_TCK)
  } catch {
    return 0
  }
}

/**
 * Sum of cpuMicros over several PIDs (nginx master + workers, three gateways, …).
 * @param {number[]} pids
 */
export function cpuMicrosOf (pids) {
  return pids.reduce((sum, pid) => sum + cpuMicros(pid), 0)
}

/**
 * Resident set size of one process in bytes (0 when it is gone).
 * @param {number} pid
 */
export function rssBytes (pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = /VmRSS:\s+(\d+) kB/.exec(status)
    return m === null ? 0 : Number(m[1]) * 1024
  } catch {
    return 0
  }
}

/**
 * Sum of RSS over several PIDs.
 * @param {number[]} pids
 */
export function rssOf (pids) {
  return pids.reduce((sum, pid) => sum + rssBytes(pid), 0)
}

/**
 * Direct children of a PID (nginx workers of a master).
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
 * Pins a running process and all its threads to `cpus` (a taskset CPU list); false if it failed.
 * @param {number} pid
 * @param {string} cpus
 */
export function pinPid (pid, cpus) {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
