// @ts-check
// Writes a run's results: dated JSON, latest.json, latest.md (tables, ratios, goal verdicts) and
// two charts rendered with vega-lite: latency percentiles at a fixed rate, and the frontier.
import { execFile } from 'node:child_process'
import { cpus, loadavg, release } from 'node:os'
import { mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as vega from 'vega'
import * as vegaLite from 'vega-lite'
import { benchDir, nginxVersion, repoDir } from './targets.mjs'

/**
 * @param {string[]} args
 * @returns {Promise<string | null>}
 */
const git = async (args) => await new Promise((resolve) => execFile('git', ['-C', repoDir, ...args], (err, out) => resolve(err ? null : out.trim())))

/** Which gateway build was measured: the commit and the time app/dist/server.js was built. */
export async function appBuild () {
  const commit = await git(['rev-parse', '--short', 'HEAD']) ?? 'unknown'
  const status = await git(['status', '--porcelain', '--', 'app/src'])
  /** @type {string | undefined} */
  let built
  try { built = statSync(`${repoDir}/app/dist/server.js`).mtime.toISOString() } catch {}
  return { commit, app_src_uncommitted_changes: status === null ? null : status !== '', dist_built_at: built, dist_rebuilt_during_run: /** @type {string | undefined} */ (undefined) }
}

export async function machineInfo () {
  /** @type {string | null} */
  const wrk = await new Promise((resolve) => execFile('wrk', ['-v'], (err, out, errOut) => resolve(err && !out && !errOut ? null : `${out}${errOut}`.split('\n')[0]?.trim() ?? null)))
  return {
    cores: cpus().length,
    cpu_model: cpus()[0]?.model ?? 'unknown',
    kernel: release(),
    node: process.version,
    nginx: await nginxVersion(),
    wrk,
    loadavg_at_start: loadavg().map((x) => Math.round(x * 100) / 100),
    loadavg_at_end: /** @type {number[] | undefined} */ (undefined),
    app: await appBuild()
  }
}

/** @param {number | null | undefined} x @param {number} [d] */
const fmt = (x, d = 0) => (x === null || x === undefined || !Number.isFinite(x)) ? '–' : x.toFixed(d)
/** @param {number} a @param {number} b */
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0) ? a / b : NaN

/**
 * @typedef {Record<string, any>} Json
 * (the result is plain JSON assembled by run.mjs; its fields are read by name here)
 */

/**
 * Each goal of the performance brief, judged on this run's numbers.
 * @param {Json} result
 */
