import t from 'tap'
import { CircuitBreaker } from '../../src/lib/circuit-breaker.js'

t.test('opens after N failures in a row, half-opens after the cooldown, closes on a success', async (t) => {
  let now = 0
  const b = new CircuitBreaker(3, 1000, () => now)
  b.failure(); b.failure()
  t.equal(b.state(), 'closed')
  b.success()
  b.failure(); b.failure()
  t.equal(b.state(), 'closed', 'a success in between resets the count')
  b.failure()
  t.equal(b.state(), 'open')
  t.notOk(b.allow())
  now = 999
  t.equal(b.state(), 'open', 'still open 1 ms before the cooldown ends')
  now = 1000
  t.equal(b.state(), 'half_open')
  t.ok(b.allow(), 'one probe goes through')
  t.notOk(b.allow(), 'a second concurrent probe does not')
  b.failure()
  t.equal(b.state(), 'open', 'a failed probe re-opens')
  now = 2500
  t.ok(b.allow())
  b.success()
  t.equal(b.state(), 'closed')
  t.ok(b.allow() && b.allow())
})

t.test('threshold 0 never opens; release frees a probe slot', async (t) => {
  const off = new CircuitBreaker(0, 1000)
  for (let i = 0; i < 100; i++) off.failure()
  t.equal(off.state(), 'closed')
  let now = 0
  const b = new CircuitBreaker(1, 10, () => now)
  b.failure()
  now = 10
  t.ok(b.allow())
  b.release()
  t.ok(b.allow(), 'slot free again after a client left mid-probe')
})
