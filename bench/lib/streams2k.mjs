// @ts-check
// Many concurrent idle-ish streams on ONE gateway process: memory per stream, event-loop delay,
// and whether the in-flight gauge and RSS come back once the streams end.
import { Pool } from 'undici'
import { collectGarbage } from './inspector.mjs'
import { rssBytes, sleep } from './procs.mjs'

/** @typedef {import('./types.js').Target} Target */

const INFLIGHT = 'llm_gateway_requests_in_flight'
const LAG_P99 = 'nodejs_eventloop_lag_p99_seconds'
const HEAP_USED = 'nodejs_heap_size_used_bytes'

/**
 * Sums the samples of each named metric in one scrape (every series of a name added up).
 * @param {string} metricsUrl
 * @param {string[]} names
 * @returns {Promise<Record<string, number>>}
 */
export async function scrape (metricsUrl, names) {
  const res = await fetch(metricsUrl)
  const text = await res.text()
  /** @type {Record<string, number>} */
  const out = Object.fromEntries(names.map((n) => [n, NaN]))
  for (const line of text.split('\n')) {
    for (const name of names) {
      if (line.startsWith(name + ' ') || line.startsWith(name + '{')) {
        const v = Number(line.slice(line.lastIndexOf(' ') + 1))
        const was = out[name] ?? NaN
        out[name] = Number.isNaN(was) ? v : was + v
      }
    }
  }
  return out
}

/**
 * Opens `count` streams over `rampMs`, holds them for `holdMs` while sampling RSS, the in-flight
 * gauge and the event-loop delay, then waits for them to end, for the gauge to return to 0 and
 * (up to `settleMs`) for RSS to come back within 20% of idle.
 * @param {Target} gateway
 * @param {{ count: number, rampMs: number, holdMs: number, settleMs: number, body: string, log?: (msg: string) => void }} opts
 */
