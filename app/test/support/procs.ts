// The project's own processes (gateway, mock upstream) for tests, started on free loopback ports
// and stopped by PID; starting, waiting and ports are scripts/lib/procs.mjs's, shared with the
// scripts and the bench.
import type { Test } from 'tap'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { freePort, startProcess, waitForHttp, type Proc } from '../../../scripts/lib/procs.mjs'

export { freePort, freePorts, pidAlive, startProcess, waitForHttp, waitForPort, type Proc } from '../../../scripts/lib/procs.mjs'

export const appDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const repoDir = join(appDir, '..')
export const gatewayEntry = join(appDir, 'dist', 'server.js')
export const mockEntry = join(appDir, 'dist', 'mock-upstream', 'server.js')

/** Starts the shipped mock upstream (app/dist) on a free loopback port. */
export async function startMock (env: Record<string, string> = {}): Promise<Proc & { port: number, url: string }> {
  const port = await freePort()
  const proc = startProcess(process.execPath, [mockEntry], { name: 'mock upstream', cwd: repoDir, env: { MOCK_PORT: String(port), MOCK_HOST: '127.0.0.1', ...env } })
  const url = `http://127.0.0.1:${port}`
  await waitForHttp(`${url}/healthz`, { proc, timeoutMs: 15_000 })
  return { ...proc, port, url }
}

export type GatewayProc = Proc & { port: number, metricsPort: number, url: string, metricsUrl: string }

/** Starts one gateway process (app/dist/server.js) on free loopback ports. */
export async function startGateway (env: Record<string, string>): Promise<GatewayProc> {
  const port = env.PORT !== undefined ? Number(env.PORT) : await freePort()
  const metricsPort = env.METRICS_PORT !== undefined ? Number(env.METRICS_PORT) : await freePort()
  const proc = startProcess(process.execPath, [gatewayEntry], {
    name: 'gateway',
    cwd: repoDir,
    env: { HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env, PORT: String(port), METRICS_PORT: String(metricsPort) }
  })
  const url = `http://127.0.0.1:${port}`
  await waitForHttp(`${url}/healthz`, { proc, timeoutMs: 15_000 })
  return { ...proc, port, metricsPort, url, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` }
}

/** `n` gateway processes with the same environment (replicas behind one edge); killed in teardown. */
export async function startGateways (t: Test, env: Record<string, string>, n = 3): Promise<GatewayProc[]> {
  const out: GatewayProc[] = []
  for (let i = 0; i < n; i++) {
    const gw = await startGateway(env)
    t.teardown(async () => { await gw.stop('SIGKILL') })
    out.push(gw)
  }
  return out
}
