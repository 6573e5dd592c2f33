#!/usr/bin/env node
// Benchmarks on loopback, in one invocation: direct to the mock upstream, nginx, a bare undici
// proxy, one gateway, the full stack and Portkey, alternating targets round-robin so machine
// drift hits all of them alike; medians over rounds go to bench/results/.
//
//   node bench/run.mjs [--rounds N] [--quick] [--targets a,b] [--no-profile] [--no-streams2k]
import { mkdirSync, readdirSync, rmSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { request } from 'undici'
import { fixedRate, hasWrk, streams, throughput } from './lib/load.mjs'
import { cpuMicrosOf, freePort, killAllSync, sleep, stopAll } from './lib/procs.mjs'
import { benchDir, directTarget, snapshotApp, startGateway, startMock, startNginx, startPortkey, startRedis, startStack, startUndiciProxy } from './lib/targets.mjs'
import { manyStreams } from './lib/streams2k.mjs'
import { summarizeProfile } from './lib/cpuprofile.mjs'
import { appBuild, machineInfo, writeResults } from './lib/report.mjs'

const ALL_TARGETS = ['direct', 'nginx', 'undici-proxy', 'gateway', 'stack', 'portkey']

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string' },
    quick: { type: 'boolean', default: false },
    targets: { type: 'string', default: ALL_TARGETS.join(',') },
    'no-profile': { type: 'boolean', default: false },
    'no-streams2k': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false }
  }
})
if (opts.help) {
  console.log('usage: node bench/run.mjs [--rounds N] [--quick] [--targets ' + ALL_TARGETS.join(',') + '] [--no-profile] [--no-streams2k]')
  process.exit(0)
}

const quick = opts.quick
// durations in seconds; --quick is a smoke run (one round, short phases, no profile)
const cfg = {
  rounds: Number(opts.rounds ?? (quick ? 1 : 3)),
  warmupS: quick ? 1 : 2,
  throughputS: quick ? 3 : 6,
  connections: 64,
  rate: 500,
  rateS: quick ? 3 : 7,
  streamConcurrency: 100,
  streamS: quick ? 3 : 5,
  streamChunks: 50,
  streamChunkDelayMs: 10,
  manyStreams: 2000,
  manyStreamsRampMs: 2000,
  manyStreamsHoldMs: quick ? 2000 : 4000,
  manyStreamsChunks: quick ? 16 : 25,
  manyStreamsChunkDelayMs: 1000,
  manyStreamsSettleMs: quick ? 10_000 : 20_000,
  profileS: 10
}
const targetNames = opts.targets.split(',').map((t) => t.trim()).filter(Boolean)
for (const t of targetNames) if (!ALL_TARGETS.includes(t)) throw new Error(`unknown target ${t} (known: ${ALL_TARGETS.join(', ')})`)
if (!targetNames.includes('direct')) targetNames.unshift('direct')

// raw outputs (logs, wrk scripts, nginx prefix, the cpu profile) of the latest run only
const tmpRoot = join(benchDir, 'tmp')
const tmpDir = join(tmpRoot, new Date().toISOString().replace(/[:.]/g, '-'))
try { for (const old of readdirSync(tmpRoot)) if (old !== 'quick-results') rmSync(join(tmpRoot, old), { recursive: true, force: true }) } catch {}
mkdirSync(tmpDir, { recursive: true })
const log = (msg) => process.stderr.write(msg + '\n')

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
// the mock's defaults shape the streams of every target alike (Portkey does not pass our `mock` body field on)
const MOCK_ENV = { MOCK_CHUNKS: String(cfg.streamChunks), MOCK_CHUNK_DELAY_MS: String(cfg.streamChunkDelayMs) }

