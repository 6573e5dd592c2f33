// Types for procs.mjs (imported by the type-checked bench and by TypeScript tests).
export function sleep (ms: number): Promise<void>
export function freePort (): Promise<number>
export function freePorts (n: number): Promise<number[]>
export function pidAlive (pid: number | null | undefined): boolean
export function waitUntil (what: string, probe: () => Promise<unknown> | unknown, opts?: { timeoutMs?: number, intervalMs?: number, abort?: () => string | false | undefined | null }): Promise<void>
export function httpOk (url: string, status?: number): Promise<true | string>
export function redisPing (port: number, host?: string): Promise<true | string>
export interface SupervisedOptions {
  name: string
  command: string
  args: string[]
  env: Record<string, string | undefined>
  cwd?: string
  logFile: string
  ready?: () => Promise<unknown>
  restart?: boolean
  restartDelayMs?: number
  onChange?: () => void
  log?: (msg: string) => void
}
export class Supervised {
  constructor (opts: SupervisedOptions)
  name: string
  pid: number | null
  restarts: number
  start (timeoutMs?: number): Promise<unknown>
  stop (signal?: NodeJS.Signals, graceMs?: number): Promise<unknown>
}
