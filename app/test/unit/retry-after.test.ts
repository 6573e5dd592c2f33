import t from 'tap'
import { formatDuration, parseDuration, retryAfterMs, retryAfterSeconds } from '../../src/lib/retry-after.js'

t.test('OpenAI durations', async (t) => {
  t.equal(parseDuration('6m0s'), 360_000)
  t.equal(parseDuration('1.5s'), 1500)
  t.equal(parseDuration('250ms'), 250)
  t.equal(parseDuration('1h2m3s'), 3_723_000)
  t.equal(parseDuration('soon'), undefined)
  t.equal(parseDuration('5'), undefined)
  t.equal(formatDuration(250), '250ms')
  t.equal(formatDuration(12_000), '12s')
  t.equal(formatDuration(90_000), '1m30s')
})

t.test('reads every way an upstream says how long to wait', async (t) => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  t.equal(retryAfterMs({ 'retry-after': '7' }, now), 7000)
  t.equal(retryAfterMs({ 'retry-after': '0.5' }, now), 500)
  t.equal(retryAfterMs({ 'retry-after': 'Thu, 01 Jan 2026 00:00:30 GMT' }, now), 30_000)
  t.equal(retryAfterMs({ 'retry-after-ms': '1234', 'retry-after': '9' }, now), 1234, 'ms wins')
  t.equal(retryAfterMs({ 'x-ratelimit-reset-requests': '6m0s' }, now), 360_000)
  t.equal(retryAfterMs({ 'retry-after': 'garbage' }, now), undefined)
  t.equal(retryAfterMs({}, now), undefined)
  t.equal(retryAfterSeconds(0), '1', 'never 0: clients must not spin')
  t.equal(retryAfterSeconds(1001), '2')
})
