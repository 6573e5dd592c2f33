// docker-compose.yml, .env.example and the Dockerfile, checked without Docker: structure,
// hardening, and that every setting the gateway and the nginx templates read is wired through.
import t from 'tap'
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { CONFIG_VARS } from '../../src/config-vars.js'
import { appDir, repoDir } from '../support/procs.js'

interface Service {
  image?: string
  build?: unknown
  user?: string
  read_only?: boolean
  cap_drop?: string[]
  cap_add?: string[]
  security_opt?: string[]
  restart?: string
  profiles?: string[]
  ports?: Array<string | { published?: string | number, host_ip?: string }>
  environment?: Record<string, string | number | boolean | null>
  volumes?: Array<string | { type?: string, source?: string, target?: string }>
  depends_on?: string[] | Record<string, { condition?: string, required?: boolean }>
  healthcheck?: { test?: string | string[], disable?: boolean }
  deploy?: { replicas?: number, resources?: { limits?: { cpus?: string, memory?: string } } }
  networks?: string[] | Record<string, unknown>
  command?: string | string[]
  stop_grace_period?: string
  stop_signal?: string
  entrypoint?: string | string[]
  secrets?: Array<string | { source: string, mode?: number }>
}
interface Compose {
  services: Record<string, Service>
  volumes?: Record<string, unknown>
  networks?: Record<string, unknown>
  secrets?: Record<string, { environment?: string, file?: string }>
}

const composeText = readFileSync(join(repoDir, 'docker-compose.yml'), 'utf8')
const compose = parse(composeText, { merge: true }) as Compose
const services = compose.services
const envExample = readFileSync(join(repoDir, '.env.example'), 'utf8')
// One-shot jobs run on demand (`docker compose run`), where a healthcheck has nothing to probe.
const ONE_SHOT = new Set(['certbot'])
// certbot's own files are root-only; it runs as root with three capabilities, never as a server.
const ROOT_OK = new Set(['certbot-renew'])
const mockCompose = parse(readFileSync(join(repoDir, 'docker-compose.mock.yml'), 'utf8'), { merge: true }) as Compose

/** Names documented in .env.example, as `NAME=` or `# NAME=`. */
const documented = new Set([...envExample.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]))

t.test('the file parses and names the expected services', async (t) => {
  t.same(Object.keys(services).sort(), ['certbot', 'certbot-renew', 'gateway', 'grafana', 'nginx', 'prometheus', 'redis'])
  t.same(Object.keys(mockCompose.services).sort(), ['gateway', 'mock-upstream'], 'the mock lives in docker-compose.mock.yml')
  t.equal(services.gateway?.deploy?.replicas, 3, 'three gateway replicas from one definition')
})

t.test('every depends_on target exists and waits for health', async (t) => {
  for (const [name, svc] of Object.entries(services)) {
    const deps = svc.depends_on ?? []
    const entries = Array.isArray(deps) ? deps.map((d) => [d, {}] as const) : Object.entries(deps)
    for (const [target, spec] of entries) {
      t.ok(services[target] !== undefined, `${name} depends on ${target}, which exists`)
      t.equal((spec as { condition?: string }).condition, 'service_healthy', `${name} waits for ${target} to be healthy`)
    }
  }
  t.ok(services.nginx?.depends_on !== undefined && 'gateway' in (services.nginx.depends_on as object), 'nginx waits for the gateways')
  t.ok(services.gateway?.depends_on !== undefined && 'redis' in (services.gateway.depends_on as object), 'gateways wait for Redis')
})

