// `make usage [KEY=id] [DAYS=7]`: the usage API (GET /admin/usage on a replica's internal port) as a
// table: one row per day for a key, or one row per key for all of them, and the total.
import { readFileSync } from 'node:fs'

interface Row { [group: string]: string | number }
interface Answer { group_by: string, from: string, to: string, data: Row[], total: Row }

const COLUMNS: Array<[string, string]> = [
  ['requests', 'REQUESTS'], ['prompt_tokens', 'PROMPT'], ['cached_prompt_tokens', 'CACHED'],
  ['cache_write_tokens', 'CACHE_WRITE'], ['completion_tokens', 'COMPLETION'], ['reasoning_tokens', 'REASONING'],
  ['cost_usd', 'COST_USD'], ['cache_hits', 'CACHE_HITS'], ['rate_limited', '429S'], ['errors', 'ERRORS']
]

function fail (message: string): never {
  process.stderr.write(`usage: ${message}\n`)
  process.exit(2)
}

const args = Object.fromEntries(process.argv.slice(2).map((a) => /^--([a-z]+)=(.*)$/.exec(a)).filter((m) => m !== null).map((m) => [m[1], m[2]]))
const key = args.key !== undefined && args.key !== '' ? args.key : undefined
const days = Number(args.days ?? '7')
if (!Number.isInteger(days) || days < 1 || days > 3660) fail('DAYS must be a whole number of days ≥ 1')
const base = process.env.ADMIN_URL ?? `http://127.0.0.1:${process.env.METRICS_PORT ?? '9091'}`
const tokenFile = process.env.ADMIN_TOKEN_FILE
if (tokenFile === undefined || tokenFile === '') fail('ADMIN_TOKEN_FILE must name the file holding the admin token')
const token = (readFileSync(tokenFile, 'utf8').split('\n')[0] ?? '').trim()

const to = new Date().toISOString().slice(0, 10)
const from = new Date(Date.now() - (days - 1) * 86_400_000).toISOString().slice(0, 10)
const query = new URLSearchParams({ from, to, group_by: key === undefined ? 'key' : 'day', ...(key === undefined ? {} : { key }) })
const res = await fetch(`${base}/admin/usage?${query.toString()}`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) }).catch((err: Error) => fail(`${base} did not answer: ${err.message}`))
const text = await res.text()
if (res.status !== 200) fail(`the usage API answered ${res.status}: ${text.trim()}`)
const answer = JSON.parse(text) as Answer

const cell = (row: Row, name: string): string => name === 'cost_usd' ? Number(row[name] ?? 0).toFixed(4) : String(row[name] ?? 0)
const head = [answer.group_by.toUpperCase(), ...COLUMNS.map(([, h]) => h)]
const body = answer.data.map((r) => [String(r[answer.group_by]), ...COLUMNS.map(([c]) => cell(r, c))])
const total = ['TOTAL', ...COLUMNS.map(([c]) => cell(answer.total, c))]
const table = [head, ...body, total]
const widths = head.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length)))
const line = (r: string[]): string => r.map((c, i) => i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)).join('  ')
process.stdout.write(`Usage ${key === undefined ? 'of every key' : `of key "${key}"`}, ${answer.from} to ${answer.to} (UTC)\n\n`)
process.stdout.write([line(head), ...body.map(line), line(total)].join('\n') + '\n')
