// The edge's configuration pieces without a running stack: the entrypoint helper, the templates
// rendered with the compose settings (and accepted by `nginx -t` on nginx 1.22), the certificate
// script, `up.sh --prepare-only`, and the Prometheus config the native launcher derives.
import t from 'tap'
import { execFile, execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { promisify } from 'node:util'
import { parse } from 'yaml'
import { repoDir } from '../support/procs.js'
import { composeNginxEnv } from '../deploy/support/edge.js'
import { deriveNginxEnv, renderNginxTemplates } from '../../../scripts/lib/nginx-render.mjs'
import { nativePrometheusConfig } from '../../../scripts/lib/prometheus-config.mjs'

const execFileP = promisify(execFile)
const envsh = join(repoDir, 'nginx', 'entrypoint', '15-llm-gateway.envsh')
const work = mkdtempSync(join(tmpdir(), 'llm-gateway-edge-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))

function certs (dir: string, serverName: string): string {
  return execFileSync(join(repoDir, 'scripts', 'certs.sh'), [], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CERTS_DIR: dir, CERTS_OWNER: '', SERVER_NAME: serverName },
    encoding: 'utf8'
  })
}
const openssl = (...args: string[]): string => execFileSync('openssl', args, { encoding: 'utf8' })

t.test('the entrypoint helper turns lists into config lines and rejects bad ones', async (t) => {
  const derived = deriveNginxEnv(envsh, { GATEWAY_UPSTREAMS: 'gateway-1:8080 gateway-2:8080,10.0.0.3:8080', CORS_ORIGINS: 'https://a.example, https://b.example:8443' })
  t.same(derived.NGINX_UPSTREAM_SERVERS?.trim().split('\n').map((l) => l.trim()), [
    'server gateway-1:8080 max_fails=1 fail_timeout=5s;',
    'server gateway-2:8080 max_fails=1 fail_timeout=5s;',
    'server 10.0.0.3:8080 max_fails=1 fail_timeout=5s;'
  ])
  t.match(derived.NGINX_CORS_ORIGIN_MAP ?? '', /"https:\/\/a\.example" \$http_origin;/)
  t.match(derived.NGINX_CORS_ORIGIN_MAP ?? '', /"https:\/\/b\.example:8443" \$http_origin;/)
  t.equal(derived.NGINX_HTTPS_PORT_SUFFIX, '', 'no port in redirects to 443')
  t.equal(deriveNginxEnv(envsh, { NGINX_PUBLIC_HTTPS_PORT: '8443' }).NGINX_HTTPS_PORT_SUFFIX, ':8443')
  t.match(deriveNginxEnv(envsh, { CORS_ORIGINS: '*' }).NGINX_CORS_ORIGIN_MAP ?? '', /default \$http_origin;/, '* allows every origin')
  t.match(deriveNginxEnv(envsh, { NGINX_UPSTREAM_SERVER_PARAMS: 'max_fails=2 resolve' }).NGINX_UPSTREAM_SERVERS ?? '', /server gateway:8080 max_fails=2 resolve;/, 'default upstream and custom parameters')
  for (const [env, what] of [
    [{ GATEWAY_UPSTREAMS: 'gateway:8080;evil' }, /not host:port/],
    [{ GATEWAY_UPSTREAMS: 'gateway' }, /no :port/],
    [{ GATEWAY_UPSTREAMS: ' , ' }, /empty/],
    [{ CORS_ORIGINS: 'app.example.com' }, /must start with/],
    [{ CORS_ORIGINS: 'https://a.example";' }, /not an origin/],
    [{ NGINX_UPSTREAM_SERVER_PARAMS: 'x; include /etc/passwd' }, /misread/],
    [{ NGINX_PUBLIC_HTTPS_PORT: '443;' }, /port number/]
  ] as const) {
    t.throws(() => deriveNginxEnv(envsh, env as Record<string, string>), what, JSON.stringify(env))
  }
})

t.test('templates rendered with the compose settings pass nginx -t (nginx 1.22)', async (t) => {
  const env = composeNginxEnv()
  t.equal(env.NGINX_CLIENT_MAX_BODY_SIZE, '10485760')
  t.match(env.NGINX_UPSTREAM_SERVER_PARAMS ?? '', /resolve/, 'compose follows replicas (nginx >= 1.27.3)')

  // What only exists inside the container is replaced by local equivalents; nginx 1.22 has no
  // `resolve`, and a loopback upstream avoids a DNS lookup.
  const dir = join(work, 'render')
  mkdirSync(join(dir, 'run'), { recursive: true })
  certs(join(dir, 'certs'), 'localhost')
  Object.assign(env, {
    GATEWAY_UPSTREAMS: '127.0.0.1:1 127.0.0.1:2 127.0.0.1:3',
    NGINX_UPSTREAM_SERVER_PARAMS: 'max_fails=1 fail_timeout=5s',
    NGINX_RUNTIME_DIR: join(dir, 'run'),
    NGINX_ACCESS_LOG: join(dir, 'access.log'),
    NGINX_SSL_CERTIFICATE: join(dir, 'certs', 'server.crt'),
    NGINX_SSL_CERTIFICATE_KEY: join(dir, 'certs', 'server.key'),
    NGINX_SSL_TRUSTED_CERTIFICATE: join(dir, 'certs', 'ca.crt'),
    NGINX_ACME_ROOT: join(dir, 'acme'),
    CORS_ORIGINS: 'https://app.example.com'
  })
  const { files } = renderNginxTemplates({ templatesDir: join(repoDir, 'nginx', 'templates'), envshPath: envsh, outDir: join(dir, 'conf'), env })
  t.ok(files.some((f) => f.endsWith('/conf/nginx.conf')))
  const all = files.map((f) => readFileSync(f, 'utf8')).join('\n')
  t.notMatch(all, /\$\{NGINX_/, 'no placeholder left')
  for (const v of ['$remote_addr', '$upstream_response_time', '$http_origin', '$request_id', '$host$request_uri']) {
    t.ok(all.includes(v), `nginx's own ${v} survived`)
  }
  t.match(all, /listen 8443 ssl http2 default_server;/, '1.22-compatible http2 listen')
  t.notMatch(all, /^\s*http2 on;/m)
  t.match(all, /proxy_next_upstream error timeout;/)
  t.notMatch(all, /^\s*proxy_next_upstream [^;]*non_idempotent/m, 'a POST that reached a replica is never re-sent')
  t.match(all, /limit_req_status 429;/)
  t.match(all, /least_conn;/)
  t.notMatch(all, /\$http_authorization/, 'the Authorization header is never logged')

  const { stderr } = await execFileP('nginx', ['-t', '-p', dir + '/', '-c', join(dir, 'conf', 'nginx.conf'), '-e', 'stderr'])
  t.match(stderr, /test is successful/)
  t.notMatch(stderr, /\[warn\]/, 'no warnings')
})

t.test('certs.sh: CA and server certificate with the SANs, idempotent', async (t) => {
  const dir = join(work, 'certs')
  certs(dir, 'gw.example.com')
  const san = openssl('x509', '-in', join(dir, 'server.crt'), '-noout', '-ext', 'subjectAltName')
  for (const name of ['DNS:gw.example.com', 'DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1']) t.match(san, name)
  t.match(openssl('verify', '-CAfile', join(dir, 'ca.crt'), join(dir, 'server.crt')), /OK/)
  t.equal(statSync(join(dir, 'ca.key')).mode & 0o777, 0o600, 'the CA key is private')
  const fingerprint = (f: string): string => openssl('x509', '-in', join(dir, f), '-noout', '-fingerprint', '-sha256')

  const before = fingerprint('server.crt')
  t.match(certs(dir, 'gw.example.com'), /nothing to do/)
  t.equal(fingerprint('server.crt'), before, 'a second run keeps the certificate')

  const ca = fingerprint('ca.crt')
  certs(dir, 'other.example.com')
  t.not(fingerprint('server.crt'), before, 'a new SERVER_NAME reissues the server certificate')
  t.equal(fingerprint('ca.crt'), ca, '...with the same CA, which clients already trust')
  t.match(openssl('x509', '-in', join(dir, 'server.crt'), '-noout', '-ext', 'subjectAltName'), 'DNS:other.example.com')
})

t.test('up.sh --prepare-only: .env with generated secrets, the mock upstream, certificates', async (t) => {
  const dir = join(work, 'up')
  mkdirSync(join(dir, 'scripts'), { recursive: true })
  for (const f of ['scripts/up.sh', 'scripts/certs.sh', '.env.example', 'docker-compose.yml', 'docker-compose.mock.yml']) copyFileSync(join(repoDir, f), join(dir, f))
  const run = (): string => execFileSync('sh', [join(dir, 'scripts', 'up.sh'), '--prepare-only'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CERTS_OWNER: '' },
    encoding: 'utf8'
  })
  const out = run()
  const env = readFileSync(join(dir, '.env'), 'utf8')
  const value = (name: string): string => [...env.matchAll(new RegExp(`^${name}=(.*)$`, 'gm'))].pop()?.[1] ?? ''
  t.equal(statSync(join(dir, '.env')).mode & 0o777, 0o600, '.env is private')
  t.match(value('GRAFANA_ADMIN_PASSWORD'), /^[0-9a-f]{32}$/)
  t.match(value('REDIS_PASSWORD'), /^[0-9a-f]{48}$/)
  const key = /(sk-gw-[A-Za-z0-9_-]{32})/.exec(out)?.[1] ?? ''
  t.ok(key, 'the generated key is printed')
  t.equal(value('GATEWAY_KEYS'), `default:${createHash('sha256').update(key).digest('hex')}`, 'only its hash is stored')
  t.notOk(env.includes(key), 'the plaintext key is not in .env')
  t.equal(value('UPSTREAM'), 'mock', 'no upstream key: the bundled mock, written down once')
  t.equal(value('UPSTREAM_BASE_URL'), 'https://api.holysheep.ai/v1', 'the URL is not rewritten')
  t.equal(value('COMPOSE_FILE'), 'docker-compose.yml:docker-compose.mock.yml')
  t.match(out, /upstream: MOCK/, 'and it says so')
  t.ok(statSync(join(dir, 'certs', 'server.crt')).size > 0, 'certificates made')

  const again = run()
  t.equal(readFileSync(join(dir, '.env'), 'utf8'), env, 'a second run changes nothing')
  t.notMatch(again, /sk-gw-/, 'and prints no key')

  writeFileSync(join(dir, '.env'), env.replace(/^UPSTREAM_API_KEY=$/m, 'UPSTREAM_API_KEY=sk-real').replace(/^UPSTREAM=mock$/m, 'UPSTREAM=relay'))
  t.match(run(), /upstream: relay https:\/\/api\.holysheep\.ai\/v1/, 'UPSTREAM=relay goes live')
  t.equal(readFileSync(join(dir, '.env'), 'utf8').match(/^COMPOSE_FILE=(.*)$/m)?.[1], 'docker-compose.yml', 'without the mock')
})

t.test('the native launcher keeps the Prometheus rules and points the gateway job at loopback', async (t) => {
  const dir = join(work, 'prometheus')
  mkdirSync(dir, { recursive: true })
  const source = readFileSync(join(repoDir, 'prometheus', 'prometheus.yml'), 'utf8')
  const { text } = nativePrometheusConfig(source, { gatewayTargets: ['127.0.0.1:19091', '127.0.0.1:19092'], selfTarget: '127.0.0.1:19090', scrapeInterval: '2s' })
  writeFileSync(join(dir, 'prometheus.yml'), text)
  execFileSync('ln', ['-s', join(repoDir, 'prometheus', 'rules'), join(dir, 'rules')])
  const config = parse(text) as { rule_files?: string[], scrape_configs: Array<{ job_name: string, static_configs?: Array<{ targets: string[] }>, dns_sd_configs?: unknown }> }
  const job = config.scrape_configs.find((j) => j.job_name === 'llm-gateway')
  t.same(job?.static_configs?.[0]?.targets, ['127.0.0.1:19091', '127.0.0.1:19092'])
  t.equal(job?.dns_sd_configs, undefined, 'no DNS discovery of compose names')
  t.ok((config.rule_files ?? []).length > 0, 'rule files kept')
  const { stdout } = await execFileP('promtool', ['check', 'config', join(dir, 'prometheus.yml')])
  t.match(stdout, /SUCCESS/)
})
