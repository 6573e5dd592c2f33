// The host-side make targets on a Docker-only VPS, with a fake `docker` that records its calls:
// `make key` without Node runs the key tool inside the gateway image (regression: it needed Node
// on the host), and `make grafana-password` applies .env's password to a Grafana whose database
// already exists, passing it on stdin.
import t from 'tap'
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { repoDir } from '../support/procs.js'
import { scratch } from './support/edge.js'
import { fakeHost } from './support/fake-host.js'

const work = scratch(t, 'llm-gateway-host-tools-')

/** A PATH with the basic tools and no node or npm, like a fresh Docker-only VPS. */
function nodelessPath (dir: string): string {
  const bin = join(dir, 'sysbin')
  mkdirSync(bin, { recursive: true })
  for (const tool of ['sh', 'sed', 'tail', 'dirname', 'cat', 'grep', 'printf']) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim()
    if (found.startsWith('/')) symlinkSync(found, join(bin, tool))
  }
  t.not(spawnSync(join(bin, 'sh'), ['-c', 'command -v node || command -v npm'], { env: { PATH: bin } }).status, 0, 'no node on this PATH')
  return bin
}

t.test('make key on a host without Node runs the tool in the gateway image', async (t) => {
  const host = fakeHost(join(work, 'key'), ['scripts/key.sh'], nodelessPath(join(work, 'key')))
  const r = host.run('scripts/key.sh', ['team-a'])
  t.equal(r.status, 0, r.err)
  t.match(r.out, /New gateway key \(from the image\)/)
  t.same(r.calls, [
    'image inspect llm-relay-gateway:local',
    'run --rm --network none --read-only --cap-drop ALL --security-opt no-new-privileges:true llm-relay-gateway:local node dist/cli/make-key.js team-a'
  ])
  host.flag('no-image', true)
  const build = host.run('scripts/key.sh', ['team-b'])
  t.equal(build.status, 0, build.err)
  t.equal(build.calls[1], 'build -q -t llm-relay-gateway:local app', 'builds the image when it is missing')
  t.match(build.calls[2] ?? '', /make-key\.js team-b$/)

  const makefile = readFileSync(join(repoDir, 'Makefile'), 'utf8')
  t.match(makefile, /^key: ##[^\n]*\n\t@scripts\/key\.sh /m, 'make key needs no build (no Node) first: no prerequisite, the script decides')
})

t.test('make grafana-password: the password from .env, on stdin only', async (t) => {
  const host = fakeHost(join(work, 'grafana'), ['scripts/grafana-password.sh'])
  host.setValue('GRAFANA_ADMIN_PASSWORD', 'b7e1c0ffee')
  host.running(['grafana'])
  const r = host.run('scripts/grafana-password.sh')
  t.equal(r.status, 0, r.err)
  const exec = r.calls.find((c) => c.startsWith('compose exec'))
  t.equal(exec, 'compose exec -T grafana grafana cli admin reset-admin-password --password-from-stdin')
  t.notOk(r.calls.some((c) => c.includes('b7e1c0ffee')), 'never on a command line')
  t.equal(host.stdin(), 'b7e1c0ffee\n', 'on stdin')
  host.running([])
  t.match(host.run('scripts/grafana-password.sh').err, /grafana is not running/)
  t.match(readFileSync(join(repoDir, 'Makefile'), 'utf8'), /^grafana-password: ##/m)
})
