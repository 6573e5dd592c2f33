// Key lifecycle: expires=, disabled, and a rotation's overlap (previous= / previous_until=), parsed and applied.
import t from 'tap'
import { KeyRing, hashKey, parseKeyEntry, parseKeyList, parseUtcDate } from '../../src/lib/keys.js'

const NEW = 'sk-gw-new-secret'
const OLD = 'sk-gw-old-secret'
const bearer = (k: string): string => `Bearer ${k}`

t.test('dates are UTC instants; other offsets and impossible days are refused', async (t) => {
  t.equal(parseUtcDate('2026-07-01', 'x'), Date.UTC(2026, 6, 1))
  t.equal(parseUtcDate('2026-07-01T12:30Z', 'x'), Date.UTC(2026, 6, 1, 12, 30))
  t.equal(parseUtcDate('2026-07-01T12:30:15+00:00', 'x'), Date.UTC(2026, 6, 1, 12, 30, 15))
  t.equal(parseUtcDate('2026-07-01T12:30:15', 'x'), Date.UTC(2026, 6, 1, 12, 30, 15), 'no zone: UTC')
  t.throws(() => parseUtcDate('2026-07-01T12:30+02:00', 'x'), /UTC/)
  t.throws(() => parseUtcDate('2026-02-30', 'x'), /calendar/)
  t.throws(() => parseUtcDate('tomorrow', 'x'), /ISO 8601/)
})

t.test('entries carry expires, disabled and a previous hash with its end', async (t) => {
  const k = parseKeyEntry(`a:${hashKey(NEW)} expires=2030-01-01 disabled previous=${hashKey(OLD)} previous_until=2029-06-01T00:00Z rpm=5`)
  t.equal(k.expiresAt, Date.UTC(2030, 0, 1))
  t.equal(k.disabled, true)
  t.same(k.previous, { hash: hashKey(OLD), until: Date.UTC(2029, 5, 1) })
  t.throws(() => parseKeyEntry(`a:${hashKey(NEW)} previous=${hashKey(OLD)}`), /go together/)
  t.throws(() => parseKeyEntry(`a:${hashKey(NEW)} previous=abc previous_until=2029-01-01`), /previous must be/)
  t.throws(() => parseKeyEntry(`a:${hashKey(NEW)} disabled=no`), /disabled takes no value/)
  t.throws(() => parseKeyList(`a:${hashKey(NEW)} previous=${hashKey(OLD)} previous_until=2029-01-01\nb:${hashKey(OLD)}`, 'line'), /same hash/, 'a previous hash may not be another key')
})

t.test('the ring says why a key is refused', async (t) => {
  const now = Date.UTC(2026, 0, 1)
  const ring = new KeyRing(parseKeyList([
    `live:${hashKey('sk-gw-live')} expires=2026-01-02`,
    `gone:${hashKey('sk-gw-gone')} expires=2025-12-31T23:59:59Z`,
    `off:${hashKey('sk-gw-off')} disabled`,
    `rot:${hashKey(NEW)} previous=${hashKey(OLD)} previous_until=2026-01-01T00:10Z`
  ].join('\n'), 'line'))
  t.equal(ring.authenticate(bearer('sk-gw-live'), now)?.id, 'live')
  t.match(ring.check(bearer('sk-gw-live'), Date.UTC(2026, 0, 2)), { refused: 'key_expired', message: /expired at 2026-01-02T00:00:00.000Z/ })
  t.match(ring.check(bearer('sk-gw-gone'), now), { refused: 'key_expired' })
  t.match(ring.check(bearer('sk-gw-off'), now), { refused: 'key_disabled' })
  t.match(ring.check(bearer('sk-gw-unknown'), now), { refused: 'invalid_api_key' })
  // Rotation: both secrets are the same key id until the overlap ends, then only the new one.
  t.equal(ring.authenticate(bearer(NEW), now)?.id, 'rot')
  t.equal(ring.authenticate(bearer(OLD), now)?.id, 'rot', 'the old secret during the overlap')
  const after = Date.UTC(2026, 0, 1, 0, 10)
  t.equal(ring.authenticate(bearer(NEW), after)?.id, 'rot')
  t.match(ring.check(bearer(OLD), after), { refused: 'key_expired', message: /replaced/ }, 'the old secret after it')
})
