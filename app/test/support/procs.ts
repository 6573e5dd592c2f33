// Spawns the project's own processes (gateway, mock upstream) and stops them by PID.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { waitFor } from './wait.js'

export const appDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const repoDir = join(appDir, '..')
export const gatewayEntry = join(appDir, 'dist', 'server.js')
export const mockEntry = join(appDir, 'dist', 'mock-upstream', 'server.js')

export interface Proc {
  child: ChildProcess
  pid: number
  /** everything the process wrote to stdout and stderr so far */
  output: () => string
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code */
  stop: (signal?: NodeJS.Signals, graceMs?: number) => Promise<number | null>
  exited: Promise<number | null>
}

/** True while `pid` runs; a zombie (dead, not yet reaped by its parent) holds no sockets and counts as gone. */
export function pidAlive (pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

/** A free TCP port on loopback (closed again before it is returned). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
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

export function startProcess (command: string, args: string[], env: Record<string, string>, opts: { cwd?: string } = {}): Proc {
  const child = spawn(command, args, {
    cwd: opts.cwd ?? repoDir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  child.stdout?.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { out += d.toString() })
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code, sig) => resolve(code ?? (sig !== null ? 128 : null)))
  })
  const pid = child.pid
  if (pid === undefined) throw new Error(`could not start ${command}`)
  return {
    child,
    pid,
    output: () => out,
    exited,
    stop: async (signal = 'SIGTERM', graceMs = 5000) => {
      if (child.exitCode !== null || child.signalCode !== null) return await exited
      process.kill(pid, signal)
      const timer = setTimeout(() => { try { process.kill(pid, 'SIGKILL') } catch {} }, graceMs)
      const code = await exited
      clearTimeout(timer)
      return code
    }
  }
}

/** Polls `url` until it answers with `status` (default 200) or `timeoutMs` passes. */
export async function waitForHttp (url: string, { timeoutMs = 15000, status = 200, proc }: { timeoutMs?: number, status?: number, proc?: Proc } = {}): Promise<void> {
  let last = ''
  const answered = await waitFor(async () => {
    if (proc !== undefined && proc.child.exitCode !== null) {
      throw new Error(`process exited with ${proc.child.exitCode} before ${url} answered:\n${proc.output()}`)
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) })
      await res.arrayBuffer()
      last = `status ${res.status}`
      return res.status === status
    } catch (err) {
      last = (err as Error).message
      return false
    }
  }, timeoutMs, 100)
  if (!answered) throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (${last})${proc !== undefined ? '\n' + proc.output() : ''}`)
}

/** Starts the shipped mock upstream on a free loopback port. */
export async function startMock (env: Record<string, string> = {}): Promise<Proc & { port: number, url: string }> {
  const port = await freePort()
  const proc = startProcess(process.execPath, [mockEntry], { MOCK_PORT: String(port), MOCK_HOST: '127.0.0.1', ...env })
  const url = `http://127.0.0.1:${port}`
  await waitForHttp(`${url}/healthz`, { proc })
  return { ...proc, port, url }
}

/** Starts one gateway process (app/dist/server.js) on free loopback ports. */
export async function startGateway (env: Record<string, string>): Promise<Proc & { port: number, metricsPort: number, url: string, metricsUrl: string }> {
  const port = env.PORT !== undefined ? Number(env.PORT) : await freePort()
  const metricsPort = env.METRICS_PORT !== undefined ? Number(env.METRICS_PORT) : await freePort()
  const proc = startProcess(process.execPath, [gatewayEntry], {
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    ...env,
    PORT: String(port),
    METRICS_PORT: String(metricsPort)
  })
  const url = `http://127.0.0.1:${port}`
  await waitForHttp(`${url}/healthz`, { proc })
  return { ...proc, port, metricsPort, url, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` }
}
