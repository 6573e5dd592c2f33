// Load generators: saturation throughput (wrk, or autocannon when wrk is missing), an open-loop
// constant-rate client, and paced SSE streams. Latencies are kept in microseconds, not whole ms.
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Pool } from 'undici'

const now = () => Number(process.hrtime.bigint()) / 1e6 // ms, fractional

export function percentile (sorted, p) {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]
}

export function summarize (samples, ps = [50, 90, 99, 99.9]) {
  const sorted = Float64Array.from(samples).sort()
  const out = { n: sorted.length }
  for (const p of ps) out[`p${p}`] = round3(percentile(sorted, p))
  out.mean = round3(sorted.reduce((a, b) => a + b, 0) / (sorted.length || 1))
  return out
}

export const round3 = (x) => Math.round(x * 1000) / 1000

/** A client pool for one target; `tls.ca` trusts the stack's CA. */
export function clientPool (target, connections) {
  return new Pool(target.origin, {
    connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    connect: target.ca !== undefined ? { ca: target.ca, servername: target.servername } : undefined
  })
}

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

let wrkPath
export async function hasWrk () {
  if (wrkPath !== undefined) return wrkPath !== null
  wrkPath = await new Promise((resolve) => execFile('sh', ['-c', 'command -v wrk'], (err, out) => resolve(err ? null : out.trim())))
  return wrkPath !== null
}

/**
 * Closed-loop saturation: `connections` keep-alive connections sending back to back for
 * `durationS`. Returns requests, rps and errors (non-2xx counted as errors).
 */
export async function throughput (target, { body, connections, durationS, tmpDir }) {
  if (await hasWrk()) {
    const script = join(tmpDir, `wrk-${target.name}.lua`)
    wrkLua(target, body, script)
    const stdout = await new Promise((resolve, reject) => {
      execFile(wrkPath, ['-t1', `-c${connections}`, `-d${durationS}s`, '--timeout', '10s', '-s', script, target.url],
        { timeout: (durationS + 30) * 1000 }, (err, out, errOut) => err ? reject(new Error(`wrk: ${err.message}\n${errOut}`)) : resolve(out))
    })
    const m = /WRKJSON (\{.*\})/.exec(stdout)
    if (m === null) throw new Error(`wrk printed no summary:\n${stdout}`)
    const r = JSON.parse(m[1])
    const errors = r.connect + r.read + r.write + r.status + r.timeout
    return { tool: 'wrk', requests: r.requests, rps: r.requests / (r.duration_us / 1e6), errors, p50_ms: r.p50_us / 1000, p99_ms: r.p99_us / 1000 }
  }
  const { default: autocannon } = await import('autocannon')
  const result = await autocannon({
    url: target.url,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...target.headers },
    body,
    connections,
    duration: durationS,
    tlsOptions: target.ca !== undefined ? { ca: target.ca } : undefined
  })
  const requests = result['2xx']
  return { tool: 'autocannon', requests, rps: requests / durationS, errors: result.errors + result.timeouts + result.non2xx, p50_ms: result.latency.p50, p99_ms: result.latency.p99 }
}

/**
 * Open-loop constant rate: a request is due every 1000/rate ms whatever the previous ones are
 * doing (no coordinated omission while the pool has free connections). Latency runs from the
 * moment the request is handed to the pool until its body has been read completely.
 */
export async function fixedRate (target, { body, rate, durationS, connections = 64 }) {
  const pool = clientPool(target, connections)
  const headers = { 'content-type': 'application/json', ...target.headers }
  const latencies = []
  let errors = 0
  let sent = 0
  const total = Math.round(rate * durationS)
  const interval = 1000 / rate
  const start = now()
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
      if (sent >= total) return resolve()
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
 * first body byte (the first event), total is until the body ended; a stream without `[DONE]`
 * counts as an error.
 */
export async function streams (target, { body, concurrency, durationS }) {
  const pool = clientPool(target, concurrency)
  const headers = { 'content-type': 'application/json', accept: 'text/event-stream', ...target.headers }
  const ttfb = []
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
          tail = (tail + chunk.toString('latin1')).slice(-64)
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
