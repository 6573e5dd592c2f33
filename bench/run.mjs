#!/usr/bin/env node
// @ts-check
// Benchmarks on loopback, in one invocation: direct to the mock upstream, nginx, a bare undici
// proxy, one gateway with the shipped defaults (and one at LOG_LEVEL=warn), the full stack and
// Portkey, alternating targets round-robin so machine drift hits all of them alike; medians over
// rounds go to bench/results/. The system under test is pinned to one core, the mock and the
// load generator to another (taskset), when the machine allows it.
//
//   node bench/run.mjs [--rounds N] [--quick] [--targets a,b] [--no-profile] [--no-streams2k] [--no-pin] [--app DIR]
import { mkdirSync, readdirSync, rmSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { Agent, request } from 'undici'
import { closedLoop, fixedRate, hasWrk, streams } from './lib/load.mjs'
import { pacedStreams, sustainedStreams } from './lib/paced.mjs'
import { frontierOf, median, pairedMedian, rungMedians } from './lib/frontier.mjs'
import { RssSampler, recoveredRss } from './lib/memory.mjs'
import { planCpus } from './lib/pin.mjs'
import { cpuMicrosOf, freePort, killAllSync, sleep, stopAll } from './lib/procs.mjs'
import { benchDir, directTarget, snapshotApp, startGateway, startMock, startNginx, startPortkey, startRedis, startStack, startUndiciProxy, startFastifyProxy } from './lib/targets.mjs'
import { manyStreams } from './lib/streams2k.mjs'
import { summarizeProfile } from './lib/cpuprofile.mjs'
import { appBuild, machineInfo, writeResults } from './lib/report.mjs'

/** @typedef {import('./lib/types.js').Target} Target */
/** @typedef {import('./lib/types.js').Rung} Rung */

const ALL_TARGETS = ['direct', 'nginx', 'undici-proxy', 'fastify-proxy', 'gateway', 'gateway-warn', 'stack', 'portkey']
const QUICK_TARGETS = ['direct', 'undici-proxy', 'gateway']
// The gateway's default upstream pool (UPSTREAM_MAX_CONNECTIONS in app/src/config.ts); the bare
// proxy gets the same, so the two differ in code, not in configuration.
const GATEWAY_DEFAULT_UPSTREAM_CONNECTIONS = 256

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string' },
    quick: { type: 'boolean', default: false },
    targets: { type: 'string' },
    'no-profile': { type: 'boolean', default: false },
    'no-streams2k': { type: 'boolean', default: false },
    'no-pin': { type: 'boolean', default: false },
    app: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false }
  }
})
if (opts.help === true) {
  console.log(`usage: node bench/run.mjs [--rounds N] [--quick] [--targets ${ALL_TARGETS.join(',')}] [--no-profile] [--no-streams2k] [--no-pin] [--app DIR]
  --quick   smoke run: 1 short round over ${QUICK_TARGETS.join(', ')} (unless --targets), no 2,000-stream test, no profile
  --app     another build of app/ to measure (dist/, package.json, models.json, node_modules); the stack target always runs app/dist`)
  process.exit(0)
}

