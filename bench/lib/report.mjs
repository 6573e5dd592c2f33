// Writes a run's results: dated JSON, latest.json, latest.md (tables, ratios, goal verdicts) and
// a latency chart rendered with vega-lite.
import { execFile } from 'node:child_process'
import { cpus, loadavg, release } from 'node:os'
import { mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as vega from 'vega'
import * as vegaLite from 'vega-lite'
import { benchDir, nginxVersion, repoDir } from './targets.mjs'

/** Which gateway build was measured: the commit and the time app/dist/server.js was built. */
export async function appBuild () {
  const commit = await new Promise((resolve) => execFile('git', ['-C', repoDir, 'rev-parse', '--short', 'HEAD'], (err, out) => resolve(err ? 'unknown' : out.trim())))
  const dirty = await new Promise((resolve) => execFile('git', ['-C', repoDir, 'status', '--porcelain', '--', 'app/src'], (err, out) => resolve(err ? null : out.trim() !== '')))
  let built
  try { built = statSync(`${repoDir}/app/dist/server.js`).mtime.toISOString() } catch {}
  return { commit, app_src_uncommitted_changes: dirty, dist_built_at: built }
}

export async function machineInfo () {
  const wrk = await new Promise((resolve) => execFile('wrk', ['-v'], (err, out, errOut) => resolve(err && !out && !errOut ? null : `${out}${errOut}`.split('\n')[0].trim())))
  return {
    cores: cpus().length,
    cpu_model: cpus()[0]?.model ?? 'unknown',
    kernel: release(),
    node: process.version,
    nginx: await nginxVersion(),
    wrk,
    loadavg_at_start: loadavg().map((x) => Math.round(x * 100) / 100),
    app: await appBuild()
  }
}

const fmt = (x, d = 0) => (x === null || x === undefined || Number.isNaN(x)) ? '–' : x.toFixed(d)
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0) ? a / b : NaN