export function verdicts (result) {
  const m = result.medians
  const g = m.gateway
  const u = m['undici-proxy']
  /** @type {Array<{ goal: string, met: boolean | null, figure: string }>} */
  const out = []
  /** @param {string} goal @param {boolean | null} ok @param {string} figure */
  const add = (goal, ok, figure) => out.push({ goal, met: ok === null ? null : Boolean(ok), figure })
  if (g === undefined) return out
  /** @param {Json} x @param {number} bound */
  const front = (x, bound) => /** @type {Array<{ p99_bound_ms: number | null, rps: number }>} */ (x.frontier).find((f) => f.p99_bound_ms === bound)?.rps ?? NaN
  if (u !== undefined) {
    const r = ratio(g.rps, u.rps)
    add('one gateway (shipped defaults) throughput ≥ 0.8× bare undici proxy', r >= 0.8, `${fmt(r, 2)}× (${fmt(g.rps)} vs ${fmt(u.rps)} req/s at ${result.settings.connections} connections)`)
    add('moonshot: ≥ 1.0× bare undici proxy', r >= 1.0, `${fmt(r, 2)}×`)
    const c = ratio(g.cpu_us_per_req, u.cpu_us_per_req)
    add('CPU per request ≤ 1.25× the bare proxy\'s, saturated', c <= 1.25, `${fmt(c, 2)}× (${fmt(g.cpu_us_per_req)} vs ${fmt(u.cpu_us_per_req)} µs)`)
    const cr = ratio(g.cpu_us_per_req_at_rate, u.cpu_us_per_req_at_rate)
    add(`CPU per request ≤ 1.25× the bare proxy's, at ${result.settings.rate} req/s`, cr <= 1.25, `${fmt(cr, 2)}× (${fmt(g.cpu_us_per_req_at_rate)} vs ${fmt(u.cpu_us_per_req_at_rate)} µs)`)
    const f5 = ratio(front(g, 5), front(u, 5))
    add('throughput frontier at p99 ≤ 5 ms ≥ 0.8× the bare proxy\'s', f5 >= 0.8, `${fmt(f5, 2)}× (${fmt(front(g, 5))} vs ${fmt(front(u, 5))} req/s)`)
    const ttfb = g.added_stream_ttfb_p50_ms - u.added_stream_ttfb_p50_ms
    add(`under ${result.settings.streamConcurrency} concurrent new streams, added TTFB ≤ the bare proxy's + 0.3 ms`, ttfb <= 0.3, `+${fmt(g.added_stream_ttfb_p50_ms, 3)} ms vs +${fmt(u.added_stream_ttfb_p50_ms, 3)} ms (${ttfb >= 0 ? '+' : ''}${fmt(ttfb, 3)} ms)`)
  }
  add('added p99 at concurrency 1 ≤ 250 µs over direct', g.added_p99_c1_us <= 250, `+${fmt(g.added_p99_c1_us)} µs`)
  add('moonshot: added p99 at concurrency 1 ≤ 150 µs', g.added_p99_c1_us <= 150, `+${fmt(g.added_p99_c1_us)} µs`)
  add('streams: added TTFT at concurrency 1 ≤ 300 µs', g.added_ttft_c1_us <= 300, `+${fmt(g.added_ttft_c1_us)} µs (p50)`)
  add(`streams: added inter-frame gap p99 ≤ 1 ms (${result.settings.paceMs} ms pace, ${result.settings.gapConcurrency} streams)`, g.added_frame_gap_p99_us <= 1000, `+${fmt(g.added_frame_gap_p99_us)} µs (p50 +${fmt(g.added_frame_gap_p50_us)} µs)`)
  if (g.streams_sustained !== null) {
    add('≥ 5,000 streams sustained per process, no lost frame or stall', g.streams_sustained >= 5000, `${g.streams_sustained}${g.streams_sustained_capped ? ' (the load side\'s own ceiling: direct sustained no more)' : ''}`)
  }
  add('idle RSS per replica ≤ 80 MiB', g.rss_idle_mib <= 80, `${fmt(g.rss_idle_mib, 1)} MiB (fresh process, before any request)`)
  add('recovered RSS within 10% of idle', g.rss_recovered_mib <= g.rss_idle_mib * 1.1, `${fmt(g.rss_recovered_mib, 1)} MiB vs ${fmt(g.rss_idle_mib, 1)} MiB idle, ${fmt(g.rss_recovered_after_s, 1)} s after the last load (steady ${fmt(g.rss_steady_mib, 1)} MiB)`)
  if (m.portkey) {
    const r = ratio(g.rps, m.portkey.rps)
    add('one gateway throughput ≥ 8× Portkey', r >= 8, `${fmt(r, 1)}× (${fmt(g.rps)} vs ${fmt(m.portkey.rps)} req/s)`)
  }
  const s = result.streams2k
  if (s !== undefined) {
    add(`${s.streams} streams: ≤ 48 KiB RSS per stream`, s.rss_per_stream_kib <= 48, `${fmt(s.rss_per_stream_kib, 1)} KiB`)
    add(`${s.streams} streams: RSS back within 10% of idle`, s.rss_after_vs_idle <= 1.1, `${fmt(s.rss_after_mib, 1)} MiB vs ${fmt(s.rss_idle_mib, 1)} MiB idle (${s.rss_after_vs_idle >= 1 ? '+' : ''}${fmt((s.rss_after_vs_idle - 1) * 100, 1)}%, ${fmt(s.rss_settle_s, 1)} s after the last stream ended; ${fmt(s.rss_after_gc_mib, 1)} MiB after a forced full GC)`)
    add(`${s.streams} streams: event-loop delay p99 ≤ 20 ms`, s.eventloop_delay_p99_ms <= 20, `${fmt(s.eventloop_delay_p99_ms, 1)} ms while held (worst 0.5 s window; ${fmt(s.eventloop_delay_p99_ramp_ms, 1)} ms while ${s.streams} streams were opened in ${result.settings.manyStreamsRampMs / 1000} s)`)
    add(`${s.streams} streams: in-flight gauge back to 0`, s.in_flight_after === 0, `${s.in_flight_after} (peak ${s.in_flight_peak})`)
    add(`${s.streams} streams: every stream completed`, s.failed === 0 && s.completed === s.streams, `${s.completed}/${s.streams}`)
  }
  return out
}

