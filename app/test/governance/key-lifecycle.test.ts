// Key lifecycle through the gateway: expired and disabled keys get 401 with a code that says so; a
// key rotated with `make key rotate` takes both secrets on every replica after SIGHUP until the
// overlap ends, then only the new one.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hashKey } from '../../src/lib/keys.js'
import { assertOpenAIError } from '../support/http.js'
import { chatBody, startTestGateway } from '../support/gateway.js'
import { appDir, startGateways, startMock, type GatewayProc as Replica } from '../support/procs.js'
import { waitFor } from '../support/wait.js'
import { configInfo, postJson } from './support.js'
import { startRedis } from '../support/redis.js'

t.test('expired and disabled keys: 401 key_expired / key_disabled', async (t) => {
  const gw = await startTestGateway({
    env: {
      GATEWAY_KEYS: [
        `old:${hashKey('sk-gw-expired-key')} expires=2020-01-01`,
        `off:${hashKey('sk-gw-disabled-key')} disabled`,
        `live:${hashKey('sk-gw-live-key')} expires=2999-01-01T00:00:00Z`
      ].join(',')
    }
  })
  t.teardown(async () => { await gw.close() })
  const chat = async (key: string): Promise<Awaited<ReturnType<typeof gw.app.inject>>> =>
    await gw.app.inject({ method: 'POST', url: '/v1/chat/completions', headers: { authorization: `Bearer ${key}` }, payload: chatBody() })
  assertOpenAIError(t, await chat('sk-gw-expired-key'), 401, 'authentication_error', 'key_expired')
  t.match((await chat('sk-gw-expired-key')).json(), { error: { message: /expired at 2020-01-01T00:00:00.000Z/ } })
  assertOpenAIError(t, await chat('sk-gw-disabled-key'), 401, 'authentication_error', 'key_disabled')
  assertOpenAIError(t, await chat('sk-gw-unknown-key'), 401, 'authentication_error', 'invalid_api_key')
  t.equal((await chat('sk-gw-live-key')).statusCode, 200, 'a key before its expiry works')
  t.equal(gw.mock.stats().requests, 1, 'refused keys never reach the upstream')
})

t.test('make key rotate: both secrets until the overlap ends, on every replica after SIGHUP', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-rotate-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const file = join(dir, 'keys.txt')
  const oldKey = 'sk-gw-rotation-old-secret'
  writeFileSync(file, `# team keys\nalice:${hashKey(oldKey)} rpm=100 # the app team\n`)
  const redis = await startRedis(t)
  const mock = await startMock()
  t.teardown(async () => { await mock.stop() })
  const replicas = await startGateways(t, { UPSTREAM_BASE_URL: `${mock.url}/v1`, GATEWAY_KEYS_FILE: file, REDIS_URL: redis.url })
  const status = async (r: Replica, key: string): Promise<{ status: number, code?: unknown }> => {
    const a = await postJson(`${r.url}/v1/chat/completions`, key, chatBody())
    return { status: a.status, code: (a.body.error as { code?: unknown } | undefined)?.code }
  }
  const everywhere = async (key: string, want: number, code?: string): Promise<boolean> => {
    for (const r of replicas) {
      const s = await status(r, key)
      if (s.status !== want || (code !== undefined && s.code !== code)) return false
    }
    return true
  }
  t.ok(await everywhere(oldKey, 200), 'the old secret works before the rotation')

  const out = execFileSync(process.execPath, [join(appDir, 'dist', 'cli', 'make-key.js'), 'rotate', 'alice', `--file=${file}`, '--overlap=7d'], { encoding: 'utf8' })
  const newKey = /^\s+(sk-gw-\S+)$/m.exec(out)?.[1] ?? ''
  t.match(newKey, /^sk-gw-/, 'the new secret is printed')
  const line = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith('alice:')) ?? ''
  t.match(line, new RegExp(`^alice:${hashKey(newKey)} rpm=100 previous=${hashKey(oldKey)} previous_until=\\S+Z # the app team$`), 'the entry keeps its options and comment')
  t.notOk(readFileSync(file, 'utf8').includes(newKey), 'the file holds hashes only')

  for (const r of replicas) process.kill(r.pid, 'SIGHUP')
  t.ok(await waitFor(async () => await everywhere(newKey, 200), 15_000, 100), 'after SIGHUP the new secret works on every replica')
  t.ok(await everywhere(oldKey, 200), 'and the old one still does (overlap)')

  // The overlap ends (here: moved into the past) and the replicas reload.
  writeFileSync(file, readFileSync(file, 'utf8').replace(/previous_until=\S+/, 'previous_until=2000-01-01T00:00:00Z'))
  for (const r of replicas) process.kill(r.pid, 'SIGHUP')
  t.ok(await waitFor(async () => await everywhere(oldKey, 401, 'key_expired'), 15_000, 100), 'after the overlap the old secret gets 401 key_expired on every replica')
  t.ok(await everywhere(newKey, 200), 'the new secret keeps working')
  const infos = await Promise.all(replicas.map(configInfo))
  t.equal(new Set(infos.map((i) => i?.keys_hash)).size, 1, 'config_info: every replica runs the same keys')
})
