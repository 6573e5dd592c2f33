// Usage buckets: counts per key, model and day, summed by day, model or key.
import t from 'tap'
import { MemoryUsageStore, daysBetween, groupUsage, utcDay } from '../../src/lib/usage-buckets.js'

t.test('days between two UTC days, inclusive', async (t) => {
  t.same(daysBetween('2026-02-27', '2026-03-01'), ['2026-02-27', '2026-02-28', '2026-03-01'])
  t.same(daysBetween('2026-03-02', '2026-03-01'), [])
})

t.test('buckets are summed by day, model or key', async (t) => {
  const store = new MemoryUsageStore(30)
  const today = utcDay(Date.now())
  store.add(today, 'a', 'gpt-4.1', { requests: 1, prompt_tokens: 10, completion_tokens: 5, cost_micro_usd: 60 })
  store.add(today, 'a', 'deepseek-v3.2', { requests: 2, prompt_tokens: 4, rate_limited: 1 })
  store.add(today, 'b', 'gpt-4.1', { requests: 1, errors: 1 })
  const a = await store.read([today], 'a')
  const byModel = groupUsage(a, 'model')
  t.same(byModel.rows.map((r) => r.group), ['deepseek-v3.2', 'gpt-4.1'])
  t.match(byModel.total, { requests: 3, prompt_tokens: 14, completion_tokens: 5, cost_micro_usd: 60, rate_limited: 1 })
  const byKey = groupUsage(await store.read([today], undefined), 'key')
  t.same(byKey.rows.map((r) => [r.group, r.counts.requests]), [['a', 3], ['b', 1]])
  t.same(groupUsage(await store.read(['2000-01-01'], undefined), 'day').rows, [], 'other days are empty')
})
