// The admin API on the internal port (beside /metrics, never behind nginx): GET /admin/usage, a key's
// daily usage buckets summed by day, model or key. Bearer admin token from ADMIN_TOKEN_FILE.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { timingSafeEqual } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { readAdminToken } from '../config.js'
import { GatewayError, renderError } from '../errors.js'
import { hashKey } from '../lib/keys.js'
import { daysBetween, groupUsage, USAGE_FIELDS, utcDay, type GroupBy, type UsageCounts } from '../lib/usage-buckets.js'

const DAY_RE = /^\d{4}-\d{2}-\d{2}$/
const KEY_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
const GROUPS: readonly GroupBy[] = ['day', 'model', 'key']
/** Without `from`, this many days up to `to`. */
const DEFAULT_DAYS = 7

/** A usage row as the API shows it: counts by name, cost in USD instead of micro-USD. */
function rowJson (counts: UsageCounts): Record<string, number> {
  const out: Record<string, number> = {}
  for (const f of USAGE_FIELDS) {
    if (f === 'cost_micro_usd') out.cost_usd = counts[f] / 1e6
    else out[f] = counts[f]
  }
  return out
}

function send (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(body + '\n')
}

function fail (res: ServerResponse, err: GatewayError): void {
  send(res, err.statusCode, renderError('openai', err), err.statusCode === 401 ? { 'www-authenticate': 'Bearer' } : {})
}

function isDay (v: string): boolean {
  return DAY_RE.test(v) && utcDay(Date.parse(`${v}T00:00:00Z`)) === v
}

export interface AdminApi {
  /** answers the request when it is for /admin/…; false otherwise */
  handle: (req: IncomingMessage, res: ServerResponse) => boolean
  /** reads ADMIN_TOKEN_FILE again (SIGHUP); a problem keeps the token in use and is returned */
  reloadToken: () => string | undefined
}

export function adminApi (app: FastifyInstance, tokenFile: string | undefined): AdminApi {
  // Only the token's hash is held; compared in constant time.
  let tokenHash = tokenFile === undefined ? undefined : Buffer.from(hashKey(readAdminToken(tokenFile)), 'hex')

  const authorized = (header: string | undefined): boolean => {
    if (tokenHash === undefined || header === undefined || header.length > 512) return false
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
    return m !== null && timingSafeEqual(Buffer.from(hashKey(m[1] as string), 'hex'), tokenHash)
  }

  async function usage (url: URL, res: ServerResponse): Promise<void> {
    const q = url.searchParams
    const retention = app.gatewayConfig.usageRetentionDays
    const key = q.get('key') ?? undefined
    if (key !== undefined && !KEY_ID_RE.test(key)) throw new GatewayError('invalid_request', { param: 'key', message: 'key must be a key id (letters, digits, _ . -).' })
    const groupBy = (q.get('group_by') ?? 'day') as GroupBy
    if (!GROUPS.includes(groupBy)) throw new GatewayError('invalid_request', { param: 'group_by', message: 'group_by must be day, model or key.' })
    const today = utcDay(Date.now())
    const to = q.get('to') ?? today
    if (!isDay(to)) throw new GatewayError('invalid_request', { param: 'to', message: 'to must be a UTC day, YYYY-MM-DD.' })
    const from = q.get('from') ?? utcDay(Date.parse(`${to}T00:00:00Z`) - (DEFAULT_DAYS - 1) * 86_400_000)
    if (!isDay(from)) throw new GatewayError('invalid_request', { param: 'from', message: 'from must be a UTC day, YYYY-MM-DD.' })
    if (from > to) throw new GatewayError('invalid_request', { param: 'from', message: 'from must not be after to.' })
    // Days older than the retention period hold nothing any more: they are not read.
    const oldest = utcDay(Date.now() - retention * 86_400_000)
    const days = daysBetween(from < oldest ? oldest : from, to > today ? today : to)
    const { rows, total } = groupUsage(await app.usageStore.read(days, key), groupBy)
    send(res, 200, JSON.stringify({
      object: 'usage',
      key: key ?? null,
      from,
      to,
      group_by: groupBy,
      retention_days: retention,
      data: rows.map((r) => ({ [groupBy]: r.group, ...rowJson(r.counts) })),
      total: rowJson(total)
    }))
  }

  return {
    handle (req, res) {
      const url = new URL(req.url ?? '/', 'http://internal')
      if (!url.pathname.startsWith('/admin/')) return false
      if (tokenHash === undefined) {
        fail(res, new GatewayError('not_found', { message: 'The admin API is off: set ADMIN_TOKEN_FILE to a file holding its token.' }))
      } else if (!authorized(req.headers.authorization)) {
        fail(res, new GatewayError('admin_unauthorized'))
      } else if (url.pathname !== '/admin/usage') {
        fail(res, new GatewayError('not_found'))
      } else if (req.method !== 'GET') {
        fail(res, new GatewayError('method_not_allowed'))
      } else {
        usage(url, res).catch((err: Error) => {
          if (err instanceof GatewayError) { fail(res, err); return }
          app.redisFailed('usage', err)
          fail(res, new GatewayError('usage_unavailable'))
        })
      }
      return true
    },
    reloadToken () {
      if (tokenFile === undefined) return undefined
      try {
        tokenHash = Buffer.from(hashKey(readAdminToken(tokenFile)), 'hex')
        return undefined
      } catch (err) {
        return (err as Error).message
      }
    }
  }
}
