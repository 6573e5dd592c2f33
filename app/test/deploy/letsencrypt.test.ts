// Let's Encrypt: issuance checks that the HTTP port is 80 and turns renewal on by itself, and the
// renewal path works end to end against a fake ACME step: scripts/certbot-renew.sh runs a fake
// `certbot renew` that issues a new certificate and runs the deploy hook, and the real nginx,
// watched by nginx/entrypoint/40-llm-gateway-cert-reload.sh, serves the new certificate without
// anyone's help. Regressions: `make certs-letsencrypt` never scheduled renewal (and the cron
// installer wrote an empty crontab), and issuance did not check the HTTP port.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect } from 'node:tls'
import { X509Certificate } from 'node:crypto'
import { freePorts, repoDir } from '../support/procs.js'
import { PATH, composeNginxEnv, localEdge, makeCerts, renderLikeImage, scratch, shells, startNginx } from './support/edge.js'
import { fakeHost } from './support/fake-host.js'

const work = scratch(t, 'llm-gateway-le-')

t.test('make certs-letsencrypt: port 80 checked, certificate installed, renewal service on', async (t) => {
  const host = fakeHost(join(work, 'issue'), ['scripts/certs-letsencrypt.sh', '.env.example'])
  copyFileSync(join(host.dir, '.env.example'), join(host.dir, '.env'))
  host.running(['nginx', 'gateway', 'redis'])

  host.setValue('HTTP_PORT', '8080')
  const wrongPort = host.run('scripts/certs-letsencrypt.sh', ['gw.example.com', 'ops@example.com'])
  t.equal(wrongPort.status, 1)
  t.match(wrongPort.err, /HTTP_PORT is 8080, but Let's Encrypt checks the challenge on port 80 only/)
  t.notOk(wrongPort.calls.some((c) => c.includes(' run ')), 'no certbot run')

  host.setValue('HTTP_PORT', '80')
  const r = host.run('scripts/certs-letsencrypt.sh', ['gw.example.com', 'ops@example.com'])
  t.equal(r.status, 0, r.err)
  const issue = r.calls.find((c) => c.includes('certonly'))
  t.match(issue ?? '', /^compose --profile certbot run --rm certbot certonly --webroot -w \/var\/www\/acme -d gw\.example\.com/)
  t.match(issue ?? '', /--deploy-hook sh \/opt\/llm-gateway\/certbot-deploy-hook\.sh$/)
  t.ok(r.calls.some((c) => /RENEWED_LINEAGE=\/etc\/letsencrypt\/live\/gw\.example\.com --entrypoint sh certbot \/opt\/llm-gateway\/certbot-deploy-hook\.sh$/.test(c)), 'an unchanged certificate is copied too')
  t.ok(r.calls.includes('compose up -d --wait nginx certbot-renew'), 'nginx recreated, renewal service started')
  t.equal(host.value('COMPOSE_PROFILES'), 'letsencrypt', 'renewal stays on for every later make up')
  t.equal(host.value('TLS_CERTIFICATE'), '/etc/nginx/certs/letsencrypt/gateway/fullchain.pem')
  t.equal(host.value('SERVER_NAME'), 'gw.example.com')
  t.match(r.out, /renewal is on/)

  const again = host.run('scripts/certs-letsencrypt.sh', ['gw.example.com', 'ops@example.com'])
  t.equal(again.status, 0)
  t.equal(host.value('COMPOSE_PROFILES'), 'letsencrypt', 'the profile is added once')

  host.running([])
  t.match(host.run('scripts/certs-letsencrypt.sh', ['gw.example.com', 'ops@example.com']).err, /nginx is not running/)

  const compose = readFileSync(join(repoDir, 'docker-compose.yml'), 'utf8')
  t.match(compose, /\.\/scripts\/certbot-deploy-hook\.sh:\/opt\/llm-gateway\/certbot-deploy-hook\.sh:ro/, 'the hook the script names is mounted')
})

/** The SHA-256 fingerprint of the certificate the server at `port` presents. */
async function servedFingerprint (port: number): Promise<string> {
  return await new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, servername: 'gw.example.com', rejectUnauthorized: false }, () => {
      const fp = s.getPeerX509Certificate()?.fingerprint256 ?? ''
      s.destroy()
      resolve(fp)
    })
    s.once('error', reject)
  })
}

/** A certbot lineage (live/<domain>/) from a fresh CA and server certificate. */
function issue (certsDir: string, lineage: string): string {
  makeCerts(certsDir)
  mkdirSync(lineage, { recursive: true })
  const crt = readFileSync(join(certsDir, 'server.crt'), 'utf8')
  const ca = readFileSync(join(certsDir, 'ca.crt'), 'utf8')
  writeFileSync(join(lineage, 'fullchain.pem'), crt + ca)
  writeFileSync(join(lineage, 'chain.pem'), ca)
  copyFileSync(join(certsDir, 'server.key'), join(lineage, 'privkey.pem'))
  return new X509Certificate(crt).fingerprint256
}

