// Reads how long an upstream asks us to wait (Retry-After seconds or date, retry-after-ms, OpenAI reset durations).
import type { IncomingHttpHeaders } from 'node:http'
import { headerString } from './headers.js'

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** Parses OpenAI-style durations like "6m0s", "1.5s", "250ms"; undefined if it is not one. */
export function parseDuration (text: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g
  let total = 0
  let consumed = 0
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (m.index !== consumed) return undefined
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number)
    consumed = re.lastIndex
  }
  return consumed === text.length && consumed > 0 ? total : undefined
}

/** The wait in milliseconds an upstream asked for, or undefined when it gave none we can read. */
export function retryAfterMs (headers: IncomingHttpHeaders, now = Date.now()): number | undefined {
  const ms = headerString(headers, 'retry-after-ms')
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.ceil(Number(ms))
  const ra = headerString(headers, 'retry-after')?.trim()
  if (ra !== undefined && ra !== '') {
    if (/^\d+(\.\d+)?$/.test(ra)) return Math.ceil(Number(ra) * 1000)
    const date = Date.parse(ra)
    if (!Number.isNaN(date)) return Math.max(0, date - now)
  }
  for (const name of ['x-ratelimit-reset-requests', 'x-ratelimit-reset-tokens']) {
    const v = headerString(headers, name)
    const d = v === undefined ? undefined : parseDuration(v.trim())
    if (d !== undefined) return Math.ceil(d)
  }
  return undefined
}

/** Whole seconds for a Retry-After header (at least 1, so clients never spin). */
export function retryAfterSeconds (ms: number): string {
  return String(Math.max(1, Math.ceil(ms / 1000)))
}

/** OpenAI's duration format for x-ratelimit-reset-*: "1m30s", "12s", "250ms". */
export function formatDuration (ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`
  const totalS = Math.ceil(ms / 1000)
  const m = Math.floor(totalS / 60)
  const s = totalS % 60
  return m > 0 ? `${m}m${s}s` : `${s}s`
}