/** Each goal from the project's performance brief, judged on this run's numbers. */
export function verdicts (result) {
  const m = result.medians
  const g = m.gateway
  const out = []
  const add = (goal, ok, figure) => out.push({ goal, met: ok === null ? null : Boolean(ok), figure })
  if (g === undefined) return out
  if (m['undici-proxy']) {
    const r = ratio(g.rps, m['undici-proxy'].rps)
    add('one gateway non-streaming throughput ≥ 0.8× bare undici proxy', r >= 0.8, `${fmt(r, 2)}× (${fmt(g.rps)} vs ${fmt(m['undici-proxy'].rps)} req/s)`)
    add('moonshot: ≥ 1.0× bare undici proxy', r >= 1.0, `${fmt(r, 2)}×`)
  }
  if (m.portkey) {
    const r = ratio(g.rps, m.portkey.rps)
    add('one gateway non-streaming throughput ≥ 8× Portkey', r >= 8, `${fmt(r, 1)}× (${fmt(g.rps)} vs ${fmt(m.portkey.rps)} req/s)`)
  }
  add('gateway CPU per request ≤ 175 µs (saturated)', g.cpu_us_per_req <= 175, `${fmt(g.cpu_us_per_req)} µs (${fmt(g.cpu_us_per_req_at_rate)} µs at ${result.settings.rate} req/s)`)
  add(`added latency over direct at ${result.settings.rate} req/s ≤ 0.6 ms p50`, g.added_p50_ms <= 0.6, `+${fmt(g.added_p50_ms, 3)} ms`)
  add(`added latency over direct at ${result.settings.rate} req/s ≤ 2.5 ms p99`, g.added_p99_ms <= 2.5, `+${fmt(g.added_p99_ms, 3)} ms`)
  add('streaming added TTFB over direct ≤ 0.5 ms p50', g.added_stream_ttfb_p50_ms <= 0.5, `+${fmt(g.added_stream_ttfb_p50_ms, 3)} ms`)
  const tot = g.added_stream_total_p50_ms / m.direct.stream_total_p50_ms
  add('paced stream total time within 2% of direct (p50)', Math.abs(tot) <= 0.02, `${tot >= 0 ? '+' : ''}${fmt(tot * 100, 2)}% (+${fmt(g.added_stream_total_p50_ms, 2)} ms of ${fmt(m.direct.stream_total_p50_ms, 1)} ms)`)
  const s = result.streams2k
  if (s !== undefined) {
    add(`${s.streams} streams: ≤ 64 KiB RSS per stream`, s.rss_per_stream_kib <= 64, `${fmt(s.rss_per_stream_kib, 1)} KiB`)
    add(`${s.streams} streams: event-loop delay p99 ≤ 20 ms`, s.eventloop_delay_p99_ms <= 20, `${fmt(s.eventloop_delay_p99_ms, 1)} ms while held (worst 0.5 s window; ${fmt(s.eventloop_delay_p99_ramp_ms, 1)} ms while ${s.streams} streams were opened in ${result.settings.manyStreamsRampMs / 1000} s)`)
    add(`${s.streams} streams: in-flight gauge back to 0`, s.in_flight_after === 0, `${s.in_flight_after} (peak ${s.in_flight_peak})`)
    add(`${s.streams} streams: RSS back within 20% of idle`, s.rss_after_vs_idle <= 1.2, `${fmt(s.rss_after_mib, 1)} MiB vs ${fmt(s.rss_idle_mib, 1)} MiB idle (${s.rss_after_vs_idle >= 1 ? '+' : ''}${fmt((s.rss_after_vs_idle - 1) * 100, 1)}%, ${fmt(s.rss_settle_s, 1)} s after the last stream ended; ${fmt(s.rss_after_gc_mib, 1)} MiB after a forced full GC)`)
    add(`${s.streams} streams: every stream completed`, s.failed === 0 && s.completed === s.streams, `${s.completed}/${s.streams}`)
  }
  return out
}

