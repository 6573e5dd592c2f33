// The shipped Prometheus config, rules and Grafana provisioning are valid and fit together.
import t from 'tap'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { parse, stringify } from 'yaml'
import {
  dashboardProviderFile, dashboardsDir, dataPanels, datasourceFile, jsonFiles, loadDashboard, loadRules,
  prometheusConfig, promtool, ruleTestsDir, rulesDir, substituteGrafanaVars, unknownVariables, yamlFiles
} from '../support/prometheus.js'

// The gateway's metrics as DESIGN.md lists them, with the series a histogram expands to.
const gatewayMetrics = new Set([
  'llm_gateway_requests_total',
  'llm_gateway_tokens_total',
  'llm_gateway_cost_usd_total',
  'llm_gateway_requests_in_flight',
  'llm_gateway_upstream_errors_total',
  'llm_gateway_rate_limited_total',
  'llm_gateway_stream_aborts_total',
  'llm_gateway_cache_requests_total',
  'llm_gateway_cache_saved_tokens_total',
  'llm_gateway_cache_saved_cost_usd_total',
  'llm_gateway_upstream_cooldown_seconds',
  'llm_gateway_key_cost_usd_total',
  'llm_gateway_key_tokens_total',
  'llm_gateway_config_info',
  'llm_gateway_redis_errors_total',
  'llm_gateway_limit_reservations_total',
  'llm_gateway_limit_refunded_tokens_total',
  'llm_gateway_limit_overrun_tokens_total',
  'llm_gateway_limit_refunded_usd_total',
  ...['llm_gateway_request_duration_seconds', 'llm_gateway_upstream_duration_seconds', 'llm_gateway_time_to_first_token_seconds']
    .flatMap((h) => [`${h}_bucket`, `${h}_sum`, `${h}_count`])
])

interface ScrapeConfig { job_name: string, scrape_interval?: string, dns_sd_configs?: Array<{ names: string[], type?: string, port?: number }>, static_configs?: unknown[] }
const promConfig = parse(readFileSync(prometheusConfig, 'utf8')) as { global: { scrape_interval: string, evaluation_interval: string }, rule_files: string[], scrape_configs: ScrapeConfig[] }
const rules = loadRules()
const dashboardFiles = jsonFiles(dashboardsDir)

function seconds (d: string): number {
  const m = /^(\d+)(ms|s|m)$/.exec(d)
  if (m === null) throw new Error(`unexpected duration ${d}`)
  return Number(m[1]) * ({ ms: 0.001, s: 1, m: 60 } as Record<string, number>)[m[2] ?? 's']!
}

t.test('promtool accepts the config, and the config finds every rule file', async (t) => {
  const { code, output } = await promtool(['check', 'config', prometheusConfig])
  t.equal(code, 0, output)
  for (const file of yamlFiles(rulesDir)) t.match(output, basename(file), `rule_files resolves ${basename(file)}`)
})

t.test('promtool accepts the rule files', async (t) => {
  const { code, output } = await promtool(['check', 'rules', ...yamlFiles(rulesDir)])
  t.equal(code, 0, output)
})

t.test('the alert unit tests pass', async (t) => {
  const files = yamlFiles(ruleTestsDir)
  t.ok(files.length > 0, 'there are rule tests')
  const { code, output } = await promtool(['test', 'rules', ...files])
  t.equal(code, 0, output)
})

t.test('scrape config: every replica on its own, often enough', async (t) => {
  t.ok(seconds(promConfig.global.scrape_interval) >= 5 && seconds(promConfig.global.scrape_interval) <= 15, 'scrape interval within 5 s to 15 s')
  t.same(promConfig.rule_files, ['rules/*.yml'], 'rule files relative to the config file')
  const gw = promConfig.scrape_configs.find((s) => s.job_name === 'llm-gateway')
  t.ok(gw, 'job llm-gateway')
  t.same(gw?.dns_sd_configs, [{ names: ['gateway'], type: 'A', port: 9091, refresh_interval: '15s' }], 'DNS discovery of each replica on the metrics port')
  t.ok(promConfig.scrape_configs.some((s) => s.job_name === 'prometheus'), 'Prometheus scrapes itself')
})

t.test('alerts: severity, what happened and what to do', async (t) => {
  const alerts = rules.filter((r) => r.alert !== undefined)
  const names = alerts.map((a) => a.alert)
  for (const expected of ['LLMGatewayHigh5xxRatio', 'LLMGatewayHighLatencyP99', 'LLMGatewayUpstreamUnreachable', 'LLMGatewayUpstreamErrorStorm',
    'LLMGatewayReplicaDown', 'LLMGatewaySpendAboveDailyBudget', 'LLMGatewayRateLimitingSpike']) {
    t.ok(names.includes(expected), `alert ${expected} exists`)
  }
  t.equal(new Set(names).size, names.length, 'alert names are unique')
  const tested = new Set<string>()
  for (const file of yamlFiles(ruleTestsDir)) {
    const doc = parse(readFileSync(file, 'utf8')) as { tests: Array<{ alert_rule_test?: Array<{ alertname: string, exp_alerts?: unknown[] }> }> }
    for (const test of doc.tests) {
      for (const a of test.alert_rule_test ?? []) if ((a.exp_alerts ?? []).length > 0) tested.add(a.alertname)
    }
  }
  for (const a of alerts) {
    t.match(a.labels?.severity, /^(critical|warning)$/, `${a.alert} has a severity`)
    t.ok((a.annotations?.summary ?? '').length > 10, `${a.alert} has a summary`)
    t.ok((a.annotations?.description ?? '').length > 60, `${a.alert} has a description`)
    t.ok(tested.has(a.alert ?? ''), `${a.alert} has a unit test in which it fires`)
  }
})

