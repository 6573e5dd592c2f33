// Shapes shared by the bench's modules (JSDoc in the .mjs files refers to them).
import type { ChildProcess } from 'node:child_process'

/** A child process of one bench run, stopped by PID whatever happens to the run. */
export interface Proc {
  name: string
  pid: number
  child: ChildProcess
  exited: Promise<number | string | null>
  /** the last ~4 KB the process wrote (stdout and stderr, from its log file) */
  output: () => string
  alive: () => boolean
  stop: (graceMs?: number) => Promise<number | string | null>
}

/** Something the load generators can send requests to. */
export interface Target {
  name: string
  origin: string
  path: string
  url: string
  headers: Record<string, string>
  /** the processes whose CPU time and RSS are the target's (empty for `direct`) */
  pids: () => number[]
  proc?: Proc
  /** CA and SNI name when the origin is HTTPS (the stack) */
  ca?: Buffer
  servername?: string
  metricsUrl?: string
  inspectPort?: number
  version?: string
  stop?: () => Promise<void>
  /** false when the target drops the body's `mock` knobs (Portkey): paced-stream phases skip it */
  passesMockKnobs: boolean
  /** RSS of the fresh process before any relayed request, in bytes (null: not a process of ours) */
  idleRssBytes: number | null
}

export interface Upstream {
  proc: Proc
  port: number
  origin: string
}

export interface RedisServer {
  proc: Proc
  port: number
  url: string
}

/** Where the run's processes are pinned (`taskset`), or why they are not. */
export interface CpuPlan {
  pinned: boolean
  /** CPU list for the mock upstream, Redis and the load generator */
  loadCpus: string
  /** CPU list for the system under test (proxy, gateway, nginx, the stack's gateways) */
  targetCpus: string
  note: string
}

/** Latency summary; values in microseconds unless the name says otherwise. */
export interface Summary {
  n: number
  p50: number
  p90: number
  p99: number
  'p99.9': number
  mean: number
  max: number
}

/** One rung of the closed-loop concurrency sweep. */
export interface Rung {
  connections: number
  requests: number
  rps: number
  errors: number
  p50_us: number
  p99_us: number
  cpu_us_per_req: number | null
}
