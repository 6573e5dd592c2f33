// @ts-check
// CPU placement of a run: the system under test on one core, the mock upstream, Redis and the
// load generator on another (`taskset`), so every figure describes one core of proxy work.
import { execFileSync } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { pinPid } from './procs.mjs'

/** @typedef {import('./types.js').CpuPlan} CpuPlan */

/**
 * The CPUs this process may run on, from `taskset -p` (null when taskset is missing).
 * @returns {number[] | null}
 */
function allowedCpus () {
  let out
  try {
    out = execFileSync('taskset', ['-c', '-p', String(process.pid)], { encoding: 'utf8' })
  } catch {
    return null
  }
  const list = out.slice(out.lastIndexOf(':') + 1).trim()
  const cpus = []
  for (const part of list.split(',')) {
    const [a, b] = part.split('-').map(Number)
    if (a === undefined || !Number.isInteger(a)) continue
    for (let c = a; c <= (b ?? a); c++) cpus.push(c)
  }
  return cpus
}

/**
 * Decides the placement and pins the driver (the load generator) itself; every process the
 * driver starts inherits that placement unless it is started on `targetCpus`.
 * `targetCores` > 1 gives the system under test that many cores (the field's method uses 4).
 * @param {{ enabled: boolean, targetCores?: number }} opts
 * @returns {CpuPlan}
 */
export function planCpus ({ enabled, targetCores = 1 }) {
  const unpinned = (/** @type {string} */ why) => ({ pinned: false, loadCpus: '', targetCpus: '', note: `not pinned: ${why}; every process shares all ${availableParallelism()} cores` })
  if (!enabled) return unpinned('--no-pin')
  const cpus = allowedCpus()
  if (cpus === null) return unpinned('taskset not found (Debian: util-linux)')
  if (cpus.length < targetCores + 1) return unpinned(`${cpus.length} usable core(s), ${targetCores + 1} needed`)
  const load = cpus.slice(0, cpus.length - targetCores)
  const target = cpus.slice(cpus.length - targetCores)
  const plan = {
    pinned: true,
    loadCpus: load.join(','),
    targetCpus: target.join(','),
    note: `pinned with taskset: system under test on CPU ${target.join(',')}; mock upstream, Redis and load generator on CPU ${load.join(',')}`
  }
  if (!pinPid(process.pid, plan.loadCpus)) return unpinned('taskset could not pin the driver')
  return plan
}
