// `make key [ID=name]`: prints a new gateway key and the GATEWAY_KEYS entry that holds only its hash.
// `make key rotate ID=name [OVERLAP=7d] [KEYS_FILE=path]`: a new secret for an existing key id; the old
// one keeps working until the overlap ends (previous= / previous_until= on the entry).
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { generateKey, hashKey, parseKeyEntry } from '../lib/keys.js'

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
const OPTIONS_HELP = 'Options after the entry, separated by spaces: rpm=<requests/min> tpm=<tokens/min> budget=<USD/day> models=<model>|<model> expires=<YYYY-MM-DD or date-time, UTC> disabled'

function fail (message: string): never {
  process.stderr.write(`${message}\n`)
  process.exit(2)
}

function newKey (id: string): void {
  const key = generateKey()
  process.stdout.write([
    `New gateway key for "${id}" (shown once; give it to the client):`,
    '',
    `  ${key}`,
    '',
    'Add this entry to GATEWAY_KEYS in .env (comma-separated), or as a line of GATEWAY_KEYS_FILE:',
    '',
    `  ${id}:${hashKey(key)}`,
    '',
    OPTIONS_HELP,
    ''
  ].join('\n'))
}

/** `7d`, `12h` or an ISO date/date-time (UTC) → the instant the old secret stops working. */
function overlapEnd (value: string, now: number): number {
  const m = /^(\d+)([dh])$/.exec(value)
  if (m !== null) return now + Number(m[1]) * (m[2] === 'd' ? 86_400_000 : 3_600_000)
  const ms = Date.parse(/[zZ]|[+-]\d\d:\d\d$/.test(value) || !value.includes('T') ? value : `${value}Z`)
  if (!Number.isFinite(ms) || ms <= now) fail(`--overlap must be like 7d, 12h or a future UTC date-time (got "${value}")`)
  return ms
}

/** The entry with a new hash, the old one as previous=, options kept (an older previous= is dropped). */
function rotatedEntry (entry: string, newHash: string, until: number): string {
  const [head = '', ...options] = entry.trim().split(/\s+/)
  const id = head.slice(0, head.indexOf(':'))
  const oldHash = head.slice(head.indexOf(':') + 1).toLowerCase()
  const kept = options.filter((o) => !o.startsWith('previous=') && !o.startsWith('previous_until='))
  return [`${id}:${newHash}`, ...kept, `previous=${oldHash}`, `previous_until=${new Date(until).toISOString().replace(/\.000Z$/, 'Z')}`].join(' ')
}

function envFileKeys (): string | undefined {
  if (!existsSync('.env')) return undefined
  const line = readFileSync('.env', 'utf8').split('\n').reverse().find((l) => l.startsWith('GATEWAY_KEYS='))
  return line?.slice('GATEWAY_KEYS='.length)
}

function rotate (id: string, args: string[]): void {
  const opt = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
  const now = Date.now()
  const until = overlapEnd(opt('overlap') ?? '7d', now)
  const file = opt('file') ?? process.env.GATEWAY_KEYS_FILE
  const key = generateKey()
  const newHash = hashKey(key)
  const shown = ['', `New secret for key "${id}" (shown once; give it to the client):`, '', `  ${key}`, '']
  const overlap = `The old secret keeps working until ${new Date(until).toISOString()}; after that only the new one does.`

  if (file !== undefined && file !== '') {
    if (!existsSync(file)) fail(`keys file ${file} does not exist`)
    const lines = readFileSync(file, 'utf8').split('\n')
    const at = lines.findIndex((l) => l.replace(/#.*$/, '').trim().startsWith(`${id}:`))
    if (at < 0) fail(`key id "${id}" is not in ${file}`)
    const line = lines[at] as string
    const hash = line.indexOf('#')
    const comment = hash < 0 ? '' : ' ' + line.slice(hash)
    const entry = rotatedEntry(hash < 0 ? line : line.slice(0, hash), newHash, until)
    parseKeyEntry(entry) // the result must be a valid entry before the file is touched
    lines[at] = entry + comment
    // Written in place (same inode): a file bind-mounted into containers sees the change.
    writeFileSync(file, lines.join('\n'))
    process.stdout.write([...shown, `Updated ${file}:`, '', `  ${entry}`, '', overlap,
      'Apply it on every replica: docker compose kill -s HUP gateway (or kill -HUP each gateway process).', ''].join('\n'))
    return
  }
  const list = process.env.GATEWAY_KEYS ?? envFileKeys() ?? ''
  const current = list.split(',').find((e) => e.trim().startsWith(`${id}:`))
  if (current === undefined) fail(`key id "${id}" is in neither GATEWAY_KEYS_FILE nor GATEWAY_KEYS (pass KEYS_FILE=path for a keys file)`)
  const entry = rotatedEntry(current, newHash, until)
  parseKeyEntry(entry)
  process.stdout.write([...shown, 'Replace its entry in GATEWAY_KEYS (.env) with:', '', `  ${entry}`, '', overlap,
    'GATEWAY_KEYS is read at start: run `make up` to apply it (a keys file reloads on SIGHUP instead).', ''].join('\n'))
}

const [first, second, ...rest] = process.argv.slice(2)
if (first === 'rotate') {
  if (second === undefined || !ID_RE.test(second)) fail('usage: make key rotate ID=<key id> [OVERLAP=7d|12h|<UTC date-time>] [KEYS_FILE=path]')
  rotate(second, rest)
} else {
  const id = first !== undefined && first !== '' ? first : `key-${Date.now().toString(36)}`
  if (!ID_RE.test(id)) fail('key id must be 1-64 characters of letters, digits, _ . -')
  newKey(id)
}