/** @param {Json} result */
export function markdown (result) {
  const m = result.medians
  /** @type {string[]} */
  const names = result.settings.targets
  const d = m.direct
  const n = m.nginx
  /** @type {string[]} */
  const lines = []
  const mc = result.machine
  const st = result.settings
  lines.push(`# Benchmark results, ${result.date.slice(0, 10)}${st.quick ? ' (quick smoke run)' : ''}`, '')
  lines.push(`${mc.cores} cores (${mc.cpu_model}), Linux ${mc.kernel}, Node ${mc.node}, nginx ${mc.nginx}, closed loop by ${st.closed_loop_tool === 'wrk' ? mc.wrk : 'an undici client (wrk not installed)'}; load average (1/5/15 min) at start ${mc.loadavg_at_start.join(' ')}${mc.loadavg_at_end !== undefined ? `, at end ${mc.loadavg_at_end.join(' ')}` : ''}.`)
  lines.push(`CPU placement: ${result.cpu_plan.note}. Every figure of a proxy is what **one core** of it does.`)
  if (mc.app !== undefined) lines.push(`Gateway build: commit ${mc.app.commit}${mc.app.app_src_uncommitted_changes ? ' (with uncommitted changes in app/src)' : ''}, app/dist built ${mc.app.dist_built_at}${mc.app.dist_rebuilt_during_run ? `; app/dist was rebuilt during the run at ${mc.app.dist_rebuilt_during_run} (the bench's gateways ran from a snapshot taken at the start; the stack's replicas were started from app/dist at the start too)` : ''}.`)
  lines.push(`Loopback; medians of ${st.rounds} round(s), targets alternating round-robin; \`gateway\` and \`stack\` run the shipped defaults (LOG_LEVEL=info, limits in Redis, metrics on), \`gateway-warn\` the same at LOG_LEVEL=warn; run took ${result.duration_s} s.`, '')

  lines.push('## The cross-gateway method', '')
  lines.push(`Added p99 at concurrency 1: one connection, closed loop, ${st.rungS} s, minus direct's in the same round. ` +
    `Frontier: the most req/s of any rung of one closed-loop sweep (${st.sweep.join(', ')} connections, ${st.rungS} s each) whose p99 stayed within the bound. ` +
    `Streams: the mock paces events ${st.paceMs} ms apart; TTFT (request → first content event) at concurrency 1, p50; inter-frame gaps between content events under ${st.gapConcurrency} concurrent streams; ` +
    `streams sustained: the largest rung of ${st.sustainRungs.join(', ')} concurrent streams with no lost frame, no silence over ${st.stallFactor}× the pace and < 0.1% errors. ` +
    'RSS: idle = the fresh process once it listens, before any request; steady = median under the round\'s load; recovered = after it was left alone (up to ' + `${st.recoverQuietMs / 1000} s, or once within 10% of idle).`, '')
  lines.push('| target | +p99 c=1 µs | req/s p99≤1 ms | ≤5 ms | ≤10 ms | ≤50 ms | unbounded | +TTFT c=1 µs | +gap p50 µs | +gap p99 µs | streams sustained | RSS idle / steady / recovered MiB |')
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|')
  for (const name of names) {
    const x = m[name]
    const f = /** @type {Array<{ rps: number }>} */ (x.frontier).map((e) => fmt(e.rps))
    const dash = name === 'direct'
    const sus = x.streams_sustained === null ? '–' : `${x.streams_sustained_capped ? '≥ ' : ''}${x.streams_sustained}`
    lines.push(`| ${name} | ${dash ? `(${fmt(x.p99_c1_us)})` : fmt(x.added_p99_c1_us)} | ${f.join(' | ')} | ${dash ? `(${fmt(x.ttft_c1_p50_us)})` : fmt(x.added_ttft_c1_us)} | ${dash ? `(${fmt(x.frame_gap_p50_us)})` : fmt(x.added_frame_gap_p50_us)} | ${dash ? `(${fmt(x.frame_gap_p99_us)})` : fmt(x.added_frame_gap_p99_us)} | ${sus} | ${fmt(x.rss_idle_mib, 1)} / ${fmt(x.rss_steady_mib, 1)} / ${fmt(x.rss_recovered_mib, 1)} |`)
  }
  lines.push('', 'direct\'s row gives its own figures in parentheses; "+" is the difference to direct within a round, median over rounds. "≥" marks a streams figure that reached direct\'s own ceiling (the load side could not open more). Portkey drops the body\'s pacing knobs, so it has no paced-stream figures.', '')
  lines.push('### The sweep\'s rungs (req/s, p99 ms)', '')
  /** @type {number[]} */
  const conns = st.sweep
  lines.push(`| target | ${conns.map((c) => `c=${c}`).join(' | ')} |`, `|---|${conns.map(() => '---:').join('|')}|`)
  for (const name of names) {
    /** @type {Array<{ connections: number, rps: number, p99_us: number }>} */
    const sweep = m[name].sweep
    lines.push(`| ${name} | ${conns.map((c) => { const r = sweep.find((x) => x.connections === c); return r === undefined ? '–' : `${fmt(r.rps)}, ${fmt(r.p99_us / 1000, 2)}` }).join(' | ')} |`)
  }
  lines.push('')

  lines.push('## Today\'s figures', '')
  lines.push(`Throughput: the sweep's ${st.connections}-connection rung (${st.request_body_bytes} B request). ` +
    `Latency: open-loop ${st.rate} req/s for ${st.rateS} s. Streams: ${st.streamConcurrency} concurrent, ${st.streamChunks} chunks ${st.streamChunkDelayMs} ms apart, TTFB = first body byte. ` +
    'CPU: utime+stime of the proxy processes (stack: nginx and the three gateways) ÷ requests, during that rung (saturated) and the fixed-rate phase; per stream during the streaming phase.', '')
  lines.push('| target | req/s | × direct | × nginx | CPU µs/req | CPU µs/req at rate | CPU µs/stream | p50 ms | p99 ms | +p50 ms | +p99 ms | stream TTFB p50 ms | +TTFB ms | stream total p50 ms | errors |')
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const name of names) {
    const x = m[name]
    const dash = name === 'direct'
    lines.push(`| ${name} | ${fmt(x.rps)} | ${fmt(ratio(x.rps, d.rps), 2)} | ${n ? fmt(ratio(x.rps, n.rps), 2) : '–'} | ${fmt(x.cpu_us_per_req)} | ${fmt(x.cpu_us_per_req_at_rate)} | ${fmt(x.cpu_us_per_stream)} | ${fmt(x.p50_ms, 3)} | ${fmt(x.p99_ms, 3)} | ${dash ? '–' : fmt(x.added_p50_ms, 3)} | ${dash ? '–' : fmt(x.added_p99_ms, 3)} | ${fmt(x.stream_ttfb_p50_ms, 3)} | ${dash ? '–' : fmt(x.added_stream_ttfb_p50_ms, 3)} | ${fmt(x.stream_total_p50_ms, 1)} | ${x.errors} |`)
  }
  lines.push('', '"+" columns: difference to direct within the same round, median over rounds.', '')
  const s = result.streams2k
  if (s !== undefined) {
    lines.push(`## ${s.streams} concurrent streams on one gateway process`, '')
    lines.push(`Each stream lasts ~${s.stream_seconds} s (mock pacing); all opened within ${st.manyStreamsRampMs / 1000} s, then held ${st.manyStreamsHoldMs / 1000} s. ` +
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
    lines.push('## Gateway CPU profile (one process, shipped defaults, `node --cpu-prof`)', '')
    lines.push(`Shares are of busy CPU time inside the load window (idle samples, start-up and shutdown left out). Raw profile: \`${p.file}\` (not committed).`, '')
    profileTables(lines, p, `Non-streaming: ${st.connections} connections for ${st.profileS} s, ${fmt(p.rps_under_profiler)} req/s under the profiler, ${fmt(p.busy_ms)} ms busy`)
    if (p.streaming !== undefined) {
      profileTables(lines, p.streaming, `Streaming: ${st.streamConcurrency} concurrent streams (${st.streamChunks} chunks ${st.streamChunkDelayMs} ms apart) for ${st.profileS} s, ${fmt(p.streaming.streams_per_s_under_profiler)} streams/s, ${fmt(p.streaming.busy_ms)} ms busy`)
    }
  }
  return lines.join('\n')
}

