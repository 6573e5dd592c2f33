// The nginx config as the image renders it: compose's environment, the project's .envsh sourced by
// the image's entrypoint logic under dash and busybox ash, the envsubst step, then the real
// `nginx -t`. Regression: CORS_ORIGINS=* and repeated origins used to render a map nginx refused
// ("duplicate default map parameter", "conflicting parameter"), so nginx restarted in a loop.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { repoDir } from '../support/procs.js'
import { composeNginxEnv, localEdge, makeCerts, nginxTest, renderLikeImage, scratch, shells } from './support/edge.js'

const work = scratch(t, 'llm-gateway-render-')
const certs = join(work, 'certs')
makeCerts(certs)
const ports = { http: 18080, https: 18443, status: 18081 }

/** The origin map's body as rendered, one trimmed line each. */
function originMap (confDir: string): string[] {
  const conf = readFileSync(join(confDir, 'nginx.conf'), 'utf8')
  const body = /map \$http_origin \$cors_allow_origin \{\n([\s\S]*?)\n\s*\}/.exec(conf)?.[1] ?? ''
  return body.split('\n').map((l) => l.trim()).filter((l) => l !== '')
}

const CASES: Array<{ name: string, origins: string, map: string[] }> = [
  { name: 'empty', origins: '', map: ['default "";', '"" "";'] },
  { name: '*', origins: '*', map: ['default $http_origin;'] },
  { name: 'one origin', origins: 'https://app.example.com', map: ['default "";', '"https://app.example.com" $http_origin;', '"" "";'] },
  { name: 'several', origins: 'https://a.example, https://b.example:8443,http://localhost:3000', map: ['default "";', '"https://a.example" $http_origin;', '"https://b.example:8443" $http_origin;', '"http://localhost:3000" $http_origin;', '"" "";'] },
  { name: 'duplicates and trailing slashes', origins: 'https://a.example,https://a.example/,HTTPS://A.example', map: ['default "";', '"https://a.example" $http_origin;', '"" "";'] },
  { name: '* among origins', origins: 'https://a.example,*,https://a.example/', map: ['default $http_origin;'] }
]

for (const shell of shells()) {
  t.test(`CORS_ORIGINS rendered by the image's entrypoint under ${shell.join(' ')} pass nginx -t`, async (t) => {
    for (const c of CASES) {
      const dir = join(work, `${shell.join('-')}-${c.name.replace(/\W+/g, '-')}`)
      const env = localEdge(composeNginxEnv({ CORS_ORIGINS: c.origins }), dir, ports, certs)
      const r = renderLikeImage(shell, env, dir)
      t.equal(r.status, 0, `${c.name}: the entrypoint succeeds (${r.stderr.trim()})`)
      t.match(r.stdout, /Sourcing .*15-llm-gateway\.envsh/, `${c.name}: the image sources the helper`)
      t.same(originMap(r.confDir), c.map, `${c.name}: origin map`)
      const test = await nginxTest(r.confDir)
      t.ok(test.ok, `${c.name}: nginx -t accepts it`)
      t.notMatch(test.output, /\[(emerg|warn)\]/, `${c.name}: no error or warning: ${test.output.trim()}`)
    }
  })

  t.test(`bad settings stop the container with a message under ${shell.join(' ')}`, async (t) => {
    for (const [env, message] of [
      [{ CORS_ORIGINS: 'app.example.com' }, /must start with/],
      [{ CORS_ORIGINS: 'https://a.example/path' }, /has a path/],
      [{ CORS_ORIGINS: 'https://a.example";' }, /not an origin/],
      [{ GATEWAY_UPSTREAMS: 'gateway' }, /no :port/]
    ] as const) {
      const dir = join(work, `${shell.join('-')}-bad`)
      const r = renderLikeImage(shell, { ...localEdge(composeNginxEnv(), dir, ports, certs), ...env }, dir)
      t.not(r.status, 0, `${JSON.stringify(env)}: the entrypoint fails`)
      t.match(r.stderr, message)
      t.notMatch(r.stdout, /Configuration complete/, 'and nginx would not start')
    }
  })
}

t.test('HTTP/2 syntax follows the nginx version: `http2 on;` from 1.25.1, the listen parameter before', async (t) => {
  const [shell = ['sh']] = shells()
  // The test machine's nginx (Debian 12: 1.22) is on PATH: the old form, accepted without warning.
  const dir = join(work, 'h2-local')
  const local = renderLikeImage(shell, localEdge(composeNginxEnv(), dir, ports, certs), dir)
  const gateway = readFileSync(join(local.confDir, 'gateway.conf'), 'utf8')
  t.match(gateway, /listen 127\.0\.0\.1:18443 ssl http2 default_server;/)
  t.notMatch(gateway, /^\s*http2 on;/m)
  t.notMatch((await nginxTest(local.confDir)).output, /\[warn\]/)

  // The image's nginx (no nginx binary here: the image's NGINX_VERSION is what the helper reads).
  const compose = parse(readFileSync(join(repoDir, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: { nginx: { image: string } } }
  const imageVersion = /^nginx:(\d+\.\d+\.\d+)/.exec(compose.services.nginx.image)?.[1] ?? ''
  t.ok(imageVersion, `the pinned image's version (${imageVersion})`)
  const imageDir = join(work, 'h2-image')
  const noNginxPath = '/usr/bin:/bin'
  const image = renderLikeImage(shell, { ...localEdge(composeNginxEnv(), imageDir, ports, certs), NGINX_VERSION: imageVersion, PATH: noNginxPath }, imageDir)
  t.equal(image.status, 0, image.stderr)
  const imageGateway = readFileSync(join(image.confDir, 'gateway.conf'), 'utf8')
  t.match(imageGateway, /listen 127\.0\.0\.1:18443 ssl default_server;\n\s*http2 on;/, `nginx ${imageVersion}: http2 on;`)
  for (const [version, modern] of [['1.25.0', false], ['1.25.1', true], ['1.24.9', false], ['1.30.0', true], ['2.0.0', true]] as const) {
    const d = join(work, `h2-${version}`)
    const r = renderLikeImage(shell, { ...localEdge(composeNginxEnv(), d, ports, certs), NGINX_VERSION: version, PATH: noNginxPath }, d)
    t.equal(/^\s*http2 on;/m.test(readFileSync(join(r.confDir, 'gateway.conf'), 'utf8')), modern, `nginx ${version}`)
  }
})
