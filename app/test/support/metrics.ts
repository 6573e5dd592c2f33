// One way to read a metric in tests: parse the Prometheus text exposition, whether it comes from
// an app's registry or from a replica's /metrics over HTTP.
import type { FastifyInstance } from 'fastify'

/** Sum of the samples named `sample` in a text exposition whose labels include `match`. */
export function sumSamples (text: string, sample: string, match: Record<string, string> = {}): number {
  let total = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(sample)) continue
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line)
    if (m === null || m[1] !== sample) continue
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] ?? ''] = l[2] ?? ''
    if (Object.entries(match).every(([k, v]) => labels[k] === v)) total += Number(m[3])
  }
  return total
}

/** True when the exposition declares the family `sample` belongs to (`x`, or `x` of `x_count`/`x_sum`/`x_bucket`). */
export function declares (text: string, sample: string): boolean {
  const family = sample.replace(/_(count|sum|bucket)$/, '')
  return text.includes(`# TYPE ${sample} `) || text.includes(`# TYPE ${family} histogram`)
}

/**
 * A sample's value in an app's registry, summed over the series matching `labels` (0 when no
 * series exists yet). Throws for a metric the registry does not declare, so a misspelt name fails
 * the test instead of reading 0.
 */
export async function metricValue (app: FastifyInstance, sample: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await app.metrics.registry.metrics()
  if (!declares(text, sample)) throw new Error(`no metric ${sample}`)
  return sumSamples(text, sample, labels)
}

/** Sample count and sum of a histogram, over the series matching `labels`. */
export async function histogram (app: FastifyInstance, name: string, labels: Record<string, string> = {}): Promise<{ count: number, sum: number }> {
  return { count: await metricValue(app, `${name}_count`, labels), sum: await metricValue(app, `${name}_sum`, labels) }
}

/** A sample's value summed over the series matching `labels`, scraped from a /metrics URL. */
export async function scrapedValue (metricsUrl: string, sample: string, labels: Record<string, string> = {}): Promise<number> {
  const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(5000) })
  return sumSamples(await res.text(), sample, labels)
}
