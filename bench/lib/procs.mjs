// Child processes of one bench run: start, wait for, sample (/proc), and stop every one of them by PID.
import { spawn } from 'node:child_process'
import { readFileSync, createWriteStream } from 'node:fs'
import { freePort, sleep } from '../../scripts/lib/procs.mjs'

export { freePort, sleep }

const started = new Set()

/**
 * Spawns `command` with a clean environment plus `env`; output goes to `logFile`.
 * The process is remembered so `stopAll()` ends it whatever happens to the run.
 */
export function startProcess (name, command, args, { env = {}, logFile, cwd } = {}) {
  const child = spawn(command, args, {
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`)
  let tail = ''
  const log = logFile !== undefined ? createWriteStream(logFile) : undefined
  const onData = (d) => {
    log?.write(d)
    tail = (tail + d.toString()).slice(-4000)
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => { log?.end(); resolve(code ?? signal) }))
  const proc = {
    name,
    pid: child.pid,
    child,
    exited,
    output: () => tail,
    alive: () => child.exitCode === null && child.signalCode === null,
    async stop (graceMs = 5000) {
      started.delete(proc)
      if (!proc.alive()) return await exited
      try { process.kill(proc.pid, 'SIGTERM') } catch {}
      const timer = setTimeout(() => { try { process.kill(proc.pid, 'SIGKILL') } catch {} }, graceMs)
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

/** Polls `url` until it answers `status`, the process dies, or `timeoutMs` passes. */
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
      last = err.message
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (${last})${proc !== undefined ? '\n' + proc.output() : ''}`)
}

const CLK_TCK = 100 // USER_HZ on Linux

/** utime+stime of one process in microseconds, or 0 when it is gone. */
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

/** Sum of cpuMicros over several PIDs (nginx master + workers, three gateways, …). */
export function cpuMicrosOf (pids) {
  return pids.reduce((sum, pid) => sum + cpuMicros(pid), 0)
}

/** Resident set size of one process in bytes. */
export function rssBytes (pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const m = /VmRSS:\s+(\d+) kB/.exec(status)
  return m === null ? 0 : Number(m[1]) * 1024
}

/** Direct children of a PID (nginx workers of a master). */
export function childPids (pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