/**
 * @param {string[]} lines
 * @param {Json} p
 * @param {string} title
 */
function profileTables (lines, p, title) {
  lines.push(`### ${title}`, '')
  lines.push('Self time by function:', '', '| share | self ms | function | where |', '|---:|---:|---|---|')
  for (const f of p.functions.slice(0, 15)) lines.push(`| ${fmt(f.share * 100, 1)}% | ${fmt(f.self_ms)} | \`${f.function}\` | ${f.where} |`)
  lines.push('', 'Native time (socket writes, string encoding) charged to the library or gateway code that caused it:', '', '| share | native ← caller |', '|---:|---|')
  for (const c of p.native_by_js_caller.filter((/** @type {Json} */ c) => !c.call.startsWith('RegExp')).slice(0, 6)) lines.push(`| ${fmt(c.share * 100, 1)}% | \`${c.call}\` |`)
  lines.push('', 'Self time by owner:', '', '| share | owner |', '|---:|---|')
  for (const o of p.owners.slice(0, 12)) lines.push(`| ${fmt(o.share * 100, 1)}% | ${o.owner} |`)
  lines.push('', 'Inclusive time of the gateway\'s own functions:', '', '| share | function | where |', '|---:|---|---|')
  for (const g of p.gateway_inclusive.slice(0, 10)) lines.push(`| ${fmt(g.share * 100, 1)}% | \`${g.function}\` | ${g.where} |`)
  lines.push('')
}