t.test('renewal: a renewed certificate is served by the running nginx without anyone\'s help', async (t) => {
  const dir = join(work, 'renew')
  const le = join(dir, 'letsencrypt')
  const lineage = join(le, 'live', 'gw.example.com')
  const first = issue(join(dir, 'ca-1'), lineage)
  const hook = join(repoDir, 'scripts', 'certbot-deploy-hook.sh')
  const hookRun = spawnSync('sh', [hook], { env: { PATH, LE_DIR: le, RENEWED_LINEAGE: lineage }, encoding: 'utf8' })
  t.equal(hookRun.status, 0, hookRun.stderr)

  const [http = 0, https = 0, status = 0] = await freePorts(3)
  const edgeDir = join(dir, 'edge')
  const env = localEdge(composeNginxEnv(), edgeDir, { http, https, status }, join(dir, 'ca-1'))
  Object.assign(env, {
    NGINX_SSL_CERTIFICATE: join(le, 'gateway', 'fullchain.pem'),
    NGINX_SSL_CERTIFICATE_KEY: join(le, 'gateway', 'privkey.pem'),
    NGINX_SSL_TRUSTED_CERTIFICATE: join(le, 'gateway', 'chain.pem')
  })
  const [shell = ['sh']] = shells()
  const rendered = renderLikeImage(shell, env, edgeDir)
  t.equal(rendered.status, 0, rendered.stderr)
  const nginx = await startNginx(rendered.confDir, `http://127.0.0.1:${status}/nginx-health`)
  t.teardown(async () => { await nginx.stop() })
  t.equal(await servedFingerprint(https), first, 'nginx serves the first certificate')

  // The watcher, as the image's entrypoint starts it (it backgrounds itself and returns).
  // Its output goes to a file: the watcher keeps it open after the script returns.
  const pidFile = join(dir, 'watcher.pid')
  const watcherLog = join(dir, 'watcher.log')
  const logFd = openSync(watcherLog, 'a')
  const watcher = spawnSync('sh', [join(repoDir, 'nginx', 'entrypoint', '40-llm-gateway-cert-reload.sh')], {
    env: { ...env, PATH, NGINX_CERT_RELOAD_INTERVAL: '0.2', NGINX_CONF: join(rendered.confDir, 'nginx.conf'), NGINX_CERT_RELOAD_PIDFILE: pidFile },
    stdio: ['ignore', logFd, logFd]
  })
  closeSync(logFd)
  t.equal(watcher.status, 0, readFileSync(watcherLog, 'utf8'))
  const watcherPid = Number(readFileSync(pidFile, 'utf8'))
  t.teardown(() => { try { process.kill(watcherPid, 'SIGTERM') } catch {} })

  // The fake ACME step: `certbot renew` issues a new certificate into the lineage and runs the
  // deploy hook it was given, like certbot does for a certificate due for renewal.
  const bin = join(dir, 'bin')
  mkdirSync(bin, { recursive: true })
  const second = join(dir, 'ca-2')
  writeFileSync(join(bin, 'certbot'), `#!/bin/sh
echo "certbot $*" >> "${join(dir, 'certbot-calls')}"
[ "$1" = renew ] || exit 2
hook=''
while [ $# -gt 0 ]; do [ "$1" = --deploy-hook ] && hook=$2; shift; done
CERTS_DIR='${second}' CERTS_OWNER='' SERVER_NAME=gw.example.com sh '${join(repoDir, 'scripts', 'certs.sh')}' >/dev/null
cat '${second}/server.crt' '${second}/ca.crt' > '${lineage}/fullchain.pem'
cp '${second}/ca.crt' '${lineage}/chain.pem'
cp '${second}/server.key' '${lineage}/privkey.pem'
RENEWED_LINEAGE='${lineage}' sh -c "$hook"
`)
  chmodSync(join(bin, 'certbot'), 0o755)
  const heartbeat = join(dir, 'heartbeat')
  const renew = spawnSync('sh', [join(repoDir, 'scripts', 'certbot-renew.sh')], {
    env: { PATH: `${bin}:${PATH}`, RENEW_ONCE: '1', LE_DIR: le, DEPLOY_HOOK: hook, ACME_WEBROOT: join(dir, 'acme'), HEARTBEAT_FILE: heartbeat },
    encoding: 'utf8'
  })
  t.equal(renew.status, 0, renew.stderr)
  t.match(readFileSync(join(dir, 'certbot-calls'), 'utf8'), /^certbot renew --webroot -w \S+ --deploy-hook sh \S+certbot-deploy-hook\.sh/m)
  t.ok(existsSync(heartbeat), 'the renewal loop leaves its heartbeat (the service healthcheck)')
  const renewed = new X509Certificate(readFileSync(join(second, 'server.crt'))).fingerprint256
  t.not(renewed, first)

  let served = ''
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    served = await servedFingerprint(https)
    if (served === renewed) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.equal(served, renewed, 'nginx reloaded by itself and serves the renewed certificate')
  t.match(readFileSync(watcherLog, 'utf8'), /certificate files changed: nginx reloaded/)
})
