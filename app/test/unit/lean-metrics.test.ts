import t from 'tap'
import { Registry, type Metric } from 'prom-client'
import { LeanCounter, LeanGauge, LeanHistogram } from '../../src/lib/lean-metrics.js'

t.test('exposition through a prom-client registry', async (t) => {
  const registry = new Registry()
  const c = new LeanCounter('x_total', 'a counter', ['a', 'b'])
  const g = new LeanGauge('x_in_flight', 'a gauge', ['r'])
  const h = new LeanHistogram('x_seconds', 'a histogram', ['m'], [0.1, 1])
  for (const m of [c, g, h]) registry.registerMetric(m as unknown as Metric)
  c.with('1', 'two').value += 3
  c.with('1', 'two').value++
  g.with('r1').value++
  g.with('r1').value--
  for (const v of [0.05, 0.1, 0.5, 5]) h.with('gpt').observe(v)
  const text = await registry.metrics()
  t.match(text, '# TYPE x_total counter\nx_total{a="1",b="two"} 4')
  t.match(text, '# TYPE x_in_flight gauge\nx_in_flight{r="r1"} 0')
  t.match(text, 'x_seconds_bucket{le="0.1",m="gpt"} 2', 'le is inclusive and buckets are cumulative')
  t.match(text, 'x_seconds_bucket{le="1",m="gpt"} 3')
  t.match(text, 'x_seconds_bucket{le="+Inf",m="gpt"} 4')
  t.match(text, 'x_seconds_sum{m="gpt"} 5.65')
  t.match(text, 'x_seconds_count{m="gpt"} 4')
  t.equal(c.with('1', 'two'), c.with('1', 'two'), 'one series object per label set')
  registry.resetMetrics()
  t.notMatch(await registry.metrics(), 'x_total{')
})
