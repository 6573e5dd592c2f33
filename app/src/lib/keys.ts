// Gateway keys: generation, SHA-256 hashing, and parsing of `id:hash [rpm=N] [models=a|b]` entries.
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
    } else {
      throw new Error(`key "${id}": unknown option "${name}" (known: rpm, tpm, budget, models)`)
    }
  }
  return key
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
    if (hashes.has(key.hash)) throw new Error(`key "${key.id}" has the same hash as another key`)
    ids.add(key.id)
    hashes.add(key.hash)
    keys.push(key)
  }
  return keys
}

/** Looks keys up by the hash of the presented bearer token. */
export class KeyRing {
  private byHash = new Map<string, GatewayKey>()

  constructor (keys: readonly GatewayKey[]) {
    this.replace(keys)
  }

  /** Swaps the whole set at once: a request sees either the old keys or the new ones. */
  replace (keys: readonly GatewayKey[]): void {
    const next = new Map<string, GatewayKey>()
    for (const key of keys) next.set(key.hash, key)
    this.byHash = next
  }

  get size (): number { return this.byHash.size }

  /** `authorization` is the raw header value; returns undefined for anything but a known Bearer key. */
  authenticate (authorization: string | undefined): GatewayKey | undefined {
    if (authorization === undefined || authorization.length > 512) return undefined
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization)
    if (match === null) return undefined
    const hash = hashKey(match[1] as string)
    const key = this.byHash.get(hash)
    // The map lookup already compared hashes; this guards against a future change to a prefix index.
    if (key === undefined || !timingSafeEqual(Buffer.from(key.hash, 'hex'), Buffer.from(hash, 'hex'))) return undefined
    return key
  }
}