export function markdown (result) {
  const m = result.medians
  const names = result.settings.targets
  const d = m.direct
  const n = m.nginx
  const lines = []
  const mc = result.machine
  lines.push(`# Benchmark results, ${result.date.slice(0, 10)}`, '')
  lines.push(`${mc.cores} cores (${mc.cpu_model}), Linux ${mc.kernel}, Node ${mc.node}, nginx ${mc.nginx}, ${mc.wrk ?? 'autocannon'}; load average (1/5/15 min) at start ${mc.loadavg_at_start.join(' ')}${mc.loadavg_at_end !== undefined ? `, at end ${mc.loadavg_at_end.join(' ')}` : ''}.`)
  if (mc.app !== undefined) lines.push(`Gateway build: commit ${mc.app.commit}${mc.app.app_src_uncommitted_changes ? ' (with uncommitted changes in app/src)' : ''}, app/dist built ${mc.app.dist_built_at}${mc.app.dist_rebuilt_during_run ? `; app/dist was rebuilt during the run at ${mc.app.dist_rebuilt_during_run} (the bench's gateways ran from a snapshot taken at the start; the stack's replicas were started from app/dist at the start too)` : ''}.`)
  lines.push(`Loopback; medians of ${result.settings.rounds} round(s), targets alternating round-robin; gateway LOG_LEVEL=${result.settings.log_level}; run took ${result.duration_s} s.`, '')
  lines.push(`Throughput: non-streaming chat completion (${result.settings.request_body_bytes} B request), ${result.settings.connections} connections, ${result.settings.throughputS} s. ` +
    `Latency: open-loop ${result.settings.rate} req/s for ${result.settings.rateS} s. Streams: ${result.settings.streamConcurrency} concurrent, ${result.settings.streamChunks} chunks ${result.settings.streamChunkDelayMs} ms apart, TTFB = first body byte. ` +
    'CPU: utime+stime of the proxy processes (stack: nginx and the three gateways) ÷ requests, during the throughput phase (saturated) and the fixed-rate phase; per stream during the streaming phase.', '')
  lines.push('| target | req/s | × direct | × nginx | CPU µs/req | CPU µs/req at rate | CPU µs/stream | p50 ms | p99 ms | +p50 ms | +p99 ms | stream TTFB p50 ms | +TTFB ms | stream total p50 ms | errors |')
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const name of names) {
    const x = m[name]
    lines.push(`| ${name} | ${fmt(x.rps)} | ${fmt(ratio(x.rps, d.rps), 2)} | ${n ? fmt(ratio(x.rps, n.rps), 2) : '–'} | ${fmt(x.cpu_us_per_req)} | ${fmt(x.cpu_us_per_req_at_rate)} | ${fmt(x.cpu_us_per_stream)} | ${fmt(x.p50_ms, 3)} | ${fmt(x.p99_ms, 3)} | ${name === 'direct' ? '–' : fmt(x.added_p50_ms, 3)} | ${name === 'direct' ? '–' : fmt(x.added_p99_ms, 3)} | ${fmt(x.stream_ttfb_p50_ms, 3)} | ${name === 'direct' ? '–' : fmt(x.added_stream_ttfb_p50_ms, 3)} | ${fmt(x.stream_total_p50_ms, 1)} | ${x.errors} |`)
  }
  lines.push('', '"+" columns: difference to direct within the same round, median over rounds.', '')
  const s = result.streams2k
  if (s !== undefined) {
    lines.push(`## ${s.streams} concurrent streams on one gateway process`, '')
    lines.push(`Each stream lasts ~${s.stream_seconds} s (mock pacing); all opened within ${result.settings.manyStreamsRampMs / 1000} s, then held ${result.settings.manyStreamsHoldMs / 1000} s. ` +
      'Per stream = (peak RSS − idle RSS) ÷ peak in-flight. Event-loop delay: worst 0.5 s window of `nodejs_eventloop_lag_p99_seconds`.', '')
    lines.push('| RSS idle | RSS peak | RSS after | RSS after a full GC | per stream | JS heap used idle → peak → after → after GC | loop delay p99 held | loop delay p99 opening | in-flight peak → after | completed |')
    lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
    lines.push(`| ${fmt(s.rss_idle_mib, 1)} MiB | ${fmt(s.rss_during_mib, 1)} MiB | ${fmt(s.rss_after_mib, 1)} MiB (after ${fmt(s.rss_settle_s, 1)} s) | ${fmt(s.rss_after_gc_mib, 1)} MiB | ${fmt(s.rss_per_stream_kib, 1)} KiB | ${fmt(s.heap_used_idle_mib, 1)} → ${fmt(s.heap_used_peak_mib, 1)} → ${fmt(s.heap_used_after_mib, 1)} → ${fmt(s.heap_used_after_gc_mib, 1)} MiB | ${fmt(s.eventloop_delay_p99_ms, 1)} ms | ${fmt(s.eventloop_delay_p99_ramp_ms, 1)} ms | ${s.in_flight_peak} → ${s.in_flight_after} | ${s.completed}/${s.streams} |`, '')
  }
  const v = verdicts(result)
  if (v.length > 0) {
    lines.push('## Goals', '')
    for (const x of v) lines.push(`- ${x.met === true ? '**met**' : x.met === false ? '**not met**' : 'n/a'}: ${x.goal}: ${x.figure}`)
    lines.push('')
  }
  if (result.profile !== undefined) {
    const p = result.profile
    lines.push('## Gateway CPU profile (one process, `node --cpu-prof`)', '')
    lines.push(`Shares are of busy CPU time inside the load window (idle samples, start-up and shutdown left out). Raw profile: \`${p.file}\` (not committed).`, '')
    profileTables(lines, p, `Non-streaming: ${result.settings.connections} connections for ${result.settings.profileS} s, ${fmt(p.rps_under_profiler)} req/s under the profiler, ${fmt(p.busy_ms)} ms busy`)
    if (p.streaming !== undefined) {
      profileTables(lines, p.streaming, `Streaming: ${result.settings.streamConcurrency} concurrent streams (${result.settings.streamChunks} chunks ${result.settings.streamChunkDelayMs} ms apart) for ${result.settings.profileS} s, ${fmt(p.streaming.streams_per_s_under_profiler)} streams/s, ${fmt(p.streaming.busy_ms)} ms busy`)
    }
  }
  return lines.join('\n')
}

