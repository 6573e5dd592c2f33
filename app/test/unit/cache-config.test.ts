// Settings of the response cache, Idempotency-Key and cooldowns: key options and environment, validated.
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.js'
import { parseKeyEntry } from '../../src/lib/keys.js'

const HASH = 'a'.repeat(64)
const KEYS = `k:${HASH}`

t.test('key options cache=on, cache_ttl=, cache_group=', async (t) => {
  const k = parseKeyEntry(`team:${HASH} cache=on cache_ttl=600 cache_group=shared-1`)
  t.equal(k.cache, true)
  t.equal(k.cacheTtlS, 600)
  t.equal(k.cacheGroup, 'shared-1')
  t.equal(parseKeyEntry(`team:${HASH} cache=off`).cache, false)
  t.equal(parseKeyEntry(`team:${HASH}`).cache, undefined, 'off unless asked for')
  t.throws(() => parseKeyEntry(`team:${HASH} cache=yes`), /cache must be on or off/)
  t.throws(() => parseKeyEntry(`team:${HASH} cache_ttl=0`), /cache_ttl/)
  t.throws(() => parseKeyEntry(`team:${HASH} cache_ttl=1.5`), /cache_ttl/)
  t.throws(() => parseKeyEntry(`team:${HASH} cache_group=a/b`), /cache_group/)
})

t.test('defaults, and each variable read and checked', async (t) => {
  const d = loadConfig({ GATEWAY_KEYS: KEYS })
  t.same(d.cache, { ttlS: 3600, maxEntryBytes: 1024 * 1024, maxTotalBytes: 64 * 1024 * 1024, lockWaitMs: 60_000, chargeHits: false })
  t.same(d.idempotency, { ttlS: 86_400, inFlight: 'wait', waitMs: 60_000, maxBytes: 4 * 1024 * 1024 })
  t.equal(d.cooldownMaxMs, 300_000)
  const c = loadConfig({ GATEWAY_KEYS: KEYS, CACHE_TTL_S: '60', CACHE_HITS_CHARGED: 'true', IDEMPOTENCY_IN_FLIGHT: '409', UPSTREAM_COOLDOWN_MAX_MS: '5000' })
  t.equal(c.cache.ttlS, 60)
  t.equal(c.cache.chargeHits, true)
  t.equal(c.idempotency.inFlight, 'conflict')
  t.equal(c.cooldownMaxMs, 5000)
  for (const [name, value] of [['IDEMPOTENCY_IN_FLIGHT', 'later'], ['CACHE_TTL_S', '0'], ['CACHE_MAX_ENTRY_BYTES', 'lots'], ['CACHE_HITS_CHARGED', 'maybe']]) {
    let refused: unknown
    try { loadConfig({ GATEWAY_KEYS: KEYS, [name as string]: value as string }) } catch (err) { refused = err }
    t.ok(refused instanceof ConfigError && refused.message.includes(name as string), `${name}=${value} is refused, naming it`)
  }
})
