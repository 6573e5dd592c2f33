// @ts-check
// Load generators: closed-loop rungs (wrk, or an undici client with microsecond latencies when
// wrk is missing), an open-loop constant-rate client, and the 100-stream SSE phase.
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Pool } from 'undici'

/** @typedef {import('./types.js').Target} Target */
/** @typedef {import('./types.js').Summary} Summary */

/** Milliseconds on the monotonic clock, fractional. */
export const now = () => Number(process.hrtime.bigint()) / 1e6

/**
 * Nearest-rank percentile of sorted samples.
 * @param {ArrayLike<number>} sorted
 * @param {number} p
 */
export function percentile (sorted, p) {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i] ?? NaN
}

export const round3 = (/** @type {number} */ x) => Math.round(x * 1000) / 1000

/**
 * Percentiles, mean and max of samples, in the samples' own unit.
 * @param {number[]} samples
 * @returns {Summary}
 */
export function summarize (samples) {
  const sorted = Float64Array.from(samples).sort()
  let sum = 0
  for (const x of sorted) sum += x
  return {
    n: sorted.length,
    p50: round3(percentile(sorted, 50)),
    p90: round3(percentile(sorted, 90)),
    p99: round3(percentile(sorted, 99)),
    'p99.9': round3(percentile(sorted, 99.9)),
    mean: round3(sum / (sorted.length || 1)),
    max: round3(sorted.length === 0 ? NaN : sorted[sorted.length - 1] ?? NaN)
  }
}

/**
 * A client pool for one target; `ca` trusts the stack's CA.
 * @param {Target} target
 * @param {number} connections
 */
export function clientPool (target, connections) {
  return new Pool(target.origin, {
    connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    connect: target.ca !== undefined ? { ca: target.ca, servername: target.servername } : undefined
  })
}

/**
 * @param {Target} target
 * @param {string} body
 * @param {string} file
 */
