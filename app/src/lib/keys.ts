// Gateway keys: generation, SHA-256 hashing, parsing of `id:hash [options]` entries, and lookup
// with the key's lifecycle (expiry, disabled, a rotated secret's overlap window).
import { hash, randomBytes, timingSafeEqual } from 'node:crypto'

export interface GatewayKey {
  id: string
  /** lowercase hex SHA-256 of the plaintext key */
  hash: string
  /** requests per minute; undefined means the gateway default */
  rpm?: number
  /** allowed model ids (after alias resolution); undefined means every configured model */
  models?: ReadonlySet<string>
  /** tokens per minute; undefined means the gateway default (0 = unlimited) */
  tpm?: number
  /** USD per UTC day; undefined means the gateway default (0 = unlimited) */
  budgetUsdPerDay?: number
  /** epoch ms from which the key is refused with `key_expired` */
  expiresAt?: number
  /** refused with `key_disabled` (kept in the file so its id and usage stay known) */
  disabled?: boolean
  /** the secret this key replaced, still accepted until `until` (epoch ms): a rotation's overlap */
  previous?: { hash: string, until: number }
  /** `cache=on`: deterministic requests of this key are answered from the response cache */
  cache?: boolean
  /** seconds a cached answer of this key is kept; undefined means CACHE_TTL_S */
  cacheTtlS?: number
  /** keys with the same group share cache entries; undefined: the key's own (its id) */
  cacheGroup?: string
}

const KEY_PREFIX = 'sk-gw-'
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
const HASH_RE = /^[0-9a-f]{64}$/

export function hashKey (key: string): string {
  // One-shot hash: no Hash object per request.
  return hash('sha256', key, 'hex')
}

export function generateKey (): string {
  return KEY_PREFIX + randomBytes(24).toString('base64url')
}

/** Parses one entry; throws an Error whose message says what is wrong (never echoing the hash). */
export function parseKeyEntry (entry: string): GatewayKey {
  const [head = '', ...options] = entry.trim().split(/\s+/)
  const colon = head.indexOf(':')
  if (colon < 0) {
    // Never echo much of it: it may be a plaintext key pasted by mistake.
    if (head.startsWith('sk-')) throw new Error('an entry looks like a plaintext key: list its id:sha256 entry instead (make key prints it)')
    throw new Error(`entry "${head.slice(0, 6)}…" is not of the form id:sha256hex`)
  }
  const id = head.slice(0, colon)
  const hash = head.slice(colon + 1).toLowerCase()
  if (!ID_RE.test(id)) throw new Error(`key id "${id.slice(0, 64)}" must be 1-64 characters of letters, digits, _ . -`)
  if (!HASH_RE.test(hash)) throw new Error(`key "${id}" must carry a 64-character hex SHA-256 hash (run: make key)`)
  const key: GatewayKey = { id, hash }
  let previousHash: string | undefined
  let previousUntil: number | undefined
  for (const option of options) {
    const eq = option.indexOf('=')
    const name = eq < 0 ? option : option.slice(0, eq)
    const value = eq < 0 ? '' : option.slice(eq + 1)
    if (name === 'rpm') {
      const rpm = Number(value)
      if (!Number.isInteger(rpm) || rpm < 1) throw new Error(`key "${id}": rpm must be a positive integer`)
      key.rpm = rpm
    } else if (name === 'tpm') {
      const tpm = Number(value)
      if (!Number.isInteger(tpm) || tpm < 0) throw new Error(`key "${id}": tpm must be an integer ≥ 0 (0 = unlimited)`)
      key.tpm = tpm
    } else if (name === 'budget') {
      const budget = Number(value)
      if (value === '' || !Number.isFinite(budget) || budget < 0) throw new Error(`key "${id}": budget must be USD per day ≥ 0 (0 = unlimited)`)
      key.budgetUsdPerDay = budget
    } else if (name === 'models') {
      const models = value.split('|').map((m) => m.trim()).filter((m) => m !== '')
      if (models.length === 0) throw new Error(`key "${id}": models= needs at least one model (separate with |)`)
      key.models = new Set(models)
    } else if (name === 'expires') {
      key.expiresAt = parseUtcDate(value, `key "${id}": expires`)
    } else if (name === 'disabled') {
      if (value !== '' && value !== 'true') throw new Error(`key "${id}": disabled takes no value`)
      key.disabled = true
    } else if (name === 'previous') {
      if (!HASH_RE.test(value.toLowerCase())) throw new Error(`key "${id}": previous must be the 64-character hex SHA-256 of the replaced key`)
      previousHash = value.toLowerCase()
    } else if (name === 'previous_until') {
      previousUntil = parseUtcDate(value, `key "${id}": previous_until`)
    } else if (name === 'cache') {
      if (value !== 'on' && value !== 'off') throw new Error(`key "${id}": cache must be on or off`)
      key.cache = value === 'on'
    } else if (name === 'cache_ttl') {
      const ttl = Number(value)
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > 30 * 86_400) throw new Error(`key "${id}": cache_ttl must be whole seconds from 1 to 2592000`)
      key.cacheTtlS = ttl
    } else if (name === 'cache_group') {
      if (!ID_RE.test(value)) throw new Error(`key "${id}": cache_group must be 1-64 characters of letters, digits, _ . -`)
      key.cacheGroup = value
    } else {
      throw new Error(`key "${id}": unknown option "${name}" (known: ${KEY_OPTIONS.join(', ')})`)
    }
  }
  if ((previousHash === undefined) !== (previousUntil === undefined)) {
    throw new Error(`key "${id}": previous= and previous_until= go together (the replaced key's hash and the end of the overlap)`)
  }
  if (previousHash !== undefined && previousUntil !== undefined) {
    if (previousHash === hash) throw new Error(`key "${id}": previous= is the same hash as the key itself`)
    key.previous = { hash: previousHash, until: previousUntil }
  }
  return key
}

