// SIGHUP reloads GATEWAY_KEYS_FILE in a running gateway: new keys work, removed keys stop working,
// and a file with a mistake leaves the running keys in place (and is not echoed to the log).
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKey, hashKey } from '../../src/lib/keys.js'
import { waitFor } from '../support/wait.js'
import { startGateway, startMock } from '../support/procs.js'

const dir = mkdtempSync(join(tmpdir(), 'llm-gateway-keys-'))
t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
const file = join(dir, 'keys.txt')

t.test('SIGHUP swaps the keys of a running gateway', async (t) => {
  const alice = generateKey()
  const bob = generateKey()
  writeFileSync(file, `# team keys\nalice:${hashKey(alice)}\n`)
  const mock = await startMock()
  t.teardown(async () => { await mock.stop() })
  const gw = await startGateway({ UPSTREAM_BASE_URL: `${mock.url}/v1`, GATEWAY_KEYS_FILE: file, LOG_LEVEL: 'info' })
  t.teardown(async () => { await gw.stop('SIGKILL') })
  const status = async (key: string): Promise<number> => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }] })
    })
    await res.arrayBuffer()
    return res.status
  }
  t.equal(await status(alice), 200, 'a key from the file works')
  t.equal(await status(bob), 401, 'a key not in the file does not')

  writeFileSync(file, `bob:${hashKey(bob)} rpm=100\n`)
  process.kill(gw.pid, 'SIGHUP')
  t.ok(await waitFor(async () => await status(bob) === 200, 10_000), 'after SIGHUP the new key works')
  t.equal(await status(alice), 401, 'and the removed key is refused')
  t.ok(await waitFor(() => /"keys":1,"msg":"gateway keys reloaded"/.test(gw.output()), 10_000), 'the reload is logged')

  const pasted = generateKey()
  writeFileSync(file, `bob:${hashKey(bob)}\n${pasted}\n`)
  process.kill(gw.pid, 'SIGHUP')
  t.ok(await waitFor(() => gw.output().includes('gateway keys NOT reloaded'), 10_000), 'a broken file is reported')
  t.match(gw.output(), /looks like a plaintext key/, 'with what is wrong')
  t.notOk(gw.output().includes(pasted.slice(6, 20)), 'without echoing the pasted key')
  t.equal(await status(bob), 200, 'the running keys stay')
  t.equal(gw.child.exitCode, null, 'SIGHUP never stops the gateway')
})