t.test('healthchecks, hardening, pinned images and limits on every service', async (t) => {
  for (const [name, svc] of Object.entries(services)) {
    if (ONE_SHOT.has(name)) {
      t.ok(svc.profiles?.includes(name), `${name} only runs on demand (profile)`)
    } else {
      const test = svc.healthcheck?.test
      t.ok(Array.isArray(test) && test.length > 1 && svc.healthcheck?.disable !== true, `${name} has a healthcheck`)
      t.notMatch(JSON.stringify(test), /curl/, `${name}'s healthcheck does not need curl`)
      t.equal(svc.restart, 'unless-stopped', `${name} restarts`)
      if (ROOT_OK.has(name)) t.same(svc.cap_add, ['CHOWN', 'DAC_OVERRIDE', 'FOWNER'], `${name}: root with three capabilities only`)
      else t.match(String(svc.user), /^[1-9]\d*(:\d+)?$/, `${name} runs as a non-root user`)
    }
    t.equal(svc.read_only, true, `${name} has a read-only root filesystem`)
    t.same(svc.cap_drop, ['ALL'], `${name} drops every capability`)
    t.ok(svc.security_opt?.includes('no-new-privileges:true'), `${name} forbids privilege escalation`)
    t.ok(svc.deploy?.resources?.limits?.memory !== undefined && svc.deploy.resources.limits.cpus !== undefined, `${name} has CPU and memory limits`)
    const image = svc.image ?? ''
    if (svc.build === undefined) {
      t.match(image, /^[\w./-]+:v?\d+(\.\d+)+(-alpine)?$/, `${name}'s image is pinned to a version (${image})`)
    }
  }
  t.match(services.nginx?.image ?? '', /^nginx:1\.\d*[02468]\.\d+-alpine$/, 'nginx: a stable (even minor) alpine release')
  t.match(services.redis?.image ?? '', /^redis:[78]\.[\d.]+-alpine$/)
  t.match(services.prometheus?.image ?? '', /^prom\/prometheus:v/)
  t.match(services.grafana?.image ?? '', /^grafana\/grafana:\d/)
  t.same(services.nginx?.cap_add ?? [], [], 'nginx needs no capability (unprivileged, high ports)')
})

