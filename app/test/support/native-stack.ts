// The native stack (scripts/stack-native.mjs: nginx, gateway replicas, Redis, the mock upstream,
// optionally Prometheus) for the stack-level tests: start, stop, reload, read its state, and speak
// HTTPS to its edge the way a client does.
import type { Test } from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import type http from 'node:http'
import https from 'node:https'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { StackState } from '../../../scripts/lib/stack-files.mjs'
import { repoDir } from './procs.js'

const execFileP = promisify(execFile)
const launcher = join(repoDir, 'scripts', 'stack-native.mjs')
// nginx, redis-server and prometheus come from Debian packages, some in /usr/sbin.
const env = { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` }

export type { StackState }

async function launch (args: string[], timeoutMs: number): Promise<void> {
  try {
    await execFileP(process.execPath, [launcher, ...args], { cwd: repoDir, timeout: timeoutMs, env })
  } catch (err) {
    const e = err as { stdout?: string, stderr?: string, message: string }
    throw new Error(`stack-native ${args[0] ?? ''} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`)
  }
}

export function readStackState (dir: string): StackState {
  return JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as StackState
}

/**
 * Starts a stack in a new temporary directory (`state.dir`), owned by this process (it stops if
 * the test process dies), stopped and removed in teardown; returns its state.
 */
export async function startNativeStack (t: Test, args: string[]): Promise<StackState> {
  const dir = mkdtempSync(join(tmpdir(), 'llm-gateway-stack-'))
  t.teardown(async () => {
    await stopNativeStack(dir)
    rmSync(dir, { recursive: true, force: true })
  })
  await launch(['up', '--dir', dir, '--owner-pid', String(process.pid), ...args], 90_000)
  return readStackState(dir)
}

export async function stopNativeStack (dir: string): Promise<void> {
  await launch(['down', '--dir', dir], 60_000).catch((err: Error) => { console.error(err.message) })
}

/** Re-renders nginx with new edge options and reloads it. */
export async function reloadNativeStack (dir: string, args: string[]): Promise<void> {
  await launch(['reload', '--dir', dir, ...args], 60_000)
}

/** The plaintext gateway key `id` of a stack ("default" always exists; others from `--key`). */
export function stackKey (state: StackState, id: string): string {
  const k = state.keys.find((x) => x.id === id)
  if (k === undefined) throw new Error(`the stack has no key ${id}`)
  return k.key
}

export interface EdgeAnswer {
  status: number
  headers: http.IncomingHttpHeaders
  rawHeaders: string[]
  body: string
}

export interface EdgeRequestOptions {
  headers?: Record<string, string>
  body?: string | Buffer
  agent?: https.Agent | false
  timeoutMs?: number
  localAddress?: string
}

const cas = new Map<string, Buffer>()
/** The stack's CA certificate, read once. */
export function caOf (state: StackState): Buffer {
  const ca = cas.get(state.ca) ?? readFileSync(state.ca)
  cas.set(state.ca, ca)
  return ca
}

/** One HTTPS/1.1 request to the stack's nginx, trusting the stack's CA; the whole body read. */
export async function edgeRequest (state: StackState, method: string, path: string, opts: EdgeRequestOptions = {}): Promise<EdgeAnswer> {
  return await new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1',
      port: state.nginx.httpsPort,
      method,
      path,
      ca: caOf(state),
      agent: opts.agent ?? false,
      headers: opts.headers,
      localAddress: opts.localAddress
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks).toString() }))
      res.on('error', reject)
    })
    req.setTimeout(opts.timeoutMs ?? 15_000, () => req.destroy(new Error('client timeout')))
    req.on('error', reject)
    req.end(opts.body)
  })
}

/** Every value of header `name` (lower case), from the raw list: shows a header sent twice. */
export function rawValues (res: EdgeAnswer, name: string): string[] {
  const out: string[] = []
  for (let i = 0; i < res.rawHeaders.length; i += 2) {
    if (res.rawHeaders[i]?.toLowerCase() === name) out.push(res.rawHeaders[i + 1] ?? '')
  }
  return out
}

/** Runs `total` requests with at most `concurrency` in flight; `make(i)` starts one. */
export async function pool<T> (total: number, concurrency: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array<T>(total)
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) {
      const i = next++
      results[i] = await make(i)
    }
  }))
  return results
}

/** Lines of nginx's access log that contain `needle` (nginx logs a request after answering it: poll). */
export function accessLogLines (state: StackState, needle: string): string[] {
  return readFileSync(state.nginx.accessLog, 'utf8').split('\n').filter((l) => l.includes(needle))
}
