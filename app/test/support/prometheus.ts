// Helpers for the observability tests: the shipped Prometheus and Grafana files, promtool, and
// Prometheus' HTTP query API.
import { execFile } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { parse } from 'yaml'
import { repoDir } from './procs.js'

export const prometheusDir = join(repoDir, 'prometheus')
export const prometheusConfig = join(prometheusDir, 'prometheus.yml')
export const rulesDir = join(prometheusDir, 'rules')
export const ruleTestsDir = join(prometheusDir, 'tests')
export const grafanaDir = join(repoDir, 'grafana')
export const dashboardsDir = join(grafanaDir, 'dashboards')
export const datasourceFile = join(grafanaDir, 'provisioning', 'datasources', 'prometheus.yml')
export const dashboardProviderFile = join(grafanaDir, 'provisioning', 'dashboards', 'dashboards.yml')

const execFileP = promisify(execFile)

export function yamlFiles (dir: string): string[] {
  return readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join(dir, f))
}

export function jsonFiles (dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => join(dir, f))
}

/** Runs promtool; resolves with its exit code and combined output instead of throwing. */
export async function promtool (args: string[]): Promise<{ code: number, output: string }> {
  try {
    const { stdout, stderr } = await execFileP('promtool', args, { cwd: repoDir, timeout: 60000 })
    return { code: 0, output: stdout + stderr }
  } catch (err) {
    const e = err as { code?: number | string, stdout?: string, stderr?: string, message: string }
    return { code: typeof e.code === 'number' ? e.code : 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}${e.message}` }
  }
}

export interface Rule { group: string, file: string, record?: string, alert?: string, expr: string, labels?: Record<string, string>, annotations?: Record<string, string> }

/** Every rule of every file in prometheus/rules/. */
export function loadRules (): Rule[] {
  const rules: Rule[] = []
  for (const file of yamlFiles(rulesDir)) {
    const doc = parse(readFileSync(file, 'utf8')) as { groups: Array<{ name: string, rules: Array<Omit<Rule, 'group' | 'file'>> }> }
    for (const g of doc.groups) {
      for (const r of g.rules) rules.push({ ...r, group: g.name, file })
    }
  }
  return rules
}

export interface Panel {
  id?: number
  type: string
  title: string
  datasource?: { type?: string, uid?: string }
  targets?: Array<{ expr?: string, refId?: string, datasource?: { type?: string, uid?: string } }>
  panels?: Panel[]
}

export interface Dashboard {
  uid: string
  title: string
  schemaVersion: number
  panels: Panel[]
  templating?: { list: Array<{ name: string, type: string, query?: unknown, datasource?: { uid?: string }, multi?: boolean, includeAll?: boolean }> }
}

export function loadDashboard (file: string): Dashboard {
  return JSON.parse(readFileSync(file, 'utf8')) as Dashboard
}

/** Panels that show data: everything but rows, including panels nested in collapsed rows. */
export function dataPanels (d: Dashboard): Panel[] {
  const out: Panel[] = []
  for (const p of d.panels) {
    if (p.type === 'row') out.push(...(p.panels ?? []))
    else out.push(p)
  }
  return out
}

/** The query Grafana would send for `expr` with every variable at "All" over a short range. */
export function substituteGrafanaVars (expr: string, rateInterval = '1m'): string {
  return expr
    .replaceAll('$__rate_interval', rateInterval)
    .replaceAll('$__interval', '15s')
    .replaceAll('$__range', '5m')
    .replace(/\$\{?(model|instance)\}?/g, '.*')
}

/** Grafana variables no test substitutes: a typo in a name would otherwise reach Prometheus. */
export function unknownVariables (expr: string): string[] {
  return [...expr.matchAll(/\$\{?(\w+)/g)].map((m) => m[1] ?? '').filter((v) => !['__rate_interval', '__interval', '__range', 'model', 'instance'].includes(v))
}

export interface Series { metric: Record<string, string>, value: [number, string] }

/** An instant query; throws on an API error so the failing expression is named. */
export async function instantQuery (baseUrl: string, expr: string): Promise<Series[]> {
  const res = await fetch(`${baseUrl}/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ query: expr }).toString(),
    signal: AbortSignal.timeout(10000)
  })
  const body = await res.json() as { status: string, error?: string, data?: { resultType: string, result: Series[] } }
  if (body.status !== 'success' || body.data === undefined) throw new Error(`query failed (${res.status}): ${body.error ?? 'no data'}: ${expr}`)
  if (body.data.resultType !== 'vector') throw new Error(`expected a vector from ${expr}, got ${body.data.resultType}`)
  return body.data.result
}

export interface RuleState { name: string, type: 'recording' | 'alerting', health: string, lastError?: string }

/** Every rule Prometheus loaded, with its evaluation health. */
export async function loadedRules (baseUrl: string): Promise<RuleState[]> {
  const res = await fetch(`${baseUrl}/api/v1/rules`, { signal: AbortSignal.timeout(10000) })
  const body = await res.json() as { data: { groups: Array<{ rules: RuleState[] }> } }
  return body.data.groups.flatMap((g) => g.rules)
}
