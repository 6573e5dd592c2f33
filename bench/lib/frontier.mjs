// @ts-check
// The throughput frontier from one closed-loop concurrency sweep, and medians over rounds.

/** @typedef {import('./types.js').Rung} Rung */

/**
 * Median of the finite values (NaN when there is none).
 * @param {Array<number | null | undefined>} xs
 */
export function median (xs) {
  const s = /** @type {number[]} */ (xs.filter((x) => typeof x === 'number' && Number.isFinite(x))).sort((a, b) => a - b)
  if (s.length === 0) return NaN
  const m = s.length >> 1
  return s.length % 2 === 1 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2
}

/**
 * The most req/s any rung carried while its p99 stayed within each bound (ms), then with no
 * bound. A rung with errors (beyond 0.1% of its requests) does not count: an error is not a
 * fast answer. `rps` is 0 when no rung met the bound.
 * @param {Rung[]} sweep
 * @param {number[]} boundsMs
 * @returns {Array<{ p99_bound_ms: number | null, rps: number, connections: number | null }>}
 */
export function frontierOf (sweep, boundsMs) {
  return [...boundsMs, Infinity].map((bound) => {
    let best = { rps: 0, connections: /** @type {number | null} */ (null) }
    for (const r of sweep) {
      const clean = r.errors <= 0.001 * (r.requests + r.errors)
      if (clean && r.p99_us <= bound * 1000 && r.rps > best.rps) best = { rps: r.rps, connections: r.connections }
    }
    return { p99_bound_ms: Number.isFinite(bound) ? bound : null, ...best }
  })
}

/**
 * Per rung (by connection count), the median of each figure over rounds.
 * @param {Rung[][]} sweeps one sweep per round
 * @returns {Array<{ connections: number, rps: number, p50_us: number, p99_us: number, cpu_us_per_req: number, errors: number }>}
 */
export function rungMedians (sweeps) {
  const conns = [...new Set(sweeps.flat().map((r) => r.connections))].sort((a, b) => a - b)
  return conns.map((c) => {
    const rs = sweeps.map((s) => s.find((r) => r.connections === c)).filter((r) => r !== undefined)
    return {
      connections: c,
      rps: median(rs.map((r) => r.rps)),
      p50_us: median(rs.map((r) => r.p50_us)),
      p99_us: median(rs.map((r) => r.p99_us)),
      cpu_us_per_req: median(rs.map((r) => r.cpu_us_per_req)),
      errors: rs.reduce((n, r) => n + r.errors, 0)
    }
  })
}

/**
 * A target's figure minus direct's, paired within each round, then the median over rounds.
 * @template {string} K
 * @param {Array<Record<string, Record<K, unknown>>>} rounds
 * @param {string} name
 * @param {K} key
 */
export function pairedMedian (rounds, name, key) {
  return median(rounds.map((rd) => Number(rd[name]?.[key] ?? NaN) - Number(rd.direct?.[key] ?? NaN)))
}