export async function manyStreams (gateway, { count, rampMs, holdMs, settleMs, body, log }) {
  const pid = gateway.proc?.pid
  const metricsUrl = gateway.metricsUrl
  if (pid === undefined || metricsUrl === undefined) throw new Error(`${gateway.name}: the 2,000-stream test needs a gateway process with metrics`)
  /** @param {string[]} names */
  const scrapeGw = async (names) => await scrape(metricsUrl, names)
  /** @param {string} name */
  const metric = async (name) => (await scrape(metricsUrl, [name]))[name] ?? NaN
  const headers = { 'content-type': 'application/json', ...gateway.headers }
  // warm the code paths so "idle" is a process that has served traffic, not a cold one
  const warm = new Pool(gateway.origin, { connections: 8 })
  const warmBody = JSON.stringify({ ...JSON.parse(body), mock: { chunks: 5, chunk_delay_ms: 0 } })
  for (let i = 0; i < 25; i++) {
    await Promise.all(Array.from({ length: 8 }, async () => {
      const res = await warm.request({ method: 'POST', path: gateway.path, headers, body: warmBody })
      await res.body.dump({ limit: Infinity })
    }))
  }
  await warm.close()
  await sleep(2000)
  const rssIdle = rssBytes(pid)
  const heapIdle = await metric(HEAP_USED)

  // prom-client resets its delay histogram at each scrape, so every scrape gives the p99 of the
  // window since the previous one; the worst window of each phase is kept
  let phase = /** @type {'ramp' | 'hold' | 'drain'} */ ('ramp')
  const worstLag = { ramp: 0, hold: 0 }
  let rssPeak = 0
  let inflightPeak = 0
  let heapPeak = 0
  let sampling = true
  await scrapeGw([LAG_P99])
  const sampler = (async () => {
    while (sampling) {
      await sleep(500)
      const m = await scrapeGw([INFLIGHT, LAG_P99, HEAP_USED])
      rssPeak = Math.max(rssPeak, rssBytes(pid))
      heapPeak = Math.max(heapPeak, m[HEAP_USED] ?? 0)
      inflightPeak = Math.max(inflightPeak, m[INFLIGHT] ?? 0)
      const lag = m[LAG_P99] ?? NaN
      if (phase !== 'drain' && !Number.isNaN(lag)) worstLag[phase] = Math.max(worstLag[phase], lag)
    }
  })()

  const pool = new Pool(gateway.origin, { connections: count + 16, keepAliveTimeout: 60_000 })
  let completed = 0
  let failed = 0
  let opened = 0
  const streamHeaders = { ...headers, accept: 'text/event-stream' }
  const one = async () => {
    try {
      const res = await pool.request({ method: 'POST', path: gateway.path, headers: streamHeaders, body, headersTimeout: 120_000, bodyTimeout: 120_000 })
      opened++
      if (opened % 500 === 0) openMarks.push(`${opened}@${((Date.now() - t0) / 1000).toFixed(1)}s`)
      let tail = ''
      for await (const chunk of res.body) tail = (tail + /** @type {Buffer} */ (chunk).toString('latin1')).slice(-64)
      if (res.statusCode === 200 && tail.includes('[DONE]')) completed++
      else failed++
    } catch {
      failed++
    }
  }
  /** @type {Promise<void>[]} */
  const all = []
  /** @type {string[]} */
  const openMarks = []
  const t0 = Date.now()
  while (all.length < count) {
    // open every stream that is due, then yield: timers are too coarse for one stream a tick
    const due = Math.min(count, Math.ceil(((Date.now() - t0 + 1) / rampMs) * count))
    while (all.length < due) all.push(one())
    await sleep(5)
  }
  const openDeadline = Date.now() + 10_000
  while (opened < count - failed && Date.now() < openDeadline) await sleep(50)
  await sleep(600) // let the sampler close the ramp window
  phase = 'hold'
  await sleep(holdMs)
  phase = 'drain'
  const inflightHold = await metric(INFLIGHT)
  log?.(`  ${opened}/${count} streams open (${openMarks.join(' ')}); in-flight ${inflightHold}, RSS peak ${(rssPeak / 2 ** 20).toFixed(1)} MiB, event-loop delay p99 ramp ${(worstLag.ramp * 1000).toFixed(1)} ms, hold ${(worstLag.hold * 1000).toFixed(1)} ms`)
  await Promise.all(all)
  sampling = false
  await sampler
  await pool.close()

  let inflightAfter = NaN
  for (let i = 0; i < 50; i++) {
    inflightAfter = await metric(INFLIGHT)
    if (inflightAfter === 0) break
    await sleep(100)
  }
  // V8 gives memory back lazily (its memory reducer runs once allocation goes quiet)
  const tEnd = Date.now()
  let rssAfter = rssBytes(pid)
  while (rssAfter > rssIdle * 1.2 && Date.now() - tEnd < settleMs) {
    await sleep(500)
    rssAfter = rssBytes(pid)
  }
  // JS heap vs RSS tells a leak (heap stays up) from memory the allocator keeps (only RSS stays up)
  const heapAfter = await metric(HEAP_USED)
  // then a forced full collection (through the inspector, on loopback): what is left is retained
  /** @type {{ rss_after_gc_mib?: number, heap_used_after_gc_mib?: number }} */
  let afterGc = {}
  if (gateway.inspectPort !== undefined) {
    await collectGarbage(gateway.inspectPort)
    await sleep(1000)
    afterGc = {
      rss_after_gc_mib: rssBytes(pid) / 2 ** 20,
      heap_used_after_gc_mib: (await metric(HEAP_USED)) / 2 ** 20
    }
  }
  const held = Math.max(1, Math.min(count, inflightPeak))
  return {
    streams: count,
    completed,
    failed,
    in_flight_peak: inflightPeak,
    rss_idle_mib: rssIdle / 2 ** 20,
    rss_during_mib: rssPeak / 2 ** 20,
    rss_after_mib: rssAfter / 2 ** 20,
    rss_settle_s: (Date.now() - tEnd) / 1000,
    heap_used_idle_mib: heapIdle / 2 ** 20,
    heap_used_peak_mib: heapPeak / 2 ** 20,
    heap_used_after_mib: heapAfter / 2 ** 20,
    rss_per_stream_kib: (rssPeak - rssIdle) / held / 1024,
    rss_after_vs_idle: rssAfter / rssIdle,
    eventloop_delay_p99_ms: worstLag.hold * 1000,
    eventloop_delay_p99_ramp_ms: worstLag.ramp * 1000,
    in_flight_after: inflightAfter,
    ...afterGc,
    opened_at: openMarks
  }
}
