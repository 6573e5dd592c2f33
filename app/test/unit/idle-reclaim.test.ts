// Memory given back after a burst: one collection per busy period, only when idle and grown.
import t from 'tap'
import { IdleReclaim, lowMemoryCollector } from '../../src/lib/idle-reclaim.js'

const MB = 2 ** 20
const settle = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

function harness (): { r: IdleReclaim, s: { inFlight: number, started: number, rss: number, collections: number, afterGc: number, reclaimed: Array<[number, number]> } } {
  const s = { inFlight: 0, started: 0, rss: 100 * MB, collections: 0, afterGc: 105 * MB, reclaimed: [] as Array<[number, number]> }
  const r = new IdleReclaim({
    inFlight: () => s.inFlight,
    started: () => s.started,
    rss: () => s.rss,
    collect: async () => { s.collections++; s.rss = s.afterGc },
    onReclaim: (before, after) => { s.reclaimed.push([before / MB, after / MB]) }
  }, { idleMs: 2000, minGrowthBytes: 32 * MB })
  return { r, s }
}

t.test('collects once after a burst, when idle long enough', async (t) => {
  const { r, s } = harness()
  t.notOk(r.tick(0), 'idle at start: the idle size is 100 MB, nothing to give back')
  s.inFlight = 500; s.started = 2000; s.rss = 180 * MB
  t.notOk(r.tick(1000), 'busy: never')
  s.inFlight = 0
  t.notOk(r.tick(2000), 'idle only just now')
  t.notOk(r.tick(3500), 'idle 1.5 s')
  t.ok(r.tick(4000), 'idle 2 s and 80 MB above the idle size: collected')
  await settle()
  t.equal(s.collections, 1)
  t.same(s.reclaimed, [[180, 105]], 'reported with the sizes before and after')
  for (let now = 5000; now < 60_000; now += 1000) r.tick(now)
  await settle()
  t.equal(s.collections, 1, 'never again while nothing new happens')
})

t.test('no collection for small growth; growth counts from what a collection left', async (t) => {
  const { r, s } = harness()
  r.tick(0)
  s.started = 10; s.rss = 120 * MB
  r.tick(1000); r.tick(2000)
  t.notOk(r.tick(5000), '20 MB above idle: left alone')
  s.started = 20; s.rss = 200 * MB; s.afterGc = 150 * MB
  r.tick(6000); r.tick(7000)
  t.ok(r.tick(9000), 'a burst: collected, 150 MB stays')
  await settle()
  s.started = 30; s.rss = 170 * MB
  r.tick(10_000); r.tick(11_000)
  t.notOk(r.tick(13_000), 'only 20 MB above what the collection left: no second one')
  s.started = 40; s.rss = 190 * MB; s.afterGc = 140 * MB
  r.tick(14_000); r.tick(15_000)
  t.ok(r.tick(17_000), '40 MB above it: collected again')
  await settle()
  t.equal(s.collections, 2)
})

t.test('a request in flight, or one started between ticks, restarts the idle clock', async (t) => {
  const { r, s } = harness()
  r.tick(0)
  s.started = 5; s.rss = 200 * MB
  r.tick(1000)
  s.inFlight = 1; r.tick(2500)
  s.inFlight = 0
  t.notOk(r.tick(3000))
  t.notOk(r.tick(4500), '1.5 s since the last request ended')
  t.ok(r.tick(5000))
  await settle()

  const light = harness()
  light.r.tick(0)
  light.s.rss = 200 * MB
  // one short request between every two ticks: nothing is ever in flight when a tick looks
  for (let now = 1000; now <= 20_000; now += 1000) {
    light.s.started++
    light.r.tick(now)
  }
  t.equal(light.s.collections, 0, 'light traffic is not idleness')
  t.notOk(light.r.tick(21_000), 'the first quiet tick starts the idle clock')
  t.ok(light.r.tick(23_000), 'then 2 s of quiet')
})

t.test('the low-memory collector gives freed heap back', async (t) => {
  let garbage: unknown[] | null = Array.from({ length: 200_000 }, (_, i) => ({ text: 'x'.repeat(40) + String(i), list: [i, i, i, i] }))
  t.ok(garbage.length > 0)
  garbage = null
  const before = process.memoryUsage().heapUsed
  await lowMemoryCollector()()
  const after = process.memoryUsage().heapUsed
  t.ok(after < before - 10 * MB, `heap used ${Math.round(before / MB)} → ${Math.round(after / MB)} MB`)
})
