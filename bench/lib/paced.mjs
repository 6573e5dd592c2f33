// @ts-check
// Paced SSE streams timed event by event: time to first token at concurrency 1, inter-frame gaps,
// and the most concurrent streams a target sustains with no lost frame and no stall.
import { clientPool, now, summarize } from './load.mjs'

/** @typedef {import('./types.js').Target} Target */
/** @typedef {import('./types.js').Summary} Summary */

/**
 * The request body of a paced stream: the mock's knobs ride in the body (`mock`), so every
 * target that forwards the body unchanged gets the same pacing from the one mock.
 * @param {Record<string, unknown>} chat
 * @param {number} chunks
 * @param {number} paceMs
 */
export function pacedBody (chat, chunks, paceMs) {
  return JSON.stringify({ ...chat, stream: true, mock: { chunks, chunk_delay_ms: paceMs, first_chunk_delay_ms: 0 } })
}

/**
 * Events a client must receive from the mock's stream of `chunks` contents: the role event, the
 * contents, the finish event and `[DONE]` (the usage event exists only when the client asked).
 * @param {number} chunks
 */
export const expectedEvents = (chunks) => chunks + 3

/**
 * @typedef {{ status: 'ok' | 'error' | 'lost', events: number, ttft_us: number, gaps_us: number[], max_silence_us: number }} StreamTiming
 */

const EVENT = '\ndata: '

/**
 * Sends one stream and timestamps every SSE event as its bytes arrive. Content events are
 * events 1..chunks (event 0 is the role event); gaps are between consecutive content events;
 * the longest silence runs over every event and the wait for the first one.
 * @param {import('undici').Pool} pool
 * @param {Target} target
 * @param {Record<string, string>} headers
 * @param {string} body
 * @param {number} chunks
 * @param {number} timeoutMs
 * @returns {Promise<StreamTiming>}
 */
async function timedStream (pool, target, headers, body, chunks, timeoutMs) {
  const t0 = now()
  /** @type {number[]} */
  const times = []
  let done = false
  try {
    const res = await pool.request({ method: 'POST', path: target.path, headers, body, headersTimeout: timeoutMs, bodyTimeout: timeoutMs })
    if (res.statusCode !== 200) {
      await res.body.dump({ limit: Infinity })
      return { status: 'error', events: 0, ttft_us: NaN, gaps_us: [], max_silence_us: NaN }
    }
    // the body's start counts as a line start; `carry` keeps an event marker split across reads
    let carry = '\n'
    for await (const chunk of res.body) {
      const at = now()
      const text = carry + /** @type {Buffer} */ (chunk).toString('latin1')
      for (let i = text.indexOf(EVENT); i !== -1; i = text.indexOf(EVENT, i + 1)) {
        if (i + EVENT.length > carry.length) times.push(at)
      }
      if (!done && text.includes('data: [DONE]')) done = true
      carry = text.slice(-(EVENT.length - 1))
    }
  } catch {
    return { status: 'error', events: times.length, ttft_us: NaN, gaps_us: [], max_silence_us: NaN }
  }
  /** @type {number[]} */
  const gaps = []
  for (let i = 2; i <= chunks && i < times.length; i++) gaps.push(((times[i] ?? 0) - (times[i - 1] ?? 0)) * 1000)
  let silence = (times[0] ?? t0) - t0
  for (let i = 1; i < times.length; i++) silence = Math.max(silence, (times[i] ?? 0) - (times[i - 1] ?? 0))
  return {
    status: done && times.length >= expectedEvents(chunks) ? 'ok' : 'lost',
    events: times.length,
    ttft_us: ((times[1] ?? NaN) - t0) * 1000,
    gaps_us: gaps,
    max_silence_us: silence * 1000
  }
}

/**
 * `concurrency` clients, each opening one paced stream after another for `durationS`.
 * TTFT (request sent → first content event) and inter-frame gaps in microseconds.
 * @param {Target} target
 * @param {{ chat: Record<string, unknown>, concurrency: number, durationS: number, chunks: number, paceMs: number }} opts
 */
