// Process plumbing for the native stack: free ports, readiness probes, and a supervised child
// that is restarted when it dies (like compose's `restart: unless-stopped`).
import { spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** A free TCP port on loopback (closed again before it is returned). */
export function freePort () {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.unref()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

/** Distinct free ports (a port handed out twice in one run would make two services collide). */
export async function freePorts (n) {
  const ports = new Set()
  while (ports.size < n) ports.add(await freePort())
  return [...ports]
}

export function pidAlive (pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
  } catch (err) {
    return err.code === 'EPERM'
  }
  // A zombie (exited, not yet reaped) counts as gone.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return true
  }
}

/** Resolves when `probe()` resolves true; rejects with the last failure after `timeoutMs`. */
export async function waitUntil (what, probe, { timeoutMs = 30000, intervalMs = 100, abort } = {}) {
  const deadline = Date.now() + timeoutMs
  let last = 'no answer'
  while (Date.now() < deadline) {
    const reason = abort?.()
    if (reason) throw new Error(`${what}: ${reason}`)
    try {
      const ok = await probe()
      if (ok === true) return
      last = String(ok)
    } catch (err) {
      last = err.message
    }
    await sleep(intervalMs)
  }
  throw new Error(`${what} not ready within ${timeoutMs} ms (${last})`)
}

export async function httpOk (url, status = 200) {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) })
  await res.arrayBuffer()
  return res.status === status ? true : `status ${res.status}`
}

/** Sends a Redis PING over RESP and expects +PONG. */
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

/**
 * One child process, output appended to `logFile`, restarted `restartDelayMs` after an
 * unexpected exit (backing off up to 5 s while it keeps dying young). `onChange` runs after
 * every (re)start and exit so the caller can publish the current pid.
 */
export class Supervised {
  constructor ({ name, command, args, env, cwd, logFile, ready, restart = true, restartDelayMs = 500, onChange = () => {}, log = () => {} }) {
    Object.assign(this, { name, command, args, env, cwd, logFile, ready, restart, restartDelayMs, onChange, log })
    this.child = null
    this.pid = null
    this.restarts = 0
    this.stopping = false
    this.exits = 0
    this.startedAt = 0
    this.fastDeaths = 0
    this.timer = null
  }

  spawnOnce () {
    const fd = openSync(this.logFile, 'a')
    try {
      this.child = spawn(this.command, this.args, {
        cwd: this.cwd,
        env: this.env,
        stdio: ['ignore', fd, fd]
      })
    } finally {
      closeSync(fd)
    }
    this.pid = this.child.pid ?? null
    this.startedAt = Date.now()
    const child = this.child
    child.on('error', (err) => this.log(`${this.name}: ${err.message}`))
    child.on('exit', (code, signal) => {
      if (this.child !== child) return
      this.exits += 1
      this.child = null
      this.pid = null
      this.onChange()
      if (this.stopping || !this.restart) return
      // A process that keeps dying young is restarted less and less often, up to every 5 s.
      this.fastDeaths = Date.now() - this.startedAt < 2000 ? this.fastDeaths + 1 : 0
      const wait = Math.min(this.restartDelayMs * 2 ** Math.max(0, this.fastDeaths - 1), 5000)
      this.log(`${this.name} exited (${signal ?? `code ${code}`}); restarting in ${wait} ms`)
      this.timer = setTimeout(() => {
        this.timer = null
        if (this.stopping) return
        this.restarts += 1
        this.spawnOnce()
        this.onChange()
      }, wait)
    })
  }

  /** Starts the process and waits until `ready()` says so (or the process exits). */
  async start (timeoutMs) {
    this.spawnOnce()
    this.onChange()
    const startExits = this.exits
    await waitUntil(this.name, () => this.ready(), {
      timeoutMs,
      abort: () => this.exits !== startExits ? `exited during start-up (see ${this.logFile})` : undefined
    })
  }

  /** SIGTERM (or `signal`), SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop (signal = 'SIGTERM', graceMs = 10000) {
    this.stopping = true
    if (this.timer !== null) clearTimeout(this.timer)
    const child = this.child
    if (child === null || child.exitCode !== null || child.signalCode !== null) return
    const gone = new Promise((resolve) => child.once('exit', resolve))
    try { child.kill(signal) } catch {}
    const killer = setTimeout(() => { try { child.kill('SIGKILL') } catch {} }, graceMs)
    await gone
    clearTimeout(killer)
  }
}