export const KEY_OPTIONS = ['rpm', 'tpm', 'budget', 'models', 'expires', 'disabled', 'previous', 'previous_until', 'cache', 'cache_ttl', 'cache_group'] as const

const DATE_RE = /^(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?)(Z|\+00:00)?)?$/

/**
 * An ISO 8601 date (`2026-07-01`, meaning 00:00 UTC that day) or date-time in UTC
 * (`2026-07-01T12:00Z`, `…:00+00:00`, or without a zone, read as UTC) → epoch ms.
 * Other offsets are refused: an entry says one instant, the same on every replica.
 */
export function parseUtcDate (value: string, what: string): number {
  const m = DATE_RE.exec(value)
  if (m === null) throw new Error(`${what} must be an ISO 8601 date or date-time in UTC, like 2026-07-01 or 2026-07-01T12:00:00Z`)
  const ms = Date.parse(`${m[1] as string}T${m[2] ?? '00:00'}Z`)
  // Date.parse rolls 2026-02-30 over to March: refuse a day the calendar does not have.
  if (!Number.isFinite(ms) || new Date(ms).toISOString().slice(0, 10) !== m[1]) throw new Error(`${what}: ${value} is not a calendar date`)
  return ms
}

/** Parses a list (comma-separated, or one entry a line with # comments). Ids must be unique. */
export function parseKeyList (text: string, separator: 'comma' | 'line'): GatewayKey[] {
  const raw = separator === 'comma' ? text.split(',') : text.split('\n').map((l) => l.replace(/#.*$/, ''))
  const keys: GatewayKey[] = []
  const ids = new Set<string>()
  const hashes = new Set<string>()
  for (const entry of raw) {
    if (entry.trim() === '') continue
    const key = parseKeyEntry(entry)
    if (ids.has(key.id)) throw new Error(`key id "${key.id}" appears twice`)
    for (const h of key.previous === undefined ? [key.hash] : [key.hash, key.previous.hash]) {
      if (hashes.has(h)) throw new Error(`key "${key.id}" has the same hash as another key`)
      hashes.add(h)
    }
    ids.add(key.id)
    keys.push(key)
  }
  return keys
}

/** Why a presented key is refused: the error code the client gets. */
export type KeyRefusal = 'invalid_api_key' | 'key_expired' | 'key_disabled'

export type AuthResult =
  | { key: GatewayKey }
  | { refused: KeyRefusal, message?: string }

interface RingEntry { key: GatewayKey, /** set for a rotated-out secret: accepted until then */ until?: number }

/** Looks keys up by the hash of the presented bearer token, and applies each key's lifecycle. */
export class KeyRing {
  private byHash = new Map<string, RingEntry>()

  constructor (keys: readonly GatewayKey[]) {
    this.replace(keys)
  }

  /** Swaps the whole set at once: a request sees either the old keys or the new ones. */
  replace (keys: readonly GatewayKey[]): void {
    const next = new Map<string, RingEntry>()
    for (const key of keys) {
      next.set(key.hash, { key })
      if (key.previous !== undefined) next.set(key.previous.hash, { key, until: key.previous.until })
    }
    this.byHash = next
  }

  /** The usable key for a raw `authorization` header value, or undefined (see `check` for why not). */
  authenticate (authorization: string | undefined, now = Date.now()): GatewayKey | undefined {
    const result = this.check(authorization, now)
    return 'key' in result ? result.key : undefined
  }

  /** `authorization` is the raw header value; anything but a known, usable Bearer key is refused, saying why. */
  check (authorization: string | undefined, now = Date.now()): AuthResult {
    if (authorization === undefined || authorization.length > 512) return { refused: 'invalid_api_key' }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization)
    if (match === null) return { refused: 'invalid_api_key' }
    const hash = hashKey(match[1] as string)
    const entry = this.byHash.get(hash)
    // The map lookup already compared hashes; this guards against a future change to a prefix index.
    const stored = entry === undefined ? undefined : entry.until === undefined ? entry.key.hash : entry.key.previous?.hash
    if (entry === undefined || stored === undefined || !timingSafeEqual(Buffer.from(stored, 'hex'), Buffer.from(hash, 'hex'))) return { refused: 'invalid_api_key' }
    const { key } = entry
    // Disabled and expired win over the overlap: they concern the key id, whichever secret is used.
    if (key.disabled === true) return { refused: 'key_disabled' }
    if (key.expiresAt !== undefined && now >= key.expiresAt) return { refused: 'key_expired', message: `This API key expired at ${new Date(key.expiresAt).toISOString()}. Ask the gateway operator for a new one.` }
    if (entry.until !== undefined && now >= entry.until) {
      return { refused: 'key_expired', message: `This API key was replaced by a new one; the old key stopped working at ${new Date(entry.until).toISOString()}.` }
    }
    return { key }
  }
}