/**
 * Renders a vega-lite spec to SVG in Node (no browser).
 * @param {Record<string, unknown>} spec
 */
async function renderSvg (spec) {
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' })
  const svg = await view.toSVG()
  view.finalize()
  return svg
}

/**
 * Latency percentiles per target at the fixed rate.
 * @param {Json} result
 */
export async function latencySvg (result) {
  const values = []
  for (const name of result.settings.targets) {
    const x = result.medians[name]
    for (const [p, key] of [['p50', 'p50_ms'], ['p90', 'p90_ms'], ['p99', 'p99_ms'], ['p99.9', 'p999_ms']]) {
      if (key !== undefined && Number.isFinite(x[key])) values.push({ target: name, percentile: p, ms: x[key] })
    }
  }
  return await renderSvg({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `Latency at ${result.settings.rate} req/s (open loop), medians of ${result.settings.rounds} round(s)`, subtitle: `${result.date.slice(0, 10)}, loopback, ${result.cpu_plan.pinned ? 'each proxy on one core' : `${result.machine.cores} cores, not pinned`}` },
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
  })
}

/**
 * The throughput frontier: p99 against req/s for every rung of the sweep, per target, with the
 * method's p99 bounds drawn across.
 * @param {Json} result
 */
export async function frontierSvg (result) {
  const values = []
  for (const name of result.settings.targets) {
    for (const r of result.medians[name].sweep) {
      if (Number.isFinite(r.rps) && Number.isFinite(r.p99_us) && r.p99_us > 0) values.push({ target: name, connections: r.connections, rps: r.rps, p99_ms: r.p99_us / 1000 })
    }
  }
  /** @type {number[]} */
  const bounds = result.settings.frontierBoundsMs
  return await renderSvg({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Throughput frontier: p99 against req/s over one concurrency sweep', subtitle: `${result.settings.sweep.join(', ')} connections; lines at p99 = ${bounds.join(', ')} ms; ${result.date.slice(0, 10)}, ${result.cpu_plan.pinned ? 'each proxy on one core' : 'not pinned'}` },
    width: 560,
    height: 340,
    background: 'white',
    layer: [
      {
        data: { values },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'rps', type: 'quantitative', title: 'req/s (closed loop)' },
          y: { field: 'p99_ms', type: 'quantitative', scale: { type: 'log' }, title: 'p99 latency (ms, log scale)' },
          color: { field: 'target', type: 'nominal', sort: result.settings.targets, title: 'target' },
          order: { field: 'connections', type: 'quantitative' },
          tooltip: [{ field: 'target' }, { field: 'connections' }, { field: 'rps', format: '.0f' }, { field: 'p99_ms', format: '.2f' }]
        }
      },
      {
        data: { values: bounds.map((ms) => ({ ms })) },
        mark: { type: 'rule', strokeDash: [4, 4], color: 'gray' },
        encoding: { y: { field: 'ms', type: 'quantitative' } }
      }
    ]
  })
}

/**
 * @param {Json} result
 * @param {{ quick: boolean }} opts
 */
export async function writeResults (result, { quick }) {
  // a --quick smoke run must not replace the committed results of a full run
  const dir = quick ? join(benchDir, 'tmp', 'quick-results') : join(benchDir, 'results')
  mkdirSync(dir, { recursive: true })
  const json = JSON.stringify({ ...result, verdicts: verdicts(result) }, null, 2) + '\n'
  const dated = join(dir, `${result.date.slice(0, 10)}.json`)
  const latest = join(dir, 'latest.json')
  const md = join(dir, 'latest.md')
  const latency = join(dir, 'latency.svg')
  const frontier = join(dir, 'frontier.svg')
  writeFileSync(dated, json)
  writeFileSync(latest, json)
  writeFileSync(md, markdown(result) + '\n')
  writeFileSync(latency, await latencySvg(result))
  writeFileSync(frontier, await frontierSvg(result))
  const files = [dated, latest, md, latency, frontier]
  return files
}