function wrkLua (target, body, file) {
  const headers = Object.entries(target.headers)
    .map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`).join('\n')
  writeFileSync(file, `wrk.method = "POST"
wrk.body = ${JSON.stringify(body)}
wrk.headers["Content-Type"] = "application/json"
${headers}
done = function (summary, latency, requests)
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}\\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout, latency:percentile(50), latency:percentile(99)))
end
`)
}

/** @type {string | null | undefined} */
let wrkPath
export async function hasWrk () {
  if (wrkPath !== undefined) return wrkPath !== null
  wrkPath = await new Promise((resolve) => execFile('sh', ['-c', 'command -v wrk'], (err, out) => resolve(err ? null : out.trim())))
  return wrkPath !== null
}

/**
 * @typedef {{ tool: string, requests: number, rps: number, errors: number, p50_us: number, p99_us: number }} ClosedLoopResult
 */

/**
 * Closed loop: `connections` keep-alive connections, each sending the next request as soon as
 * the previous answer has been read, for `durationS`. Latency is from hand-off to the last body
 * byte. Non-2xx answers are errors. wrk when installed (it costs the load side least), else an
 * undici client in this process.
 * @param {Target} target
 * @param {{ body: string, connections: number, durationS: number, tmpDir: string, tool?: 'wrk' | 'undici' }} opts
 * @returns {Promise<ClosedLoopResult>}
 */
export async function closedLoop (target, { body, connections, durationS, tmpDir, tool }) {
  if (tool !== 'undici' && await hasWrk() && wrkPath) {
    const script = join(tmpDir, `wrk-${target.name}.lua`)
    wrkLua(target, body, script)
    const bin = wrkPath
    // wrk takes whole seconds
    const seconds = Math.max(1, Math.round(durationS))
    /** @type {string} */
    const stdout = await new Promise((resolve, reject) => {
      execFile(bin, ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', script, target.url],
        { timeout: (seconds + 30) * 1000 }, (err, out, errOut) => err ? reject(new Error(`wrk: ${err.message}\n${errOut}`)) : resolve(out))
    })
    const m = /WRKJSON (\{.*\})/.exec(stdout)
    if (m === null || m[1] === undefined) throw new Error(`wrk printed no summary:\n${stdout}`)
    /** @type {{ requests: number, duration_us: number, connect: number, read: number, write: number, status: number, timeout: number, p50_us: number, p99_us: number }} */
    const r = JSON.parse(m[1])
    const errors = r.connect + r.read + r.write + r.status + r.timeout
    return { tool: 'wrk', requests: r.requests, rps: r.requests / (r.duration_us / 1e6), errors, p50_us: r.p50_us, p99_us: r.p99_us }
  }
  const pool = clientPool(target, connections)
  const headers = { 'content-type': 'application/json', ...target.headers }
  /** @type {number[]} */
  const latencies = []
  let errors = 0
  const start = now()
  const deadline = start + durationS * 1000
  const worker = async () => {
    while (now() < deadline) {
      const t0 = now()
      try {
        const res = await pool.request({ method: 'POST', path: target.path, headers, body })
        await res.body.dump({ limit: Infinity })
        if (res.statusCode === 200) latencies.push((now() - t0) * 1000)
        else errors++
      } catch {
        errors++
      }
    }
  }
  await Promise.all(Array.from({ length: connections }, worker))
  const elapsedS = (now() - start) / 1000
  await pool.close()
  const s = summarize(latencies)
  return { tool: 'undici', requests: latencies.length, rps: latencies.length / elapsedS, errors, p50_us: s.p50, p99_us: s.p99 }
}

/**
 * Open-loop constant rate: a request is due every 1000/rate ms whatever the previous ones are
 * doing (no coordinated omission while the pool has free connections). Latency runs from the
 * moment the request is handed to the pool until its body has been read completely, in ms.
 * @param {Target} target
 * @param {{ body: string, rate: number, durationS: number, connections?: number }} opts
 */
export async function fixedRate (target, { body, rate, durationS, connections = 64 }) {
  const pool = clientPool(target, connections)
  const headers = { 'content-type': 'application/json', ...target.headers }
  /** @type {number[]} */
  const latencies = []
  let errors = 0
  let sent = 0
  const total = Math.round(rate * durationS)
  const interval = 1000 / rate
  const start = now()
  /** @type {Set<Promise<void>>} */
  const pending = new Set()
  const one = async () => {
    const t0 = now()
    try {
      const res = await pool.request({ method: 'POST', path: target.path, headers, body })
      await res.body.dump({ limit: Infinity })
      if (res.statusCode !== 200) errors++
      else latencies.push(now() - t0)
    } catch {
      errors++
    }
  }
  await new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor((now() - start) / interval) + 1)
      while (sent < due) {
        sent++
        const p = one()
        pending.add(p)
        p.finally(() => pending.delete(p))
      }
      if (sent >= total) { resolve(undefined); return }
      setTimeout(tick, Math.max(0, start + sent * interval - now()))
    }
    tick()
  })
  await Promise.all(pending)
  await pool.close()
  return { sent, errors, achieved_rps: sent / ((now() - start) / 1000), latency_ms: summarize(latencies) }
}

/**
 * `concurrency` clients each opening one SSE stream after another for `durationS`. TTFB is the
 * first body byte (the first event), total is until the body ended, in ms; a stream without
 * `[DONE]` counts as an error.
 * @param {Target} target
 * @param {{ body: string, concurrency: number, durationS: number }} opts
 */
export async function streams (target, { body, concurrency, durationS }) {
  const pool = clientPool(target, concurrency)
  const headers = { 'content-type': 'application/json', accept: 'text/event-stream', ...target.headers }
  /** @type {number[]} */
  const ttfb = []
  /** @type {number[]} */
  const totals = []
  let errors = 0
  const deadline = now() + durationS * 1000
  const worker = async () => {
    while (now() < deadline) {
      const t0 = now()
      try {
        const res = await pool.request({ method: 'POST', path: target.path, headers, body })
        let first = 0
        let tail = ''
        for await (const chunk of res.body) {
          if (first === 0) first = now()
          tail = (tail + /** @type {Buffer} */ (chunk).toString('latin1')).slice(-64)
        }
        if (res.statusCode !== 200 || !tail.includes('[DONE]')) errors++
        else {
          ttfb.push(first - t0)
          totals.push(now() - t0)
        }
      } catch {
        errors++
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  await pool.close()
  return { streams: totals.length, errors, ttfb_ms: summarize(ttfb), total_ms: summarize(totals) }
}
