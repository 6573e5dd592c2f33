// One spelling for equal JSON values (object keys sorted, no spaces), so that two requests that mean
// the same thing hash the same however their client ordered the fields: cache and idempotency keys.
import { hash } from 'node:crypto'

/** JSON text with every object's keys in code-point order; `undefined` members are dropped, as JSON.stringify does. */
export function canonicalJson (value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return `[${value.map((v) => v === undefined ? 'null' : canonicalJson(v)).join(',')}]`
  const obj = value as Record<string, unknown>
  const parts: string[] = []
  for (const k of Object.keys(obj).sort()) {
    const v = obj[k]
    if (v === undefined || typeof v === 'function') continue
    parts.push(`${JSON.stringify(k)}:${canonicalJson(v)}`)
  }
  return `{${parts.join(',')}}`
}

/** Hex SHA-256 of the canonical form of a list of values (each part separated, so parts cannot run together). */
export function canonicalHash (...parts: unknown[]): string {
  return hash('sha256', canonicalJson(parts), 'hex')
}