const cleanups = []
let cleaning
async function cleanup () {
  cleaning ??= (async () => {
    for (const fn of cleanups.reverse()) { try { await fn() } catch (err) { log(`cleanup: ${err.message}`) } }
    await stopAll()
  })()
  return await cleaning
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => { log(`\n${sig}: stopping everything this run started`); cleanup().finally(() => process.exit(130)) })
}
process.once('exit', killAllSync)

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (s.length === 0) return NaN
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** One request of each kind must succeed before any load: a broken target is an error, not a number. */
async function sanityCheck (t) {
  const dispatcher = t.ca !== undefined ? new (await import('undici')).Agent({ connect: { ca: t.ca, servername: t.servername } }) : undefined
  const res = await request(t.url, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json', ...t.headers }, body: BODY })
  const text = await res.body.text()
  if (res.statusCode !== 200 || !text.includes('"chat.completion"')) throw new Error(`${t.name}: chat completion answered ${res.statusCode}: ${text.slice(0, 300)}`)
  const s = await request(t.url, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json', ...t.headers }, body: STREAM_BODY })
  const sse = await s.body.text()
  const events = sse.split('\n\n').filter((e) => e.startsWith('data: {')).length
  if (s.statusCode !== 200 || !sse.includes('data: [DONE]') || events < cfg.streamChunks) throw new Error(`${t.name}: stream answered ${s.statusCode} with ${events} events: ${sse.slice(0, 300)}`)
  await dispatcher?.close()
}

async function main () {
  const started = Date.now()
  log(`bench: ${cfg.rounds} round(s) over ${targetNames.join(', ')}; throughput ${cfg.throughputS}s at ${cfg.connections} connections, ${cfg.rate} req/s for ${cfg.rateS}s, ${cfg.streamConcurrency} streams of ${cfg.streamChunks}×${cfg.streamChunkDelayMs} ms for ${cfg.streamS}s`)
  log(`  load generator: ${await hasWrk() ? 'wrk (throughput)' : 'autocannon (throughput; wrk not found)'}, undici open-loop client (fixed rate, streams); logs in ${tmpDir}`)
  const machine = await machineInfo()
  snapshotApp(tmpDir)

  const mock = await startMock(tmpDir, 'mock', MOCK_ENV)
  const targets = {}
  targets.direct = directTarget(mock)
  let redis
  const needRedis = targetNames.includes('gateway') || !opts['no-streams2k'] || !opts['no-profile']
  if (needRedis) redis = await startRedis(tmpDir)
  if (targetNames.includes('nginx')) targets.nginx = await startNginx(tmpDir, mock)
  if (targetNames.includes('undici-proxy')) targets['undici-proxy'] = await startUndiciProxy(tmpDir, mock)
  if (targetNames.includes('gateway')) targets.gateway = await startGateway(tmpDir, mock, redis)
  if (targetNames.includes('portkey')) targets.portkey = await startPortkey(tmpDir, mock)
  if (targetNames.includes('stack')) {
    targets.stack = await startStack(tmpDir, MOCK_ENV, (stop) => cleanups.push(stop))
  }
  for (const name of targetNames) await sanityCheck(targets[name])
  log('  all targets answer a chat completion and a full stream')

  const rounds = []
  for (let r = 0; r < cfg.rounds; r++) {
    // rotate the starting target each round so no target always runs first or last
    const order = targetNames.map((_, i) => targetNames[(i + r) % targetNames.length])
    const round = {}
    for (const name of order) {
      const t = targets[name]
      await throughput(t, { body: BODY, connections: cfg.connections, durationS: cfg.warmupS, tmpDir })
      const cpu0 = cpuMicrosOf(t.pids())
      const tp = await throughput(t, { body: BODY, connections: cfg.connections, durationS: cfg.throughputS, tmpDir })
      const cpu1 = cpuMicrosOf(t.pids())
      await sleep(1000) // let the garbage of the saturation phase be collected
      const fr = await fixedRate(t, { body: BODY, rate: cfg.rate, durationS: cfg.rateS })
      const cpu2 = cpuMicrosOf(t.pids())
      const st = await streams(t, { body: STREAM_BODY, concurrency: cfg.streamConcurrency, durationS: cfg.streamS })
      const cpu3 = cpuMicrosOf(t.pids())
      round[name] = {
        rps: tp.rps,
        throughput_errors: tp.errors,
        cpu_us_per_req: t.pids().length > 0 ? (cpu1 - cpu0) / tp.requests : null,
        cpu_us_per_req_at_rate: t.pids().length > 0 ? (cpu2 - cpu1) / fr.sent : null,
        cpu_us_per_stream: t.pids().length > 0 && st.streams > 0 ? (cpu3 - cpu2) / (st.streams + st.errors) : null,
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
        stream_errors: st.errors
      }
      const x = round[name]
      log(`  round ${r + 1} ${name.padEnd(12)} ${x.rps.toFixed(0).padStart(6)} req/s${x.cpu_us_per_req !== null ? ` ${x.cpu_us_per_req.toFixed(0)} µs cpu/req, ${x.cpu_us_per_stream.toFixed(0)} µs cpu/stream` : ''} | ${cfg.rate}/s p50 ${x.p50_ms.toFixed(3)} p99 ${x.p99_ms.toFixed(3)} ms | stream ttfb ${x.stream_ttfb_p50_ms.toFixed(3)} total ${x.stream_total_p50_ms.toFixed(1)} ms | errors ${tp.errors}/${fr.errors}/${st.errors}`)
    }
    rounds.push(round)
  }

  const metrics = ['rps', 'cpu_us_per_req', 'cpu_us_per_req_at_rate', 'cpu_us_per_stream', 'p50_ms', 'p90_ms', 'p99_ms', 'p999_ms', 'stream_ttfb_p50_ms', 'stream_ttfb_p99_ms', 'stream_total_p50_ms', 'stream_total_p99_ms']
  const medians = {}
  for (const name of targetNames) {
    medians[name] = {}
    for (const m of metrics) medians[name][m] = median(rounds.map((rd) => rd[name][m] ?? NaN))
    medians[name].errors = rounds.reduce((n, rd) => n + rd[name].throughput_errors + rd[name].rate_errors + rd[name].stream_errors, 0)
    // added over direct, paired within each round, then the median over rounds
    for (const m of ['p50_ms', 'p99_ms', 'stream_ttfb_p50_ms', 'stream_total_p50_ms']) {
      medians[name][`added_${m}`] = median(rounds.map((rd) => rd[name][m] - rd.direct[m]))
    }
  }

  // the non-round targets are no longer needed; stop them before the single-process tests
  await cleanup()
  cleanups.length = 0
  cleaning = undefined

  let streams2k
  if (!opts['no-streams2k']) {
    log(`2,000-stream test: ${cfg.manyStreams} streams of ${cfg.manyStreamsChunks}×${cfg.manyStreamsChunkDelayMs} ms on one gateway process`)
    const slowMock = await startMock(tmpDir, 'mock-slow', { MOCK_CHUNKS: String(cfg.manyStreamsChunks), MOCK_CHUNK_DELAY_MS: String(cfg.manyStreamsChunkDelayMs) })
    const r2 = await startRedis(tmpDir)
    const inspectPort = await freePort()
    const gw = await startGateway(tmpDir, slowMock, r2, { name: 'gateway-streams', nodeArgs: [`--inspect=127.0.0.1:${inspectPort}`], env: { UPSTREAM_MAX_CONNECTIONS: String(cfg.manyStreams + 256) } })
    gw.inspectPort = inspectPort
    streams2k = await manyStreams(gw, { count: cfg.manyStreams, rampMs: cfg.manyStreamsRampMs, holdMs: cfg.manyStreamsHoldMs, settleMs: cfg.manyStreamsSettleMs, body: STREAM_BODY, log })
    streams2k.stream_seconds = (cfg.manyStreamsChunks * cfg.manyStreamsChunkDelayMs) / 1000
    log(`  done: ${streams2k.completed} completed, ${streams2k.failed} failed; ${streams2k.rss_per_stream_kib.toFixed(1)} KiB/stream; RSS idle ${streams2k.rss_idle_mib.toFixed(1)} → ${streams2k.rss_during_mib.toFixed(1)} → ${streams2k.rss_after_mib.toFixed(1)} MiB (${streams2k.rss_settle_s.toFixed(1)} s after the end), ${streams2k.rss_after_gc_mib?.toFixed(1)} MiB after a full GC; JS heap used ${streams2k.heap_used_idle_mib.toFixed(1)} → ${streams2k.heap_used_peak_mib.toFixed(1)} → ${streams2k.heap_used_after_mib.toFixed(1)} → ${streams2k.heap_used_after_gc_mib?.toFixed(1)} MiB after GC; in-flight after ${streams2k.in_flight_after}`)
    await stopAll()
  }

  let profile
  if (!opts['no-profile'] && !quick) {
    log(`profile: one gateway with --cpu-prof, ${cfg.connections} connections for ${cfg.profileS}s, then ${cfg.streamConcurrency} streams for ${cfg.profileS}s`)
    const profDir = join(tmpDir, 'profile')
    mkdirSync(profDir, { recursive: true })
    const m = await startMock(tmpDir, 'mock-profile', MOCK_ENV)
    const r3 = await startRedis(tmpDir)
    const gw = await startGateway(tmpDir, m, r3, { name: 'gateway-profile', nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir] })
    await throughput(gw, { body: BODY, connections: cfg.connections, durationS: cfg.warmupS, tmpDir })
    // samples outside this window (start-up, warm-up, shutdown) are left out of the summary;
    // V8's profile clock and process.hrtime are both CLOCK_MONOTONIC
    const fromUs = Number(process.hrtime.bigint() / 1000n)
    const tp = await throughput(gw, { body: BODY, connections: cfg.connections, durationS: cfg.profileS, tmpDir })
    const toUs = Number(process.hrtime.bigint() / 1000n)
    await sleep(1000)
    const streamFromUs = Number(process.hrtime.bigint() / 1000n)
    const st = await streams(gw, { body: STREAM_BODY, concurrency: cfg.streamConcurrency, durationS: cfg.profileS })
    const streamToUs = Number(process.hrtime.bigint() / 1000n)
    await gw.proc.stop(20000)
    await stopAll()
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'))
    if (file === undefined) log('  no .cpuprofile was written (did the gateway exit cleanly?)')
    else {
      const path = join(profDir, file)
      profile = {
        file: join('bench', 'tmp', tmpDir.split('/').pop(), 'profile', file),
        rps_under_profiler: tp.rps,
        ...summarizeProfile(path, { top: 25, window: { fromUs, toUs } }),
        streaming: {
          streams_per_s_under_profiler: st.streams / cfg.profileS,
          ...summarizeProfile(path, { top: 25, window: { fromUs: streamFromUs, toUs: streamToUs } })
        }
      }
      log(`  non-streaming, top self time: ${profile.functions.slice(0, 5).map((f) => `${f.function} ${(f.share * 100).toFixed(1)}%`).join(', ')}`)
      log(`  streaming, top self time: ${profile.streaming.functions.slice(0, 5).map((f) => `${f.function} ${(f.share * 100).toFixed(1)}%`).join(', ')}`)
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
    settings: { ...cfg, quick, log_level: 'warn', request_body_bytes: Buffer.byteLength(BODY), targets: targetNames },
    medians,
    rounds,
    streams2k,
    profile
  }
  const files = await writeResults(result, { quick })
  log(`results (${result.duration_s}s):\n  ${files.join('\n  ')}`)
}

try {
  await main()
} catch (err) {
  log(`bench failed: ${err.stack ?? err}`)
  process.exitCode = 1
} finally {
  await cleanup()
}
