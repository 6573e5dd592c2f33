// `make up` walked as a new user on a Docker-only VPS: the real scripts/up.sh, a fake `docker`
// that records its calls. First run, second run, going live, back to the mock, a relay without a
// key, a port taken, and a .env from before UPSTREAM existed. Each run prints what the README
// says and leaves .env as documented. Regressions: every run rewrote UPSTREAM_BASE_URL to the
// mock's while no key was set (an upstream without a key could never be used, and a key added
// later still served the mock); leaving mock mode left the mock running with the real key.
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { parse } from 'yaml'
import { freePorts, repoDir } from '../support/procs.js'
import { scratch } from './support/edge.js'
import { fakeHost, type FakeHost } from './support/fake-host.js'

const FILES = ['scripts/up.sh', 'scripts/certs.sh', '.env.example', 'docker-compose.yml', 'docker-compose.mock.yml']
const README = readFileSync(join(repoDir, 'README.md'), 'utf8')
const REAL_URL = 'https://api.holysheep.ai/v1'
const MOCK_LINE = 'upstream: MOCK (canned answers from the bundled mock upstream; UPSTREAM=mock in .env)'
const RELAY_LINE = `upstream: relay ${REAL_URL} (UPSTREAM=relay in .env)`

interface Svc { environment?: Record<string, string>, depends_on?: Record<string, unknown> }

/** The services compose would run with .env's COMPOSE_FILE: later files override earlier ones. */
function effective (host: FakeHost): Record<string, Svc> {
  const out: Record<string, Svc> = {}
  for (const file of (host.value('COMPOSE_FILE') ?? 'docker-compose.yml').split(':')) {
    const doc = parse(readFileSync(join(host.dir, file), 'utf8'), { merge: true }) as { services: Record<string, Svc> }
    for (const [name, svc] of Object.entries(doc.services)) {
      const prev = out[name] ?? {}
      out[name] = { ...prev, ...svc, environment: { ...prev.environment, ...svc.environment }, depends_on: { ...prev.depends_on, ...svc.depends_on } }
    }
  }
  return out
}

async function listen (port: number): Promise<Server> {
  return await new Promise((resolve) => { const s = createServer().listen(port, '127.0.0.1', () => resolve(s)) })
}

const work = scratch(t, 'llm-gateway-make-up-')
const [httpPort = 0, httpsPort = 0, grafanaPort = 0] = await freePorts(3)

/** A new host with .env.example's ports moved to free ones (80/443/3000 may be busy on a test machine). */
function newHost (name: string): FakeHost {
  const host = fakeHost(join(work, name), FILES)
  const example = join(host.dir, '.env.example')
  const text = readFileSync(example, 'utf8').replace(/^HTTP_PORT=.*$/m, `HTTP_PORT=${httpPort}`).replace(/^HTTPS_PORT=.*$/m, `HTTPS_PORT=${httpsPort}`).replace(/^GRAFANA_PORT=.*$/m, `GRAFANA_PORT=${grafanaPort}`)
  writeFileSync(example, text)
  return host
}

const upCall = /^compose up -d --build --wait --wait-timeout 180 --remove-orphans$/

t.test('the README documents what make up prints', async (t) => {
  t.ok(README.includes(MOCK_LINE), 'README shows the mock line')
  t.ok(README.includes(RELAY_LINE), 'README shows the relay line')
  t.match(README, /UPSTREAM=relay/, 'README says how to go live')
})