t.test('only nginx publishes ports; Grafana only on the host loopback', async (t) => {
  for (const [name, svc] of Object.entries(services)) {
    const ports = (svc.ports ?? []).map((p) => typeof p === 'string' ? p : `${p.host_ip ?? ''}:${p.published ?? ''}`)
    if (name === 'nginx') {
      t.same(ports.map((p) => p.replace(/\$\{[A-Z_]+:-(\d+)\}/g, '$1')), ['80:8080', '443:8443'], 'nginx publishes 80 and 443 only')
    } else if (name === 'grafana') {
      t.ok(ports.length === 1 && ports[0]?.startsWith('127.0.0.1:'), 'Grafana on 127.0.0.1 only')
    } else {
      t.same(ports, [], `${name} publishes nothing`)
    }
  }
  t.notMatch(composeText, /9091:|:9091"/, 'the metrics port is never published')
})

t.test('named volumes are declared and used; bind mounts exist in the repository', async (t) => {
  const declared = new Set(Object.keys(compose.volumes ?? {}))
  const used = new Set<string>()
  for (const [name, svc] of Object.entries(services)) {
    for (const v of svc.volumes ?? []) {
      const source = typeof v === 'string' ? v.split(':')[0] ?? '' : v.source ?? ''
      if (source.startsWith('./')) {
        // certs/ is generated by scripts/certs.sh (and certbot).
        if (!source.startsWith('./certs')) t.ok(existsSync(join(repoDir, source)), `${name}: ${source} exists`)
      } else {
        used.add(source)
        t.ok(declared.has(source), `${name}: volume ${source} is declared`)
      }
    }
  }
  for (const v of ['redis-data', 'prometheus-data', 'grafana-data']) t.ok(used.has(v), `${v} is used`)
  t.same([...declared].filter((v) => !used.has(v)), [], 'no unused volume')
  const mounts = (name: string): string => JSON.stringify(services[name]?.volumes ?? [])
  t.match(mounts('prometheus'), /\.\/prometheus\/prometheus\.yml:\/etc\/prometheus\/prometheus\.yml/)
  t.match(mounts('prometheus'), /\.\/prometheus\/rules:\/etc\/prometheus\/rules/)
  t.match(mounts('grafana'), /\.\/grafana\/provisioning\/datasources:/)
  t.match(mounts('grafana'), /\.\/grafana\/dashboards:/)
  t.match(mounts('redis'), /redis-data:\/data/)
  t.match(JSON.stringify(services.redis?.command), /--appendonly","yes"/, 'Redis persists with AOF')
})

t.test('networks: Redis and Prometheus have no route out', async (t) => {
  const nets = compose.networks ?? {}
  t.same((nets.backend as { internal?: boolean } | undefined)?.internal, true, 'backend network is internal')
  for (const name of ['redis', 'prometheus']) t.same(services[name]?.networks, ['backend'], `${name} only on backend`)
  t.same(mockCompose.services['mock-upstream']?.networks, ['backend'], 'mock-upstream only on backend')
})

t.test('secrets come from .env: no defaults for passwords', async (t) => {
  t.match(JSON.stringify(services.grafana?.environment), /\$\{GRAFANA_ADMIN_PASSWORD:\?/, 'Grafana password required')
  t.match(envExample, /^GRAFANA_ADMIN_PASSWORD=$/m, '.env.example ships no Grafana password')
  t.match(envExample, /^REDIS_PASSWORD=$/m, '.env.example ships no Redis password')
  t.match(String(services.gateway?.environment?.GATEWAY_KEYS), /^\$\{GATEWAY_KEYS:\?/, 'gateway keys required')
})

t.test('every ${VAR} compose interpolates is documented in .env.example', async (t) => {
  const names = new Set([...composeText.matchAll(/\$\{([A-Z][A-Z0-9_]*)(?::?[-?][^}]*)?\}/g)].map((m) => m[1] ?? ''))
  for (const name of names) t.ok(documented.has(name), `${name} is in .env.example`)
})

t.test('every setting the gateway reads is passed by compose and documented', async (t) => {
  const env = services.gateway?.environment ?? {}
  for (const name of Object.keys(CONFIG_VARS)) {
    t.ok(name in env, `compose passes ${name} to the gateways`)
    t.ok(documented.has(name), `.env.example documents ${name}`)
  }
  t.equal(String(env.BODY_LIMIT_BYTES), String(services.nginx?.environment?.NGINX_CLIENT_MAX_BODY_SIZE), 'one body limit for nginx and the gateways')
  t.equal(String(env.REDIS_URL), 'redis://redis:6379', 'no password in the gateways\' environment')
  t.equal(String(env.REDIS_PASSWORD_FILE), '/run/secrets/redis-password', 'the gateways read it from the secret')
})

t.test('a stopping replica outlasts nginx\'s idle connections to it, and Docker waits for it', async (t) => {
  const def = (v: unknown): number => Number(/:-(\d+)/.exec(String(v))?.[1] ?? NaN)
  const drainMs = def(services.gateway?.environment?.SHUTDOWN_DRAIN_MS)
  const keepaliveS = def(services.nginx?.environment?.NGINX_UPSTREAM_KEEPALIVE_TIMEOUT)
  t.ok(drainMs > keepaliveS * 1000, `SHUTDOWN_DRAIN_MS ${drainMs} ms > nginx upstream keepalive_timeout ${keepaliveS} s`)
  const graceMs = 25_000 // the gateway's built-in SHUTDOWN_GRACE_MS
  const stopS = Number(/^(\d+)s$/.exec(services.gateway?.stop_grace_period ?? '')?.[1] ?? NaN)
  t.ok(stopS * 1000 > drainMs + graceMs, `stop_grace_period ${stopS} s covers drain + grace`)
})

t.test('nginx gets every template placeholder from its environment', async (t) => {
  const templates: string[] = []
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name)
      if (statSync(path).isDirectory()) walk(path)
      else if (name.endsWith('.template')) templates.push(readFileSync(path, 'utf8'))
    }
  }
  walk(join(repoDir, 'nginx', 'templates'))
  const used = new Set(templates.flatMap((text) => [...text.matchAll(/\$\{(NGINX_[A-Z0-9_]+)\}/g)].map((m) => m[1] ?? '')))
  // Derived by nginx/entrypoint/15-llm-gateway.envsh from GATEWAY_UPSTREAMS, CORS_ORIGINS, NGINX_PUBLIC_HTTPS_PORT and the nginx version.
  const derived = new Set(['NGINX_UPSTREAM_SERVERS', 'NGINX_CORS_ORIGIN_MAP', 'NGINX_HTTPS_PORT_SUFFIX', 'NGINX_LISTEN_HTTP2', 'NGINX_HTTP2'])
  const env = services.nginx?.environment ?? {}
  for (const name of used) {
    if (!derived.has(name)) t.ok(name in env, `compose sets ${name}`)
  }
  for (const name of ['GATEWAY_UPSTREAMS', 'CORS_ORIGINS', 'NGINX_PUBLIC_HTTPS_PORT']) t.ok(name in env, `compose sets ${name} for the entrypoint helper`)
  t.equal(env.NGINX_ENVSUBST_FILTER, '^NGINX_', 'only NGINX_ variables are substituted')
  t.match(JSON.stringify(services.nginx?.volumes), /15-llm-gateway\.envsh:\/docker-entrypoint\.d\/15-llm-gateway\.envsh/)
  const mode = statSync(join(repoDir, 'nginx', 'entrypoint', '15-llm-gateway.envsh')).mode
  t.ok((mode & 0o111) !== 0, 'the entrypoint helper is executable (the image only sources executable .envsh files)')
  t.same(services.nginx?.command?.slice(0, 3), ['nginx', '-c', '/etc/nginx/conf.d/nginx.conf'], 'nginx runs the rendered main config')
})