const quick = opts.quick === true
// durations in seconds; --quick is a smoke run (one round, short phases, no profile)
const cfg = {
  rounds: Number(opts.rounds ?? (quick ? 1 : 3)),
  warmupS: quick ? 1 : 2,
  // the closed-loop concurrency sweep: the frontier, the added p99 at concurrency 1 and today's
  // 64-connection throughput all come from it
  sweep: quick ? [1, 8, 64, 256] : [1, 2, 4, 8, 16, 32, 64, 128, 256],
  rungS: 2,
  connections: 64,
  frontierBoundsMs: [1, 5, 10, 50],
  rate: 500,
  rateS: quick ? 3 : 7,
  streamConcurrency: 100,
  streamS: quick ? 3 : 5,
  streamChunks: 50,
  streamChunkDelayMs: 10,
  // paced streams (the field's method): a 20 ms pace, TTFT at concurrency 1, gaps under load
  paceMs: 20,
  ttftS: quick ? 2 : 4,
  ttftChunks: 2,
  gapConcurrency: 100,
  gapS: quick ? 2 : 4,
  gapChunks: 50,
  sustainRungs: quick ? [100, 200, 500] : [100, 200, 500, 1000, 2000, 5000],
  // new streams a second while a rung opens: a burst, but one the load side itself can carry
  sustainOpenPerS: 1000,
  sustainHoldMs: quick ? 500 : 1000,
  stallFactor: 10,
  // the gateway gives memory back once idle for 20 s (app/src/lib/idle-reclaim.ts)
  recoverQuietMs: quick ? 25_000 : 30_000,
  recoverWithin: 1.1,
  manyStreams: 2000,
  manyStreamsRampMs: 2000,
  manyStreamsHoldMs: quick ? 2000 : 4000,
  manyStreamsChunks: quick ? 16 : 25,
  manyStreamsChunkDelayMs: 1000,
  manyStreamsSettleMs: 30_000,
  profileS: 10
}
const targetNames = (opts.targets ?? (quick ? QUICK_TARGETS : ALL_TARGETS).join(',')).split(',').map((t) => t.trim()).filter(Boolean)
for (const t of targetNames) if (!ALL_TARGETS.includes(t)) throw new Error(`unknown target ${t} (known: ${ALL_TARGETS.join(', ')})`)
if (!targetNames.includes('direct')) targetNames.unshift('direct')
const runStreams2k = opts['no-streams2k'] !== true && !quick
const runProfile = opts['no-profile'] !== true && !quick

// raw outputs (logs, wrk scripts, nginx prefix, the cpu profile) of the latest run only
const tmpRoot = join(benchDir, 'tmp')
const tmpDir = join(tmpRoot, new Date().toISOString().replace(/[:.]/g, '-'))
try { for (const old of readdirSync(tmpRoot)) if (old !== 'quick-results') rmSync(join(tmpRoot, old), { recursive: true, force: true }) } catch {}
mkdirSync(tmpDir, { recursive: true })
const log = (/** @type {string} */ msg) => { process.stderr.write(msg + '\n') }

// ~1 KB chat request: a system prompt and a short conversation
const CHAT = {
  model: 'gpt-4.1',
  messages: [
    { role: 'system', content: 'You are a concise assistant for an engineering team. Answer in plain English, cite the relevant configuration keys, and say when you are unsure. '.repeat(3).trim() },
    { role: 'user', content: 'Our relay sits behind nginx with three replicas. Requests stream through without buffering. Which settings control the upstream keep-alive pool, and how do we size it for two thousand concurrent streams? '.repeat(2).trim() },
    { role: 'assistant', content: 'The pool size is set per upstream; keep-alive connections are reused across requests.' },
    { role: 'user', content: 'And what about timeouts for slow streams?' }
  ],
  temperature: 0.2,
  max_tokens: 256
}
const BODY = JSON.stringify(CHAT)
const STREAM_BODY = JSON.stringify({ ...CHAT, stream: true })
// the mock's defaults shape the 100-stream phase of every target alike (Portkey does not pass our `mock` body field on)
const MOCK_ENV = { MOCK_CHUNKS: String(cfg.streamChunks), MOCK_CHUNK_DELAY_MS: String(cfg.streamChunkDelayMs) }

/** @type {Array<() => Promise<void>>} */
const cleanups = []
/** @type {Promise<void> | undefined} */
let cleaning
async function cleanup () {
  cleaning ??= (async () => {
    for (const fn of cleanups.reverse()) { try { await fn() } catch (err) { log(`cleanup: ${err instanceof Error ? err.message : String(err)}`) } }
    await stopAll()
  })()
  return await cleaning
}
for (const sig of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) {
  process.once(sig, () => { log(`\n${sig}: stopping everything this run started`); cleanup().finally(() => process.exit(130)) })
}
process.once('exit', killAllSync)

/**
 * One request of each kind must succeed before any load: a broken target is an error, not a number.
 * @param {Target} t
 */
