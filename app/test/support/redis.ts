// A real redis-server for one test: its own free loopback port, no persistence, stopped in
// teardown; it can be stopped and started again on the same port (Redis outages).
import type { Test } from 'tap'
import { freePort, startProcess, type Proc } from './procs.js'
import { waitUntil } from './wait.js'

export interface TestRedis {
  url: string
  port: number
  stop: () => Promise<void>
  start: () => Promise<void>
}

export async function startRedis (t: Test): Promise<TestRedis> {
  const port = await freePort()
  let proc: Proc | undefined
  const start = async (): Promise<void> => {
    const p = startProcess('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'])
    proc = p
    await waitUntil('redis-server ready', () => p.output().includes('Ready to accept connections') || p.output(), {
      timeoutMs: 10_000,
      intervalMs: 50,
      abort: () => p.alive() ? undefined : `it exited:\n${p.output()}`
    })
  }
  const stop = async (): Promise<void> => { await proc?.stop() }
  await start()
  t.teardown(stop)
  return { url: `redis://127.0.0.1:${port}`, port, stop, start }
}