function profileTables (lines, p, title) {
  lines.push(`### ${title}`, '')
  lines.push('Self time by function:', '', '| share | self ms | function | where |', '|---:|---:|---|---|')
  for (const f of p.functions.slice(0, 15)) lines.push(`| ${fmt(f.share * 100, 1)}% | ${fmt(f.self_ms)} | \`${f.function}\` | ${f.where} |`)
  lines.push('', 'Native time (socket writes, string encoding) charged to the library or gateway code that caused it:', '', '| share | native ← caller |', '|---:|---|')
  for (const c of p.native_by_js_caller.filter((c) => !c.call.startsWith('RegExp')).slice(0, 6)) lines.push(`| ${fmt(c.share * 100, 1)}% | \`${c.call}\` |`)
  lines.push('', 'Self time by owner:', '', '| share | owner |', '|---:|---|')
  for (const o of p.owners.slice(0, 12)) lines.push(`| ${fmt(o.share * 100, 1)}% | ${o.owner} |`)
  lines.push('', 'Inclusive time of the gateway\'s own functions:', '', '| share | function | where |', '|---:|---|---|')
  for (const g of p.gateway_inclusive.slice(0, 10)) lines.push(`| ${fmt(g.share * 100, 1)}% | \`${g.function}\` | ${g.where} |`)
  lines.push('')
}

/** Latency percentiles per target at the fixed rate, as SVG, through vega-lite → vega. */
export async function latencySvg (result) {
  const values = []
  for (const name of result.settings.targets) {
    const x = result.medians[name]
    for (const [p, key] of [['p50', 'p50_ms'], ['p90', 'p90_ms'], ['p99', 'p99_ms'], ['p99.9', 'p999_ms']]) {
      if (Number.isFinite(x[key])) values.push({ target: name, percentile: p, ms: x[key] })
    }
  }
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `Latency at ${result.settings.rate} req/s (open loop), medians of ${result.settings.rounds} round(s)`, subtitle: `${result.date.slice(0, 10)}, loopback, ${result.machine.cores} cores` },
    width: 560,
    height: 320,
    background: 'white',
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'percentile', type: 'ordinal', sort: ['p50', 'p90', 'p99', 'p99.9'], title: 'percentile' },
      y: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'latency (ms, log scale)' },
      color: { field: 'target', type: 'nominal', sort: result.settings.targets, title: 'target' }
    }
  }
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' })
  const svg = await view.toSVG()
  view.finalize()
  return svg
}

export async function writeResults (result, { quick }) {
  // a --quick smoke run must not replace the committed results of a full run
  const dir = quick ? join(benchDir, 'tmp', 'quick-results') : join(benchDir, 'results')
  mkdirSync(dir, { recursive: true })
  const json = JSON.stringify({ ...result, verdicts: verdicts(result) }, null, 2) + '\n'
  const files = [join(dir, `${result.date.slice(0, 10)}.json`), join(dir, 'latest.json'), join(dir, 'latest.md'), join(dir, 'latency.svg')]
  writeFileSync(files[0], json)
  writeFileSync(files[1], json)
  writeFileSync(files[2], markdown(result) + '\n')
  writeFileSync(files[3], await latencySvg(result))
  return files
}