t.test('the gateway Dockerfile: multi-stage, Node 24, production deps, non-root, healthcheck', async (t) => {
  const dockerfile = readFileSync(join(appDir, 'Dockerfile'), 'utf8')
  t.match(dockerfile, /ARG NODE_IMAGE=node:24-(alpine|slim)/)
  t.ok((dockerfile.match(/^FROM /gm) ?? []).length >= 2, 'multi-stage')
  t.match(dockerfile, /RUN npm ci --no-audit --no-fund\n/, 'full install for the build')
  t.match(dockerfile, /RUN npm run build/)
  t.match(dockerfile, /npm ci --omit=dev/, 'production dependencies only in the image')
  t.match(dockerfile, /^USER node$/m)
  t.match(dockerfile, /HEALTHCHECK[\s\S]*node", "-e"/, 'healthcheck with node, not curl')
  t.match(dockerfile, /^EXPOSE 8080 9091$/m)
  t.match(dockerfile, /^CMD \["node", "dist\/server\.js"\]$/m)
  t.match(dockerfile, /COPY package\.json models\.json/, 'the default models file is in the image')
  const ignore = readFileSync(join(appDir, '.dockerignore'), 'utf8').split('\n')
  for (const entry of ['node_modules', 'dist', '.env']) t.ok(ignore.includes(entry), `.dockerignore has ${entry}`)
})

t.test('nginx stops gracefully, for longer than worker_shutdown_timeout', async (t) => {
  const template = readFileSync(join(repoDir, 'nginx', 'templates', 'nginx.conf.template'), 'utf8')
  const workerShutdownS = Number(/^worker_shutdown_timeout (\d+)s;/m.exec(template)?.[1] ?? NaN)
  const stopS = Number(/^(\d+)s$/.exec(services.nginx?.stop_grace_period ?? '')?.[1] ?? NaN)
  t.ok(stopS > workerShutdownS, `stop_grace_period ${stopS} s > worker_shutdown_timeout ${workerShutdownS} s (Docker's default is 10 s)`)
  t.equal(services.nginx?.stop_signal, 'SIGQUIT', "nginx's graceful stop signal")
})

t.test('the Redis password is never on a command line or in an environment', async (t) => {
  const redis = services.redis
  t.notMatch(JSON.stringify(redis?.command), /REDIS_PASSWORD|requirepass/, 'not in the command')
  t.notMatch(JSON.stringify(redis?.environment ?? {}), /REDIS_PASSWORD/, 'not in the environment')
  t.notMatch(JSON.stringify(redis?.healthcheck), /REDIS_PASSWORD/, 'not in the healthcheck')
  t.match(JSON.stringify(redis?.entrypoint), /\/run\/secrets\/redis-password/, 'read from the secret file')
  t.same(compose.secrets?.['redis-password'], { environment: 'REDIS_PASSWORD' }, 'the secret comes from .env')
  t.ok(redis?.secrets?.some((s) => typeof s === 'object' && s.source === 'redis-password'), 'granted to redis')
  t.ok(services.gateway?.secrets?.some((s) => typeof s === 'object' && s.source === 'redis-password'), 'and to the gateways, which read it through REDIS_PASSWORD_FILE')
  t.notMatch(JSON.stringify(services.gateway?.environment ?? {}), /REDIS_PASSWORD(?!_FILE)/, 'not in the gateways\' environment')
  for (const [name, svc] of Object.entries(services)) {
    if (name !== 'redis' && name !== 'gateway') t.equal(svc.secrets, undefined, `${name} has no access to it`)
  }
})

t.test('Grafana: only the provisioned kinds are mounted, the image keeps plugins/ and alerting/', async (t) => {
  const mounts = (services.grafana?.volumes ?? []).map((v) => typeof v === 'string' ? v.split(':')[1] ?? '' : v.target ?? '')
  t.notOk(mounts.includes('/etc/grafana/provisioning'), 'the whole provisioning directory is not hidden by a mount')
  for (const kind of ['datasources', 'dashboards']) {
    t.ok(mounts.includes(`/etc/grafana/provisioning/${kind}`), `${kind} mounted`)
    t.ok(existsSync(join(repoDir, 'grafana', 'provisioning', kind)), `grafana/provisioning/${kind} exists`)
  }
})

t.test('restart: is what applies on one host (no deploy.restart_policy overriding it)', async (t) => {
  for (const [name, svc] of Object.entries(services)) {
    t.equal((svc.deploy as { restart_policy?: unknown } | undefined)?.restart_policy, undefined, `${name}`)
  }
})

t.test('the mock overlay: the gateways call the mock with its own key, the mock never sees the real one', async (t) => {
  const gw = mockCompose.services.gateway?.environment ?? {}
  const mock = mockCompose.services['mock-upstream']?.environment ?? {}
  t.equal(gw.UPSTREAM_BASE_URL, 'http://mock-upstream:8090/v1')
  t.equal(gw.UPSTREAM_API_KEY, mock.MOCK_API_KEY, 'the key the mock checks')
  t.notMatch(JSON.stringify(mockCompose.services['mock-upstream']), /UPSTREAM_API_KEY/, 'no real key in the mock')
})

t.test('Let\'s Encrypt renewal runs as a service and nginx reloads on new files', async (t) => {
  const renew = services['certbot-renew']
  t.same(renew?.profiles, ['letsencrypt'])
  t.equal(renew?.restart, 'unless-stopped')
  t.match(JSON.stringify(renew?.entrypoint), /certbot-renew\.sh/)
  t.match(JSON.stringify(renew?.volumes), /certbot-deploy-hook\.sh/)
  t.match(JSON.stringify(services.nginx?.volumes), /40-llm-gateway-cert-reload\.sh:\/docker-entrypoint\.d\//)
  const mode = statSync(join(repoDir, 'nginx', 'entrypoint', '40-llm-gateway-cert-reload.sh')).mode
  t.ok((mode & 0o111) !== 0, 'the watcher is executable (the image only runs executable .sh files)')
})
