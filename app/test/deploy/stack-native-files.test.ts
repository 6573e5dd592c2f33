// scripts/stack-native.mjs keeps what is not its own: an earlier run's logs in --dir are only
// replaced when asked, and credentials given with --env/--mock-env never land in options.json or
// state.json (regression: the upstream key was written to options.json, the mock's to state.json).
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Agent, request } from 'undici'
import { repoDir } from '../support/procs.js'
import { PATH, scratch } from './support/edge.js'

const execFileP = promisify(execFile)
const launcher = join(repoDir, 'scripts', 'stack-native.mjs')
const work = scratch(t, 'llm-gateway-native-files-')

t.test('logs of an earlier run are not deleted without asking', async (t) => {
  const dir = join(work, 'earlier')
  mkdirSync(join(dir, 'logs'), { recursive: true })
  writeFileSync(join(dir, 'logs', 'gateway-1.log'), 'yesterday\n')
  const err = await execFileP(process.execPath, [launcher, 'up', '--dir', dir], { env: { ...process.env, PATH } }).then(() => undefined, (e: Error & { stderr?: string }) => e)
  t.ok(err, 'up refuses')
  t.match(err?.stderr ?? '', /logs of an earlier run; pass --replace-logs/)
  t.equal(readFileSync(join(dir, 'logs', 'gateway-1.log'), 'utf8'), 'yesterday\n', 'the log is still there')
})

t.test('credentials given on the command line stay out of the files', async (t) => {
  const dir = join(work, 'secrets')
  const secret = 'sk-upstream-' + Math.random().toString(36).slice(2)
  t.teardown(async () => { await execFileP(process.execPath, [launcher, 'down', '--dir', dir], { timeout: 60_000 }).catch(() => {}) })
  await execFileP(process.execPath, [launcher, 'up', '--dir', dir, '--replicas', '1', '--owner-pid', String(process.pid),
    '--env', `UPSTREAM_API_KEY=${secret}`, '--mock-env', `MOCK_API_KEY=${secret}`, '--env', 'LOG_LEVEL=warn'], { env: { ...process.env, PATH }, timeout: 120_000 })
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    t.notOk(readFileSync(join(dir, name), 'utf8').includes(secret), `${name} does not hold the upstream key`)
  }
  const options = JSON.parse(readFileSync(join(dir, 'options.json'), 'utf8')) as { gatewayEnv: Record<string, string> }
  t.same(options.gatewayEnv, { LOG_LEVEL: 'warn' }, 'other settings are kept')
  const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { ca: string, nginx: { httpsUrl: string }, mock: Record<string, unknown>, keys: Array<{ key: string }> }
  t.equal(state.mock.apiKey, undefined, 'no mock key in state.json')
  // The key still reached the gateway and the mock: a completion through the whole stack works.
  const dispatcher = new Agent({ connect: { ca: readFileSync(state.ca) } })
  t.teardown(async () => { await dispatcher.close() })
  const res = await request(`${state.nginx.httpsUrl}/v1/chat/completions`, {
    method: 'POST',
    dispatcher,
    headers: { authorization: `Bearer ${state.keys[0]?.key ?? ''}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }] })
  })
  t.equal(res.statusCode, 200, await res.body.text())
})