export async function pacedStreams (target, { chat, concurrency, durationS, chunks, paceMs }) {
  const pool = clientPool(target, concurrency)
  const headers = { 'content-type': 'application/json', accept: 'text/event-stream', ...target.headers }
  const body = pacedBody(chat, chunks, paceMs)
  /** @type {number[]} */
  const ttft = []
  /** @type {number[]} */
  const gaps = []
  let ok = 0
  let errors = 0
  let lost = 0
  const deadline = now() + durationS * 1000
  const worker = async () => {
    while (now() < deadline) {
      const s = await timedStream(pool, target, headers, body, chunks, 30_000)
      if (s.status === 'error') { errors++; await new Promise((resolve) => setTimeout(resolve, 10)); continue }
      if (s.status === 'lost') lost++
      else ok++
      ttft.push(s.ttft_us)
      for (const g of s.gaps_us) gaps.push(g)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  await pool.close()
  return { streams: ok, errors, lost, ttft_us: summarize(ttft), gap_us: summarize(gaps) }
}

/**
 * @typedef {{ streams: number, ramp_ms: number, chunks: number, completed: number, errors: number, lost: number, stalled: number,
 *   max_silence_ms: number, ttft_p99_ms: number, gap_p99_us: number, sustained: boolean }} SustainRung
 */

/**
 * One rung of the sustained-streams search: `n` streams opened at `openPerS` a second, each
 * lasting long enough that all `n` are open together for `holdMs`. Sustained when no completed
 * stream lost a frame or went silent for more than `stallFactor` × the pace (the wait for its
 * first event included), and fewer than 0.1% of the streams failed.
 * @param {Target} target
 * @param {{ chat: Record<string, unknown>, n: number, paceMs: number, openPerS: number, holdMs: number, stallFactor: number }} opts
 * @returns {Promise<SustainRung>}
 */
export async function sustainRung (target, { chat, n, paceMs, openPerS, holdMs, stallFactor }) {
  const rampMs = Math.max(200, (n / openPerS) * 1000)
  const chunks = Math.ceil((rampMs + holdMs) / paceMs) + 1
  const pool = clientPool(target, n)
  const headers = { 'content-type': 'application/json', accept: 'text/event-stream', ...target.headers }
  const body = pacedBody(chat, chunks, paceMs)
  const timeoutMs = rampMs + chunks * paceMs + 30_000
  /** @type {Promise<StreamTiming>[]} */
  const all = []
  const t0 = now()
  while (all.length < n) {
    // open every stream that is due, then yield: timers are too coarse for one stream a tick
    const due = Math.min(n, Math.ceil(((now() - t0 + 1) / rampMs) * n))
    while (all.length < due) all.push(timedStream(pool, target, headers, body, chunks, timeoutMs))
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  const results = await Promise.all(all)
  await pool.close()
  const limitUs = stallFactor * paceMs * 1000
  let completed = 0
  let errors = 0
  let lost = 0
  let stalled = 0
  let maxSilence = 0
  /** @type {number[]} */
  const ttft = []
  /** @type {number[]} */
  const gaps = []
  for (const s of results) {
    if (s.status === 'error') { errors++; continue }
    if (s.status === 'lost') lost++
    else completed++
    if (s.max_silence_us > limitUs) stalled++
    maxSilence = Math.max(maxSilence, s.max_silence_us)
    ttft.push(s.ttft_us)
    for (const g of s.gaps_us) gaps.push(g)
  }
  return {
    streams: n,
    ramp_ms: Math.round(rampMs),
    chunks,
    completed,
    errors,
    lost,
    stalled,
    max_silence_ms: maxSilence / 1000,
    ttft_p99_ms: summarize(ttft).p99 / 1000,
    gap_p99_us: summarize(gaps).p99,
    sustained: lost === 0 && stalled === 0 && errors / n < 0.001
  }
}

/**
 * Climbs `rungs` until one is not sustained (or `cap` is passed: the load side's own ceiling,
 * measured on `direct`). Returns the largest sustained rung (0 when the first fails) and every
 * rung run.
 * @param {Target} target
 * @param {{ chat: Record<string, unknown>, rungs: number[], paceMs: number, openPerS: number, holdMs: number, stallFactor: number, cap?: number, log?: (msg: string) => void }} opts
 */
export async function sustainedStreams (target, { rungs, cap, log, ...opts }) {
  /** @type {SustainRung[]} */
  const ran = []
  let best = 0
  for (const n of rungs) {
    if (cap !== undefined && n > cap) break
    const r = await sustainRung(target, { ...opts, n })
    ran.push(r)
    log?.(`    ${target.name} ${String(n).padStart(5)} streams: ${r.sustained ? 'sustained' : 'NOT sustained'} (completed ${r.completed}, errors ${r.errors}, lost ${r.lost}, stalled ${r.stalled}, longest silence ${r.max_silence_ms.toFixed(1)} ms, TTFT p99 ${r.ttft_p99_ms.toFixed(1)} ms, gap p99 ${(r.gap_p99_us / 1000).toFixed(2)} ms)`)
    if (!r.sustained) break
    best = n
    // let the closed connections drain before the next, larger rung
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  const capped = cap !== undefined && best === cap && rungs.some((n) => n > cap)
  return { streams_sustained: best, capped_by_load_side: capped, rungs: ran }
}
