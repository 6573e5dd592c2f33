// Counters, gauges and histograms for the request path that prom-client's registry can expose.
// A series is looked up once per label combination and then updated in place: no label object,
// validation or hashing per observation (prom-client's own children do all three every time).

export interface MetricValue { value: number, labels: Record<string, string | number>, metricName?: string }

interface Series { labels: Record<string, string>, value: number }

function labelsOf (names: readonly string[], values: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {}
  names.forEach((n, i) => { labels[n] = values[i] ?? '' })
  return labels
}

abstract class LeanMetric<S> {
  protected readonly series = new Map<string, S>()
  constructor (readonly name: string, readonly help: string, readonly labelNames: readonly string[]) {}

  protected abstract create (labels: Record<string, string>): S

  /** The series for these label values (in labelNames order), created on first use. */
  with (...values: string[]): S {
    const key = values.join('\u0000')
    let s = this.series.get(key)
    if (s === undefined) {
      s = this.create(labelsOf(this.labelNames, values))
      this.series.set(key, s)
    }
    return s
  }

  reset (): void { this.series.clear() }
}

export class LeanCounter extends LeanMetric<Series> {
  readonly type: string = 'counter'
  readonly aggregator = 'sum'
  protected create (labels: Record<string, string>): Series { return { labels, value: 0 } }
  async get (): Promise<{ name: string, help: string, type: string, values: MetricValue[], aggregator: string }> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: [...this.series.values()].map((s) => ({ labels: s.labels, value: s.value })) }
  }
}

export class LeanGauge extends LeanCounter {
  override readonly type = 'gauge'
}

interface HistogramSeries { labels: Record<string, string>, counts: Float64Array, sum: number, count: number, observe: (v: number) => void }

export class LeanHistogram extends LeanMetric<HistogramSeries> {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  constructor (name: string, help: string, labelNames: readonly string[], private readonly buckets: readonly number[]) {
    super(name, help, labelNames)
  }

  protected create (labels: Record<string, string>): HistogramSeries {
    const buckets = this.buckets
    const s: HistogramSeries = {
      labels,
      counts: new Float64Array(buckets.length + 1),
      sum: 0,
      count: 0,
      observe: (v: number) => {
        let i = 0
        while (i < buckets.length && v > (buckets[i] as number)) i++
        s.counts[i] = (s.counts[i] as number) + 1
        s.sum += v
        s.count++
      }
    }
    return s
  }

  async get (): Promise<{ name: string, help: string, type: string, values: MetricValue[], aggregator: string }> {
    const values: MetricValue[] = []
    for (const s of this.series.values()) {
      let cumulative = 0
      this.buckets.forEach((le, i) => {
        cumulative += s.counts[i] as number
        values.push({ metricName: `${this.name}_bucket`, labels: Object.assign({ le }, s.labels), value: cumulative })
      })
      values.push({ metricName: `${this.name}_bucket`, labels: Object.assign({ le: '+Inf' }, s.labels), value: s.count })
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum })
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count })
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }
}