async function sanityCheck (t) {
  const dispatcher = t.ca !== undefined ? new Agent({ connect: { ca: t.ca, servername: t.servername } }) : undefined
  const res = await request(t.url, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json', ...t.headers }, body: BODY })
  const text = await res.body.text()
  if (res.statusCode !== 200 || !text.includes('"chat.completion"')) throw new Error(`${t.name}: chat completion answered ${res.statusCode}: ${text.slice(0, 300)}`)
  const s = await request(t.url, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json', ...t.headers }, body: STREAM_BODY })
  const sse = await s.body.text()
  const events = sse.split('\n\n').filter((e) => e.startsWith('data: {')).length
  if (s.statusCode !== 200 || !sse.includes('data: [DONE]') || events < cfg.streamChunks) throw new Error(`${t.name}: stream answered ${s.statusCode} with ${events} events: ${sse.slice(0, 300)}`)
  await dispatcher?.close()
}

const fmt = (/** @type {number | null | undefined} */ x, d = 0) => x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d)

/**
 * One round's phases on one target; returns that round's figures.
 * @param {Target} t
 */
async function measure (t) {
  await closedLoop(t, { body: BODY, connections: cfg.connections, durationS: cfg.warmupS, tmpDir })
  /** @type {Rung[]} */
  const sweep = []
  for (const c of cfg.sweep) {
    const cpu0 = cpuMicrosOf(t.pids())
    const r = await closedLoop(t, { body: BODY, connections: c, durationS: cfg.rungS, tmpDir })
    const cpu1 = cpuMicrosOf(t.pids())
    sweep.push({ connections: c, requests: r.requests, rps: r.rps, errors: r.errors, p50_us: r.p50_us, p99_us: r.p99_us, cpu_us_per_req: t.pids().length > 0 && r.requests > 0 ? (cpu1 - cpu0) / r.requests : null })
  }
  const at64 = sweep.find((r) => r.connections === cfg.connections)
  await sleep(1000) // let the garbage of the saturation phase be collected
  const cpu1 = cpuMicrosOf(t.pids())
  const fr = await fixedRate(t, { body: BODY, rate: cfg.rate, durationS: cfg.rateS })
  const cpu2 = cpuMicrosOf(t.pids())
  const st = await streams(t, { body: STREAM_BODY, concurrency: cfg.streamConcurrency, durationS: cfg.streamS })
  const cpu3 = cpuMicrosOf(t.pids())
  const paced = t.passesMockKnobs
  const ttft = paced ? await pacedStreams(t, { chat: CHAT, concurrency: 1, durationS: cfg.ttftS, chunks: cfg.ttftChunks, paceMs: cfg.paceMs }) : undefined
  const gaps = paced ? await pacedStreams(t, { chat: CHAT, concurrency: cfg.gapConcurrency, durationS: cfg.gapS, chunks: cfg.gapChunks, paceMs: cfg.paceMs }) : undefined
  const hasPids = t.pids().length > 0
  return {
    sweep,
    frontier: frontierOf(sweep, cfg.frontierBoundsMs),
    rps: at64?.rps ?? NaN,
    throughput_errors: sweep.reduce((n, r) => n + r.errors, 0),
    cpu_us_per_req: at64?.cpu_us_per_req ?? null,
    cpu_us_per_req_at_rate: hasPids ? (cpu2 - cpu1) / fr.sent : null,
    cpu_us_per_stream: hasPids && st.streams > 0 ? (cpu3 - cpu2) / (st.streams + st.errors) : null,
    p99_c1_us: sweep[0]?.connections === 1 ? sweep[0].p99_us : NaN,
    p50_ms: fr.latency_ms.p50,
    p90_ms: fr.latency_ms.p90,
    p99_ms: fr.latency_ms.p99,
    p999_ms: fr.latency_ms['p99.9'],
    rate_achieved_rps: fr.achieved_rps,
    rate_errors: fr.errors,
    stream_ttfb_p50_ms: st.ttfb_ms.p50,
    stream_ttfb_p99_ms: st.ttfb_ms.p99,
    stream_total_p50_ms: st.total_ms.p50,
    stream_total_p99_ms: st.total_ms.p99,
    streams: st.streams,
    stream_errors: st.errors,
    ttft_c1_p50_us: ttft?.ttft_us.p50 ?? NaN,
    ttft_c1_p99_us: ttft?.ttft_us.p99 ?? NaN,
    ttft_c1_samples: ttft?.ttft_us.n ?? 0,
    frame_gap_p50_us: gaps?.gap_us.p50 ?? NaN,
    frame_gap_p99_us: gaps?.gap_us.p99 ?? NaN,
    frame_gap_samples: gaps?.gap_us.n ?? 0,
    paced_errors: (ttft?.errors ?? 0) + (gaps?.errors ?? 0),
    paced_lost: (ttft?.lost ?? 0) + (gaps?.lost ?? 0)
  }
}

async function main () {
  const started = Date.now()
  const plan = planCpus({ enabled: opts['no-pin'] !== true })
  if (!plan.pinned) log(`bench: WARNING: ${plan.note}`)
  const tool = await hasWrk() ? 'wrk' : 'undici'
  log(`bench: ${cfg.rounds} round(s) over ${targetNames.join(', ')}; sweep ${cfg.sweep.join('/')} connections × ${cfg.rungS}s, ${cfg.rate} req/s for ${cfg.rateS}s, ${cfg.streamConcurrency} streams of ${cfg.streamChunks}×${cfg.streamChunkDelayMs} ms for ${cfg.streamS}s, paced ${cfg.paceMs} ms streams (TTFT at concurrency 1, gaps at ${cfg.gapConcurrency}), sustained streams up to ${cfg.sustainRungs.at(-1)}`)
  log(`  ${plan.note}`)
  log(`  closed loop: ${tool === 'wrk' ? 'wrk' : 'undici client in the driver (wrk not found)'}; logs in ${tmpDir}`)
  const machine = await machineInfo()
  snapshotApp(tmpDir, opts.app === undefined ? undefined : resolve(opts.app))

  const mock = await startMock(tmpDir, 'mock', MOCK_ENV)
  /** @type {Record<string, Target>} */
  const targets = {}
  targets.direct = directTarget(mock)
  const needRedis = targetNames.some((n) => n.startsWith('gateway'))
  const redis = needRedis ? await startRedis(tmpDir) : undefined
  for (const name of targetNames) {
    if (name === 'nginx') targets.nginx = await startNginx(tmpDir, mock, plan)
    if (name === 'undici-proxy') targets[name] = await startUndiciProxy(tmpDir, mock, plan, GATEWAY_DEFAULT_UPSTREAM_CONNECTIONS)
    if (name === 'fastify-proxy') targets[name] = await startFastifyProxy(tmpDir, mock, plan, GATEWAY_DEFAULT_UPSTREAM_CONNECTIONS)
    if (name === 'gateway' && redis) targets.gateway = await startGateway(tmpDir, mock, redis, plan)
    if (name === 'gateway-warn' && redis) targets[name] = await startGateway(tmpDir, mock, redis, plan, { name, env: { LOG_LEVEL: 'warn' } })
    if (name === 'portkey') targets.portkey = await startPortkey(tmpDir, mock, plan)
    if (name === 'stack') targets.stack = await startStack(tmpDir, MOCK_ENV, plan, (stop) => { cleanups.push(stop) })
  }
  /** @param {string} name */
  const T = (name) => {
    const t = targets[name]
    if (t === undefined) throw new Error(`target ${name} was not started`)
    return t
  }
  for (const name of targetNames) await sanityCheck(T(name))
  log('  all targets answer a chat completion and a full stream')

  /** @type {Map<string, RssSampler>} */
  const samplers = new Map(targetNames.map((n) => [n, new RssSampler(T(n))]))
  /** @type {Map<string, number>} */
  const lastLoadAt = new Map()
  /** @type {Array<Record<string, Awaited<ReturnType<typeof measure>>>>} */
  const rounds = []
  for (let r = 0; r < cfg.rounds; r++) {
    // rotate the starting target each round so no target always runs first or last
    const order = targetNames.map((_, i) => targetNames[(i + r) % targetNames.length] ?? 'direct')
    /** @type {Record<string, Awaited<ReturnType<typeof measure>>>} */
    const round = {}
    for (const name of order) {
      const sampler = samplers.get(name)
      sampler?.start()
      const x = await measure(T(name))
      sampler?.stop()
      lastLoadAt.set(name, Date.now())
      round[name] = x
      log(`  round ${r + 1} ${name.padEnd(12)} ${fmt(x.rps).padStart(6)} req/s @${cfg.connections}${x.cpu_us_per_req !== null ? ` ${fmt(x.cpu_us_per_req)} µs cpu/req` : ''} | c1 p99 ${fmt(x.p99_c1_us)} µs | frontier ≤1/5/10/50 ms/∞ ${x.frontier.map((f) => fmt(f.rps)).join('/')} | ${cfg.rate}/s p99 ${fmt(x.p99_ms, 3)} ms | stream ttfb ${fmt(x.stream_ttfb_p50_ms, 3)} ms | ttft c1 ${fmt(x.ttft_c1_p50_us)} µs, gap p50/p99 ${fmt(x.frame_gap_p50_us)}/${fmt(x.frame_gap_p99_us)} µs | errors ${x.throughput_errors}/${x.rate_errors}/${x.stream_errors}/${x.paced_errors}`)
    }
    rounds.push(round)
  }

  // streams sustained: once per target, direct first (its figure is the load side's own ceiling)
  log(`streams sustained: ${cfg.paceMs} ms pace, opened at ${cfg.sustainOpenPerS}/s, all open together ≥ ${cfg.sustainHoldMs} ms; a rung fails on a lost frame, a silence > ${cfg.stallFactor}× the pace, or ≥ 0.1% errors`)
  /** @type {Record<string, Awaited<ReturnType<typeof sustainedStreams>>>} */
  const sustained = {}
  for (const name of targetNames) {
    const t = T(name)
    if (!t.passesMockKnobs) continue
    const cap = name === 'direct' ? undefined : sustained.direct?.streams_sustained
    sustained[name] = await sustainedStreams(t, { chat: CHAT, rungs: cfg.sustainRungs, paceMs: cfg.paceMs, openPerS: cfg.sustainOpenPerS, holdMs: cfg.sustainHoldMs, stallFactor: cfg.stallFactor, cap, log })
    lastLoadAt.set(name, Date.now())
  }

  log(`memory: waiting for each target to recover (up to ${cfg.recoverQuietMs / 1000} s after its last load)`)
  const recovered = await recoveredRss(targetNames.map(T), lastLoadAt, { quietMs: cfg.recoverQuietMs, withinRatio: cfg.recoverWithin })

  const metrics = /** @type {const} */ (['rps', 'cpu_us_per_req', 'cpu_us_per_req_at_rate', 'cpu_us_per_stream', 'p99_c1_us', 'p50_ms', 'p90_ms', 'p99_ms', 'p999_ms', 'stream_ttfb_p50_ms', 'stream_ttfb_p99_ms', 'stream_total_p50_ms', 'stream_total_p99_ms', 'ttft_c1_p50_us', 'ttft_c1_p99_us', 'frame_gap_p50_us', 'frame_gap_p99_us'])
  /** @type {Record<string, Record<string, unknown>>} */
  const medians = {}
  for (const name of targetNames) {
    /** @type {Record<string, unknown>} */
    const m = {}
    for (const k of metrics) m[k] = median(rounds.map((rd) => rd[name]?.[k] ?? NaN))
    m.errors = rounds.reduce((n, rd) => { const x = rd[name]; return x === undefined ? n : n + x.throughput_errors + x.rate_errors + x.stream_errors + x.paced_errors + x.paced_lost }, 0)
    // added over direct, paired within each round, then the median over rounds
    for (const k of /** @type {const} */ (['p50_ms', 'p99_ms', 'stream_ttfb_p50_ms', 'stream_total_p50_ms'])) m[`added_${k}`] = pairedMedian(rounds, name, k)
    m.added_p99_c1_us = pairedMedian(rounds, name, 'p99_c1_us')
    m.added_ttft_c1_us = pairedMedian(rounds, name, 'ttft_c1_p50_us')
    m.added_frame_gap_p50_us = pairedMedian(rounds, name, 'frame_gap_p50_us')
    m.added_frame_gap_p99_us = pairedMedian(rounds, name, 'frame_gap_p99_us')
    m.frontier = cfg.frontierBoundsMs.concat([Infinity]).map((bound, i) => ({ p99_bound_ms: Number.isFinite(bound) ? bound : null, rps: median(rounds.map((rd) => rd[name]?.frontier[i]?.rps ?? NaN)) }))
    m.sweep = rungMedians(rounds.map((rd) => rd[name]?.sweep ?? []))
    const s = sustained[name]
    m.streams_sustained = s?.streams_sustained ?? null
    m.streams_sustained_capped = s?.capped_by_load_side ?? false
    const t = T(name)
    const steady = samplers.get(name)?.steady()
    m.rss_idle_mib = t.idleRssBytes === null ? null : t.idleRssBytes / 2 ** 20
    m.rss_steady_mib = steady?.median ?? null
    m.rss_peak_mib = steady?.peak ?? null
    m.rss_recovered_mib = recovered[name]?.recovered_mib ?? null
    m.rss_recovered_after_s = recovered[name]?.after_s ?? null
    medians[name] = m
  }

  // the round targets are no longer needed; stop them before the single-process tests
  await cleanup()
  cleanups.length = 0
  cleaning = undefined

  /** @type {Awaited<ReturnType<typeof manyStreams>> & { stream_seconds?: number } | undefined} */
  let streams2k
  if (runStreams2k) {
    log(`2,000-stream test: ${cfg.manyStreams} streams of ${cfg.manyStreamsChunks}×${cfg.manyStreamsChunkDelayMs} ms on one gateway process`)
    const slowMock = await startMock(tmpDir, 'mock-slow', { MOCK_CHUNKS: String(cfg.manyStreamsChunks), MOCK_CHUNK_DELAY_MS: String(cfg.manyStreamsChunkDelayMs) })
    const r2 = await startRedis(tmpDir, 'redis-streams')
    const inspectPort = await freePort()
    const gw = await startGateway(tmpDir, slowMock, r2, plan, { name: 'gateway-streams', nodeArgs: [`--inspect=127.0.0.1:${inspectPort}`], env: { UPSTREAM_MAX_CONNECTIONS: String(cfg.manyStreams + 256) } })
    gw.inspectPort = inspectPort
    const s = await manyStreams(gw, { count: cfg.manyStreams, rampMs: cfg.manyStreamsRampMs, holdMs: cfg.manyStreamsHoldMs, settleMs: cfg.manyStreamsSettleMs, body: STREAM_BODY, log })
    streams2k = { ...s, stream_seconds: (cfg.manyStreamsChunks * cfg.manyStreamsChunkDelayMs) / 1000 }
    log(`  done: ${s.completed} completed, ${s.failed} failed; ${s.rss_per_stream_kib.toFixed(1)} KiB/stream; RSS idle ${s.rss_idle_mib.toFixed(1)} → ${s.rss_during_mib.toFixed(1)} → ${s.rss_after_mib.toFixed(1)} MiB (${s.rss_settle_s.toFixed(1)} s after the end), ${fmt(s.rss_after_gc_mib, 1)} MiB after a full GC; in-flight after ${s.in_flight_after}`)
    await stopAll()
  }

  /** @type {Record<string, unknown> | undefined} */
  let profile
  if (runProfile) {
    log(`profile: one gateway (shipped defaults) with --cpu-prof, ${cfg.connections} connections for ${cfg.profileS}s, then ${cfg.streamConcurrency} streams for ${cfg.profileS}s`)
    const profDir = join(tmpDir, 'profile')
    mkdirSync(profDir, { recursive: true })
    const m = await startMock(tmpDir, 'mock-profile', MOCK_ENV)
    const r3 = await startRedis(tmpDir, 'redis-profile')
    const gw = await startGateway(tmpDir, m, r3, plan, { name: 'gateway-profile', nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir] })
    await closedLoop(gw, { body: BODY, connections: cfg.connections, durationS: cfg.warmupS, tmpDir })
    // samples outside this window (start-up, warm-up, shutdown) are left out of the summary;
    // V8's profile clock and process.hrtime are both CLOCK_MONOTONIC
    const fromUs = Number(process.hrtime.bigint() / 1000n)
    const tp = await closedLoop(gw, { body: BODY, connections: cfg.connections, durationS: cfg.profileS, tmpDir })
    const toUs = Number(process.hrtime.bigint() / 1000n)
    await sleep(1000)
    const streamFromUs = Number(process.hrtime.bigint() / 1000n)
    const st = await streams(gw, { body: STREAM_BODY, concurrency: cfg.streamConcurrency, durationS: cfg.profileS })
    const streamToUs = Number(process.hrtime.bigint() / 1000n)
    await gw.proc?.stop(20000)
    await stopAll()
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'))
    if (file === undefined) log('  no .cpuprofile was written (did the gateway exit cleanly?)')
    else {
      const path = join(profDir, file)
      const nonStreaming = summarizeProfile(path, { top: 25, window: { fromUs, toUs } })
      const streaming = summarizeProfile(path, { top: 25, window: { fromUs: streamFromUs, toUs: streamToUs } })
      profile = {
        file: join('bench', 'tmp', tmpDir.split('/').pop() ?? '', 'profile', file),
        rps_under_profiler: tp.rps,
        ...nonStreaming,
        streaming: { streams_per_s_under_profiler: st.streams / cfg.profileS, ...streaming }
      }
      log(`  non-streaming, top self time: ${nonStreaming.functions.slice(0, 5).map((f) => `${f.function} ${(f.share * 100).toFixed(1)}%`).join(', ')}`)
      log(`  streaming, top self time: ${streaming.functions.slice(0, 5).map((f) => `${f.function} ${(f.share * 100).toFixed(1)}%`).join(', ')}`)
    }
  }

  machine.loadavg_at_end = loadavg().map((x) => Math.round(x * 100) / 100)
  // a rebuild of app/dist in the middle of a run mixes two builds in one result
  const builtAtEnd = (await appBuild()).dist_built_at
  if (builtAtEnd !== machine.app.dist_built_at) {
    machine.app.dist_rebuilt_during_run = builtAtEnd
    log(`note: app/dist was rebuilt during the run (${machine.app.dist_built_at} → ${builtAtEnd}); the bench's own gateways ran from a snapshot taken at the start, the stack's from app/dist`)
  }
  const result = {
    date: new Date().toISOString(),
    duration_s: Math.round((Date.now() - started) / 1000),
    machine,
    cpu_plan: plan,
    settings: { ...cfg, quick, app_dir: opts.app === undefined ? 'app' : resolve(opts.app), closed_loop_tool: tool, log_level: 'info (gateway, stack); warn (gateway-warn)', request_body_bytes: Buffer.byteLength(BODY), targets: targetNames },
    medians,
    rounds,
    sustained,
    streams2k,
    profile
  }
  const files = await writeResults(result, { quick })
  log(`results (${result.duration_s}s):\n  ${files.join('\n  ')}`)
  // the figure compared before every change: one gateway's throughput over the bare proxy's
  const g = medians.gateway
  const u = medians['undici-proxy']
  if (g !== undefined && u !== undefined) {
    const at64 = Number(g.rps) / Number(u.rps)
    /** @param {Record<string, unknown>} m */
    const unbounded = (m) => /** @type {Array<{ rps: number }>} */ (m.frontier).at(-1)?.rps ?? NaN
    console.log(`gateway ÷ undici-proxy throughput: ${fmt(at64, 2)}× at ${cfg.connections} connections (${fmt(Number(g.rps))} vs ${fmt(Number(u.rps))} req/s), ${fmt(unbounded(g) / unbounded(u), 2)}× unbounded frontier; ${plan.pinned ? `each on one core (CPU ${plan.targetCpus})` : 'NOT pinned'}`)
    // the framework's floor, when it ran: how much of the gap is Fastify and undici's request API
    const f = medians['fastify-proxy']
    if (f !== undefined) console.log(`fastify-proxy ÷ undici-proxy throughput: ${fmt(Number(f.rps) / Number(u.rps), 2)}× (${fmt(Number(f.rps))} req/s, ${fmt(Number(f.cpu_us_per_req))} vs ${fmt(Number(u.cpu_us_per_req))} µs CPU per request); gateway ÷ fastify-proxy: ${fmt(Number(g.rps) / Number(f.rps), 2)}×`)
  }
}

try {
  await main()
} catch (err) {
  log(`bench failed: ${err instanceof Error ? err.stack : String(err)}`)
  process.exitCode = 1
} finally {
  await cleanup()
}