t.test('a new user: first run, second run, going live, back to the mock', async (t) => {
  const host = newHost('walk')

  // 1. First run: everything generated, the mock chosen and written down once.
  const first = host.run('scripts/up.sh')
  t.equal(first.status, 0, first.err)
  t.match(first.out, /created \.env from \.env\.example/)
  t.match(first.out, /sk-gw-[A-Za-z0-9_-]{32}/, 'the gateway key is printed once')
  t.match(first.out, /wrote UPSTREAM=mock to \.env/)
  t.ok(first.out.includes(MOCK_LINE), 'says the mock is live')
  t.match(first.out, /To go live: in \.env set/)
  t.equal(host.value('UPSTREAM'), 'mock')
  t.equal(host.value('UPSTREAM_BASE_URL'), REAL_URL, 'the URL is left as the user has it')
  t.equal(host.value('COMPOSE_FILE'), 'docker-compose.yml:docker-compose.mock.yml')
  t.equal(host.value('COMPOSE_PROFILES'), '', 'no profile needed for the mock')
  t.ok(first.calls.some((c) => upCall.test(c)), `compose up with --remove-orphans (${first.calls.join(' | ')})`)
  const mockGateway = effective(host).gateway?.environment ?? {}
  t.equal(mockGateway.UPSTREAM_BASE_URL, 'http://mock-upstream:8090/v1', 'mock mode: the gateways call the mock')
  t.notMatch(String(mockGateway.UPSTREAM_API_KEY), /UPSTREAM_API_KEY/, 'and never send the real key to it')
  t.notMatch(JSON.stringify(effective(host)['mock-upstream']), /UPSTREAM_API_KEY/, 'the mock never receives the real key')

  // 2. Second run: nothing changes, no new key.
  const envAfterFirst = host.env()
  const second = host.run('scripts/up.sh')
  t.equal(second.status, 0, second.err)
  t.equal(host.env(), envAfterFirst, '.env unchanged')
  t.notMatch(second.out, /sk-gw-/, 'no key printed')
  t.ok(second.out.includes(MOCK_LINE))

  // A key alone does not switch (UPSTREAM was decided), and says so nowhere silently: still the mock.
  host.setValue('UPSTREAM_API_KEY', 'sk-real-relay-key')
  const keyOnly = host.run('scripts/up.sh')
  t.ok(keyOnly.out.includes(MOCK_LINE), 'UPSTREAM=mock still serves the mock')
  t.notMatch(JSON.stringify(effective(host)['mock-upstream']), /sk-real-relay-key|UPSTREAM_API_KEY/)

  // 3. Going live: the one documented edit, then make up.
  host.setValue('UPSTREAM', 'relay')
  const live = host.run('scripts/up.sh')
  t.equal(live.status, 0, live.err)
  t.ok(live.out.includes(RELAY_LINE), 'says the relay is live')
  t.notMatch(live.out, /MOCK/)
  t.equal(host.value('COMPOSE_FILE'), 'docker-compose.yml', 'the mock file is out')
  t.equal(host.value('UPSTREAM_BASE_URL'), REAL_URL)
  t.ok(live.calls.some((c) => upCall.test(c)), '--remove-orphans stops and removes the mock container')
  t.equal(effective(host)['mock-upstream'], undefined, 'no mock service left')
  t.match(effective(host).gateway?.environment?.UPSTREAM_API_KEY ?? '', /\$\{UPSTREAM_API_KEY/, 'the gateways get the real key')

  // 4. Back to the mock.
  host.setValue('UPSTREAM', 'mock')
  const back = host.run('scripts/up.sh')
  t.equal(back.status, 0, back.err)
  t.ok(back.out.includes(MOCK_LINE))
  t.equal(host.value('COMPOSE_FILE'), 'docker-compose.yml:docker-compose.mock.yml')
  t.equal(host.value('UPSTREAM_API_KEY'), 'sk-real-relay-key', 'the key is kept for going live again')
})

t.test('a relay that needs no key can be used', async (t) => {
  const host = newHost('no-key')
  host.run('scripts/up.sh', ['--prepare-only'])
  host.setValue('UPSTREAM', 'relay')
  host.setValue('UPSTREAM_BASE_URL', 'http://10.0.0.7:8000/v1')
  const r = host.run('scripts/up.sh')
  t.equal(r.status, 0, r.err)
  t.ok(r.out.includes('upstream: relay http://10.0.0.7:8000/v1 (UPSTREAM=relay in .env)'))
  t.match(r.out, /UPSTREAM_API_KEY is empty: the gateways call the relay without a key/)
  t.equal(host.value('UPSTREAM_BASE_URL'), 'http://10.0.0.7:8000/v1', 'never rewritten')
  t.equal(host.value('COMPOSE_FILE'), 'docker-compose.yml')
})

t.test('a port taken by another program: nothing starts', async (t) => {
  const host = newHost('port')
  host.run('scripts/up.sh', ['--prepare-only'])
  const server = await listen(httpsPort)
  t.teardown(async () => { await new Promise((resolve) => server.close(resolve)) })
  const r = host.run('scripts/up.sh')
  t.equal(r.status, 1)
  t.match(r.err, new RegExp(`port\\(s\\) ${httpsPort} already in use by another program; nothing was started`))
  t.notOk(r.calls.some((c) => c.startsWith('compose up')), 'compose up never ran')
  // The same port held by this stack's own nginx is fine: the run only updates it.
  host.running(['nginx', 'gateway', 'redis'])
  const update = host.run('scripts/up.sh')
  t.equal(update.status, 0, update.err)
  t.ok(update.calls.some((c) => upCall.test(c)))
})

t.test('a .env from before UPSTREAM existed', async (t) => {
  const host = newHost('legacy')
  host.run('scripts/up.sh', ['--prepare-only'])
  host.setValue('UPSTREAM', '')
  host.setValue('UPSTREAM_BASE_URL', 'http://mock-upstream:8090/v1')
  host.setValue('COMPOSE_PROFILES', 'mock')
  const r = host.run('scripts/up.sh', ['--prepare-only'])
  t.equal(r.status, 0, r.err)
  t.equal(host.value('UPSTREAM'), 'mock')
  t.equal(host.value('COMPOSE_PROFILES'), '', 'the old mock profile is dropped')
  host.setValue('UPSTREAM', 'relay')
  const live = host.run('scripts/up.sh', ['--prepare-only'])
  t.equal(live.status, 2, 'relay with the old mock URL is refused')
  t.match(live.err, /still points at the bundled mock/)
  host.setValue('UPSTREAM', 'sideways')
  t.match(host.run('scripts/up.sh', ['--prepare-only']).err, /must be mock or relay/)
})
