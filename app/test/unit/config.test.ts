import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, loadConfig } from '../../src/config.js'
import { hashKey } from '../../src/lib/keys.js'

const KEYS = `app:${hashKey('k1')}`

function problems (env: Record<string, string>): string[] {
  try {
    loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  return []
}

t.test('defaults', async (t) => {
  const c = loadConfig({ GATEWAY_KEYS: KEYS })
  t.equal(c.port, 8080)
  t.equal(c.metricsPort, 9091)
  t.equal(c.host, '0.0.0.0')
  t.equal(c.upstreams[0]?.origin, 'https://api.holysheep.ai')
  t.equal(c.upstreams[0]?.basePath, '/v1')
  t.equal(c.rateLimitRpm, 600)
  t.equal(c.bodyLimitBytes, 10 * 1024 * 1024)
  t.equal(c.redisUrl, undefined)
  t.equal(c.idleReclaim, true, 'idle memory reclaim on by default')
  t.equal(loadConfig({ GATEWAY_KEYS: KEYS, IDLE_MEMORY_RECLAIM: 'false' }).idleReclaim, false)
  for (const id of ['gpt-4.1', 'claude-sonnet-4.5', 'gemini-2.5-flash', 'deepseek-v3.2', 'text-embedding-3-small']) {
    t.ok(c.catalog.lookup(id), `default models include ${id}`)
    t.equal(c.catalog.lookup(id)?.targets[0]?.model, id, 'forwarded under the same name')
  }
  t.equal(c.catalog.lookup('deepseek-chat')?.id, 'deepseek-v3.2', 'aliases resolve')
})

// One bad value per variable; each problem message starts with the variable's name.
const BAD: Record<string, string> = {
  PORT: 'abc',
  METRICS_PORT: '70000',
  UPSTREAM_BASE_URL: 'ftp://x',
  REDIS_URL: 'localhost:6379',
  LOG_LEVEL: 'loud',
  UPSTREAM_IDLE_TIMEOUT_MS: '-5',
  CORS_ORIGINS: 'https://a.example/,nope',
  GATEWAY_KEYS: 'broken',
  IDLE_MEMORY_RECLAIM: 'sometimes'
}

/** True when `message` is about `name` itself (so "METRICS_PORT …" is not about PORT). */
const names = (message: string, name: string): boolean => new RegExp(`^${name}(?![A-Z0-9_])`).test(message)

t.test('each bad variable, alone, is refused with a message that names it', async (t) => {
  for (const [name, value] of Object.entries(BAD)) {
    const p = problems({ GATEWAY_KEYS: KEYS, [name]: value })
    t.not(p.length, 0, `${name}=${value} is refused`)
    t.same(p.filter((m) => !names(m, name)), [], `every problem for ${name} names it`)
  }
})

t.test('every bad variable is named, all at once', async (t) => {
  const p = problems(BAD)
  for (const name of Object.keys(BAD)) t.ok(p.some((m) => names(m, name)), `${name} named`)
  t.same(p.filter((m) => !Object.keys(BAD).some((name) => names(m, name))), [], 'no problem about anything else')
})

t.test('at least one gateway key is required', async (t) => {
  t.match(problems({}).join('\n'), /GATEWAY_KEYS or GATEWAY_KEYS_FILE/)
})

t.test('a key may not allow a model the catalog lacks; aliases resolve to ids', async (t) => {
  t.match(problems({ GATEWAY_KEYS: `${KEYS} models=gpt-9` }).join('\n'), /gpt-9/)
  const c = loadConfig({ GATEWAY_KEYS: `${KEYS} models=deepseek-chat` })
  t.same([...(c.keys[0]?.models ?? [])], ['deepseek-v3.2'])
})

t.test('keys file and models file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-config-'))
  const keysFile = join(dir, 'keys')
  writeFileSync(keysFile, `# team keys\nb:${hashKey('k2')} rpm=10\n`)
  const modelsFile = join(dir, 'models.json')
  writeFileSync(modelsFile, JSON.stringify({
    upstreams: { backup: { base_url: 'http://127.0.0.1:9/v1', api_key_env: 'BACKUP_KEY' } },
    models: [{ id: 'm', aliases: ['m-alias'], price: { input_per_1m: 1, output_per_1m: 2 }, targets: [{ model: 'm-up' }, { upstream: 'backup', model: 'm-b' }] }]
  }))
  const c = loadConfig({ GATEWAY_KEYS: KEYS, GATEWAY_KEYS_FILE: keysFile, MODELS_FILE: modelsFile, BACKUP_KEY: 'bk' })
  t.same(c.keys.map((k) => k.id), ['app', 'b'])
  t.equal(c.keys[1]?.rpm, 10)
  t.same(c.catalog.lookup('m-alias')?.targets, [{ upstream: 'default', model: 'm-up' }, { upstream: 'backup', model: 'm-b' }])
  t.same(c.upstreams.map((u) => [u.name, u.apiKey]), [['default', ''], ['backup', 'bk']])
  t.match(problems({ GATEWAY_KEYS: KEYS, MODELS_FILE: modelsFile }).join('\n'), /BACKUP_KEY/)
  writeFileSync(modelsFile, JSON.stringify({ models: [{ id: 'x', targets: [{ upstream: 'nowhere' }] }] }))
  t.match(problems({ GATEWAY_KEYS: KEYS, MODELS_FILE: modelsFile }).join('\n'), /nowhere/)
  t.match(problems({ GATEWAY_KEYS: KEYS, MODELS_FILE: join(dir, 'missing.json') }).join('\n'), /MODELS_FILE/)
})

t.test('REDIS_PASSWORD_FILE puts the password into REDIS_URL, so no environment holds it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-redis-'))
  const file = join(dir, 'redis-password')
  writeFileSync(file, 's3cret/with:chars\n')
  const c = loadConfig({ GATEWAY_KEYS: KEYS, REDIS_URL: 'redis://redis:6379', REDIS_PASSWORD_FILE: file })
  const url = new URL(c.redisUrl ?? '')
  t.equal(decodeURIComponent(url.password), 's3cret/with:chars', 'the file\'s password, trailing newline dropped')
  t.equal(`${url.hostname}:${url.port}`, 'redis:6379')
  writeFileSync(file, '\n')
  t.match(problems({ GATEWAY_KEYS: KEYS, REDIS_URL: 'redis://redis:6379', REDIS_PASSWORD_FILE: file })[0], /^REDIS_PASSWORD_FILE .*empty/)
  t.match(problems({ GATEWAY_KEYS: KEYS, REDIS_URL: 'redis://redis:6379', REDIS_PASSWORD_FILE: join(dir, 'missing') })[0], /^REDIS_PASSWORD_FILE /)
  t.match(problems({ GATEWAY_KEYS: KEYS, REDIS_PASSWORD_FILE: file })[0], /^REDIS_PASSWORD_FILE .*REDIS_URL is not/)
})