t.test('the daily budget is one recording rule the spend alerts compare against', async (t) => {
  const budget = rules.filter((r) => r.record === 'llm_gateway:daily_budget_usd')
  t.equal(budget.length, 1)
  t.match(budget[0]?.expr, /^vector\(\d+(\.\d+)?\)$/)
  const spend = rules.filter((r) => r.alert?.startsWith('LLMGatewaySpend') === true)
  t.ok(spend.length > 0)
  for (const a of spend) t.match(a.expr, 'llm_gateway:daily_budget_usd', `${a.alert} uses the budget`)
})

t.test('Grafana provisioning: fixed datasource uid, dashboards path', async (t) => {
  const ds = parse(readFileSync(datasourceFile, 'utf8')) as { datasources: Array<{ uid: string, type: string, url: string, jsonData?: { timeInterval?: string } }> }
  t.equal(ds.datasources.length, 1)
  t.has(ds.datasources[0], { uid: 'prometheus', type: 'prometheus', url: 'http://prometheus:9090' }, 'uid, type and url')
  t.equal(ds.datasources[0]?.jsonData?.timeInterval, promConfig.global.scrape_interval, 'Grafana knows the scrape interval, for $__rate_interval')
  const prov = parse(readFileSync(dashboardProviderFile, 'utf8')) as { providers: Array<{ type: string, options: { path: string } }> }
  t.same(prov.providers.map((p) => [p.type, p.options.path]), [['file', '/var/lib/grafana/dashboards']])
})

t.test('dashboards: parse, unique uids, every panel queries the provisioned datasource', async (t) => {
  t.ok(dashboardFiles.length > 0)
  const uids = new Set<string>()
  for (const file of dashboardFiles) {
    const d = loadDashboard(file)
    t.ok(d.uid !== undefined && !uids.has(d.uid), `${basename(file)}: uid ${d.uid} set and unique`)
    uids.add(d.uid)
    t.ok(d.schemaVersion >= 36, 'a current schema version')
    const ids = d.panels.flatMap((p) => [p, ...(p.panels ?? [])]).map((p) => p.id)
    t.equal(new Set(ids).size, ids.length, 'panel ids are unique')
    const vars = d.templating?.list ?? []
    for (const name of ['model', 'instance']) {
      const v = vars.find((x) => x.name === name)
      t.ok(v?.type === 'query' && v.multi === true && v.includeAll === true, `variable ${name}: multi-value query with All`)
      t.equal(v?.datasource?.uid, 'prometheus', `variable ${name} uses the provisioned datasource`)
      t.match(JSON.stringify(v?.query), `label_values(llm_gateway_requests_total, ${name})`)
    }
    const panels = dataPanels(d)
    const titles = new Set<string>()
    for (const p of panels) {
      t.notOk(titles.has(p.title), `panel title "${p.title}" is unique`)
      titles.add(p.title)
      t.equal(p.datasource?.uid, 'prometheus', `${p.title}: datasource uid`)
      const targets = (p.targets ?? []).filter((x) => (x.expr ?? '').trim() !== '')
      t.ok(targets.length > 0, `${p.title}: at least one query`)
      for (const x of p.targets ?? []) {
        t.equal((x.datasource ?? p.datasource)?.uid, 'prometheus', `${p.title} ${x.refId}: datasource uid (its own or the panel's)`)
        const expr = x.expr ?? ''
        t.same(unknownVariables(expr), [], `${p.title} ${x.refId}: only known variables`)
        const ranges = [...expr.matchAll(/\[([^\]]+)\]/g)].map((m) => m[1])
        t.ok(ranges.every((r) => r === '$__rate_interval'), `${p.title} ${x.refId}: rate() ranges use $__rate_interval`)
      }
    }
    const allExprs = panels.flatMap((p) => (p.targets ?? []).map((x) => x.expr ?? '')).join('\n')
    t.match(allExprs, '$model', 'the model variable is used')
    t.match(allExprs, '$instance', 'the instance variable is used')
  }
})

t.test('every query names only metrics the gateway exports or the rules record', async (t) => {
  const recorded = new Set(rules.flatMap((r) => r.record ?? []))
  const exprs = [
    ...dashboardFiles.flatMap((f) => dataPanels(loadDashboard(f)).flatMap((p) => (p.targets ?? []).map((x) => ({ where: p.title, expr: x.expr ?? '' })))),
    ...rules.map((r) => ({ where: r.record ?? r.alert ?? '', expr: r.expr }))
  ]
  for (const { where, expr } of exprs) {
    for (const m of expr.matchAll(/\bllm_gateway[_:][a-z0-9_:]+/g)) {
      t.ok(gatewayMetrics.has(m[0]) || recorded.has(m[0]), `${where}: ${m[0]} exists`)
    }
  }
})

t.test('every dashboard query is valid PromQL once Grafana fills in its variables', async (t) => {
  // promtool parses recording rules offline, so each query is checked as one.
  const dir = mkdtempSync(join(tmpdir(), 'dashboard-queries-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const queries = dashboardFiles.flatMap((f) => dataPanels(loadDashboard(f)).flatMap((p) =>
    (p.targets ?? []).map((x, i) => ({ record: `dashboard:query_${p.id ?? 0}_${i}`, expr: substituteGrafanaVars(x.expr ?? '') }))))
  const file = join(dir, 'queries.yml')
  writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules: queries }] }))
  const { code, output } = await promtool(['check', 'rules', file])
  t.equal(code, 0, output)
})
