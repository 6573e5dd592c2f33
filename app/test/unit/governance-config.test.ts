// Governance settings: LIMITS_ON_REDIS_DOWN, ADMIN_TOKEN_FILE, USAGE_RETENTION_DAYS and
// LIMITS_RESERVE_OUTPUT_TOKENS validated at start; config_info hashes say what a replica runs.
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, loadConfig } from '../../src/config.js'
import { configHashes } from '../../src/lib/config-reload.js'
import { hashKey } from '../../src/lib/keys.js'

const KEYS = `a:${hashKey('sk-gw-a')} rpm=5,b:${hashKey('sk-gw-b')}`
const problems = (env: Record<string, string>): string[] => {
  try { loadConfig({ GATEWAY_KEYS: KEYS, ...env }); return [] } catch (err) { return (err as ConfigError).problems }
}

t.test('defaults', async (t) => {
  const c = loadConfig({ GATEWAY_KEYS: KEYS })
  t.equal(c.limitsOnRedisDown, 'open')
  t.equal(c.limitsReserveOutputTokens, 1024)
  t.equal(c.usageRetentionDays, 90)
  t.equal(c.adminTokenFile, undefined)
})

t.test('bad values are named', async (t) => {
  t.match(problems({ LIMITS_ON_REDIS_DOWN: 'maybe' }), [/^LIMITS_ON_REDIS_DOWN must be open or closed/])
  t.match(problems({ USAGE_RETENTION_DAYS: '0' }), [/^USAGE_RETENTION_DAYS/])
  t.match(problems({ LIMITS_RESERVE_OUTPUT_TOKENS: '-1' }), [/^LIMITS_RESERVE_OUTPUT_TOKENS/])
  const dir = mkdtempSync(join(tmpdir(), 'gw-admin-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  writeFileSync(join(dir, 'short'), 'abc\n')
  t.match(problems({ ADMIN_TOKEN_FILE: join(dir, 'short') }), [/^ADMIN_TOKEN_FILE .*at least 16/])
  t.match(problems({ ADMIN_TOKEN_FILE: join(dir, 'missing') }), [/^ADMIN_TOKEN_FILE/])
  writeFileSync(join(dir, 'good'), '0123456789abcdef0123\n')
  t.equal(loadConfig({ GATEWAY_KEYS: KEYS, ADMIN_TOKEN_FILE: join(dir, 'good'), LIMITS_ON_REDIS_DOWN: 'closed' }).limitsOnRedisDown, 'closed')
})

t.test('config_info hashes: the same keys in any order hash the same; a changed option does not', async (t) => {
  const a = configHashes(loadConfig({ GATEWAY_KEYS: KEYS }))
  const b = configHashes(loadConfig({ GATEWAY_KEYS: `b:${hashKey('sk-gw-b')},a:${hashKey('sk-gw-a')} rpm=5` }))
  const c = configHashes(loadConfig({ GATEWAY_KEYS: `a:${hashKey('sk-gw-a')} rpm=6,b:${hashKey('sk-gw-b')}` }))
  t.equal(a.keysHash, b.keysHash)
  t.not(a.keysHash, c.keysHash)
  t.equal(a.modelsHash, c.modelsHash)
  t.match(a.keysHash, /^[0-9a-f]{12}$/)
  const moved = configHashes(loadConfig({ GATEWAY_KEYS: KEYS, UPSTREAM_BASE_URL: 'https://elsewhere.example/v1' }))
  t.not(moved.modelsHash, a.modelsHash, 'an upstream address is part of the models hash')
})
