// Cooldowns on one replica (no Redis): a 429 holds back one model, a breaker the whole upstream, then
// one probe at a time; the snapshot feeds the gauge.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { Cooldowns } from '../../src/relay/cooldown.js'

const noError = (err: Error): void => { throw err }

t.test('a 429 holds back that model of that upstream only, for the wait (capped)', async (t) => {
  const c = new Cooldowns(undefined, undefined, { maxMs: 60_000, probeMs: 1000 }, noError)
  t.same(await c.check('default', 'gpt-4.1'), { pass: true })
  c.rateLimited('default', 'gpt-4.1', 10 * 60_000)
  const v = await c.check('default', 'gpt-4.1')
  t.equal(v.pass, false)
  if (!v.pass) {
    t.equal(v.kind, 'rate_limited')
    t.ok(v.waitMs <= 60_000 && v.waitMs > 59_000, 'capped at maxMs')
  }
  t.same(await c.check('default', 'other-model'), { pass: true })
  t.same(await c.check('backup', 'gpt-4.1'), { pass: true })
  // A later, shorter hint never shortens it.
  c.rateLimited('default', 'gpt-4.1', 1000)
  const again = await c.check('default', 'gpt-4.1')
  t.ok(!again.pass && again.waitMs > 59_000)
  t.same(c.snapshot().map((s) => [s.upstream, s.model, s.kind]), [['default', 'gpt-4.1', 'rate_limited']])
})

t.test('a 429 cooldown ends by itself', async (t) => {
  const c = new Cooldowns(undefined, undefined, { maxMs: 60_000, probeMs: 1000 }, noError)
  c.rateLimited('default', 'm', 30)
  t.equal((await c.check('default', 'm')).pass, false)
  await sleep(60)
  t.same(await c.check('default', 'm'), { pass: true })
  t.same(c.snapshot(), [])
})

t.test('an open breaker holds back the upstream, then lets one probe through; success closes it, failure reopens', async (t) => {
  const c = new Cooldowns(undefined, undefined, { maxMs: 60_000, probeMs: 1000 }, noError)
  c.opened('default', 30)
  const held = await c.check('default', 'any')
  t.ok(!held.pass && held.kind === 'breaker')
  await sleep(60)
  t.same(await c.check('default', 'any'), { pass: true }, 'the probe')
  t.ok(c.probing('default'))
  t.equal((await c.check('default', 'any')).pass, false, 'one probe at a time')
  c.released('default')
  t.same(await c.check('default', 'any'), { pass: true }, 'another probe once the first ended without an answer')
  c.succeeded('default')
  t.same(await c.check('default', 'any'), { pass: true })
  t.notOk(c.probing('default'))
  t.same(c.snapshot(), [], 'closed')
})
