// @ts-check
// Child processes of one bench run: start (optionally pinned to CPUs), wait for, sample (/proc),
// and stop every one of them by PID. Starting and waiting are scripts/lib/procs.mjs's.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { childPids, freePort, sleep, startProcess as start, waitForHttp, waitForPort } from '../../scripts/lib/procs.mjs'

export { childPids, freePort, sleep, waitForHttp, waitForPort }

/** @typedef {import('./types.js').Proc} Proc */

/** @type {Set<Proc>} */
const started = new Set()

/**
 * Spawns `command` with a clean environment plus `env`. Its stdout and stderr go straight to
 * `logFile` (a file descriptor, not a pipe), so a gateway logging one line per request costs
 * the load generator's CPU nothing. `cpus` (a taskset CPU list) pins it and all its threads.
 * The process is remembered so `stopAll()` ends it whatever happens to the run.
 * @param {string} name
 * @param {string} command
 * @param {string[]} args
 * @param {{ env?: Record<string, string>, logFile: string, cwd?: string, cpus?: string }} opts
 * @returns {Proc}
 */
export function startProcess (name, command, args, { env = {}, logFile, cwd, cpus }) {
  const child = start(command, args, { name, env, logFile, cwd, cpus })
  /** @type {Proc} */
  const proc = {
    ...child,
    async stop (graceMs = 5000) {
      started.delete(proc)
      return await child.stop('SIGTERM', graceMs)
    }
  }
  started.add(proc)
  return proc
}

/** Stops every process still running, newest first. */
export async function stopAll () {
  for (const proc of [...started].reverse()) {
    try { await proc.stop() } catch {}
  }
}

/** Last-resort cleanup when the driver is killed: SIGKILL by PID, synchronously. */
export function killAllSync () {
  for (const proc of started) {
    try { process.kill(proc.pid, 'SIGKILL') } catch {}
  }
  started.clear()
}

const CLK_TCK = 100 // USER_HZ on Linux

/**
 * utime+stime of one process in microseconds, or 0 when it is gone.
 * @param {number} pid
 */
export function cpuMicros (pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15
    return (Number(fields[11]) + Number(fields[12])) * (1e6 / CLK_TCK)
  } catch {
    return 0
  }
}

/**
 * Sum of cpuMicros over several PIDs (nginx master + workers, three gateways, …).
 * @param {number[]} pids
 */
export function cpuMicrosOf (pids) {
  return pids.reduce((sum, pid) => sum + cpuMicros(pid), 0)
}

/**
 * Resident set size of one process in bytes (0 when it is gone).
 * @param {number} pid
 */
export function rssBytes (pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = /VmRSS:\s+(\d+) kB/.exec(status)
    return m === null ? 0 : Number(m[1]) * 1024
  } catch {
    return 0
  }
}

/**
 * Sum of RSS over several PIDs.
 * @param {number[]} pids
 */
export function rssOf (pids) {
  return pids.reduce((sum, pid) => sum + rssBytes(pid), 0)
}

/**
 * Pins a running process and all its threads to `cpus` (a taskset CPU list); false if it failed.
 * @param {number} pid
 * @param {string} cpus
 */
export function pinPid (pid, cpus) {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
