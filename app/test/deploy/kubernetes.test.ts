// deploy/kubernetes rendered the way `kubectl kustomize` renders it (resources, namespace and
// images: the only kustomization fields the manifests use, and an unknown field fails here), every
// object validated against the Kubernetes schemas of the kubernetes-models package, then the
// invariants the gateway needs: self-only readiness, a drain that fits the grace period, hardening,
// scraping per pod, and an Ingress that behaves like the compose edge.
import t from 'tap'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { repoDir } from '../support/procs.js'
import { envExample } from './support/edge.js'

// A loosely typed Kubernetes object: the schema check below is what vouches for its shape.
interface K8sObject { apiVersion: string, kind: string, metadata: { name: string, namespace?: string, labels?: Record<string, string>, annotations?: Record<string, string> }, [k: string]: unknown }
type Any = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any -- manifests are read as untyped YAML and validated by schema

const root = join(repoDir, 'deploy', 'kubernetes')
const KNOWN_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'images'])
const CLUSTER_SCOPED = new Set(['Namespace'])

function readObjects (file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as K8sObject).filter((o) => o !== null)
}

/** A kustomization directory rendered: its resources in order, then its namespace and images. */
function kustomize (dir: string): K8sObject[] {
  const k = readObjects(join(dir, 'kustomization.yaml'))[0] as unknown as { resources?: string[], namespace?: string, images?: Array<{ name: string, newName?: string, newTag?: string }> }
  for (const key of Object.keys(k)) if (!KNOWN_FIELDS.has(key)) throw new Error(`${dir}/kustomization.yaml: field ${key} is not rendered by this test`)
  const out: K8sObject[] = []
  for (const r of k.resources ?? []) {
    const path = join(dir, r)
    out.push(...(statSync(path).isDirectory() ? kustomize(path) : readObjects(path)))
  }
  for (const o of out) {
    if (k.namespace !== undefined && !CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace
    for (const c of [...podSpec(o)?.containers ?? [], ...podSpec(o)?.initContainers ?? []] as Any[]) {
      for (const img of k.images ?? []) {
        const [name, tag] = String(c.image).split(':')
        if (name === img.name) c.image = `${img.newName ?? name}:${img.newTag ?? tag ?? 'latest'}`
      }
    }
  }
  return out
}

function podSpec (o: K8sObject): Any | undefined {
  return (o.spec as Any | undefined)?.template?.spec as Any | undefined
}

/** The kubernetes-models class for an object's apiVersion and kind. */
async function validate (o: K8sObject): Promise<void> {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : [undefined, o.apiVersion]
  const mod = await import(`kubernetes-models/${group === undefined ? '' : `${group}/`}${version ?? ''}`) as Record<string, new (data: unknown) => { validate: () => void }>
  const Model = mod[o.kind]
  if (Model === undefined) throw new Error(`no schema for ${o.apiVersion} ${o.kind}`)
  new Model(o).validate()
}

const overlay = kustomize(join(root, 'overlays', 'production'))
const base = kustomize(join(root, 'base'))
const find = <T = Any>(kind: string, name: string, list = overlay): T => {
  const o = list.find((x) => x.kind === kind && x.metadata.name === name)
  if (o === undefined) throw new Error(`${kind}/${name} missing`)
  return o as unknown as T
}
const example = envExample()

t.test('every rendered object (and the Secret example) is valid for its Kubernetes schema', async (t) => {
  t.ok(overlay.length >= 10, `${overlay.length} objects`)
  for (const o of [...overlay, ...readObjects(join(root, 'secret.example.yaml'))]) {
    await t.resolves(validate(o), `${o.kind}/${o.metadata.name}`)
  }
  const kinds = new Set(overlay.map((o) => o.kind))
  for (const kind of ['Namespace', 'Deployment', 'Service', 'PodDisruptionBudget', 'HorizontalPodAutoscaler', 'Ingress', 'StatefulSet', 'ConfigMap', 'NetworkPolicy']) t.ok(kinds.has(kind), `has a ${kind}`)
  for (const o of overlay) if (o.kind !== 'Namespace') t.equal(o.metadata.namespace, 'llm-gateway', `${o.kind}/${o.metadata.name} in the namespace`)
  t.notOk(overlay.some((o) => o.kind === 'Secret'), 'no Secret with values is applied from git')
})

t.test('the gateway Deployment: same image, probes, drain, hardening, resources, scraping', async (t) => {
  const d = find('Deployment', 'llm-gateway')
  const pod = d.spec.template.spec
  const c = pod.containers[0]
  t.equal(d.spec.replicas, 3)
  t.equal(find('Deployment', 'llm-gateway', base).spec.template.spec.containers[0].image, 'llm-relay-gateway', 'the compose image name in the base')
  t.match(c.image, /^registry\.example\.com\/llm-relay-gateway:/, 'the overlay points at a registry')
  t.equal(c.readinessProbe.httpGet.path, '/readyz', 'readiness: the pod itself (not ?deps=1)')
  t.equal(c.livenessProbe.httpGet.path, '/healthz')
  const config = find('ConfigMap', 'llm-gateway-config').data as Record<string, string>
  const port = Number(config.PORT)
  const http = c.ports.find((p: Any) => p.name === 'http')
  t.equal(http.containerPort, port, 'the probes\' port is PORT')

  const preStop = Number(c.lifecycle.preStop.exec.command[1])
  const drain = Number(config.SHUTDOWN_DRAIN_MS) / 1000
  const grace = Number(config.SHUTDOWN_GRACE_MS) / 1000
  t.ok(preStop > 0 && drain > 0 && grace > 0, `preStop ${preStop} s, drain ${drain} s, grace ${grace} s`)
  // The gateway ends itself 10 s after drain + grace at the latest (close-with-grace in server.ts).
  t.ok(pod.terminationGracePeriodSeconds >= preStop + drain + grace + 10, `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} covers preStop + drain + grace + 10 s`)
  t.ok(drain > 5, 'the drain outlasts the ingress controller\'s idle upstream keep-alive (5 s, see the Ingress notes)')

  t.equal(pod.securityContext.runAsNonRoot, true)
  t.equal(pod.securityContext.runAsUser, 1000, 'the image\'s node user')
  t.equal(c.securityContext.readOnlyRootFilesystem, true)
  t.equal(c.securityContext.allowPrivilegeEscalation, false)
  t.same(c.securityContext.capabilities.drop, ['ALL'])
  t.ok(c.volumeMounts.some((m: Any) => m.mountPath === '/tmp'), 'a writable /tmp')
  t.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.cpu && c.resources.limits.memory, 'requests and limits')

  const ann = d.spec.template.metadata.annotations
  t.equal(ann['prometheus.io/scrape'], 'true')
  t.equal(ann['prometheus.io/port'], config.METRICS_PORT, 'scraped on METRICS_PORT')
  t.equal(ann['prometheus.io/path'], '/metrics')

  const secretNames = c.env.filter((e: Any) => e.valueFrom?.secretKeyRef !== undefined).map((e: Any) => e.name).sort()
  t.same(secretNames, ['GATEWAY_KEYS', 'REDIS_URL', 'UPSTREAM_API_KEY'], 'secrets come from the Secret')
  const secretKeys = Object.keys(readObjects(join(root, 'secret.example.yaml'))[0]?.stringData as object)
  for (const name of secretNames) t.ok(secretKeys.includes(name), `secret.example.yaml has ${name}`)
  for (const key of Object.keys(config)) {
    t.ok(example.has(key) || new RegExp(`^# ${key}=`, 'm').test(readFileSync(join(repoDir, '.env.example'), 'utf8')), `ConfigMap ${key} is a documented setting`)
    t.notMatch(key, /KEY|PASSWORD|TOKEN/, `ConfigMap ${key} is not a secret`)
  }
})

t.test('PDB, HPA and Services select the gateway pods', async (t) => {
  const d = find('Deployment', 'llm-gateway')
  const labels = d.spec.template.metadata.labels as Record<string, string>
  const selects = (sel: Record<string, string>): boolean => Object.entries(sel).every(([k, v]) => labels[k] === v)
  const pdb = find('PodDisruptionBudget', 'llm-gateway')
  t.ok(selects(pdb.spec.selector.matchLabels), 'PDB')
  t.ok(pdb.spec.minAvailable >= 1 && pdb.spec.minAvailable < d.spec.replicas, 'PDB lets one pod go at a time')
  const hpa = find('HorizontalPodAutoscaler', 'llm-gateway')
  t.same(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'llm-gateway' })
  t.equal(hpa.spec.minReplicas, d.spec.replicas)
  t.ok(hpa.spec.maxReplicas > hpa.spec.minReplicas)
  const api = find('Service', 'llm-gateway')
  t.ok(selects(api.spec.selector), 'API Service')
  t.same(api.spec.ports.map((p: Any) => p.targetPort), ['http'])
  const metrics = find('Service', 'llm-gateway-metrics')
  t.ok(selects(metrics.spec.selector), 'metrics Service')
  t.equal(metrics.spec.clusterIP, 'None', 'headless: each pod scraped on its own')
  t.same(metrics.spec.ports.map((p: Any) => p.targetPort), ['metrics'])
})

t.test('Redis is the one shared state, its password a file from the Secret', async (t) => {
  const redis = find('StatefulSet', 'llm-gateway-redis')
  const c = redis.spec.template.spec.containers[0]
  t.notMatch(JSON.stringify(c.args ?? []), /requirepass|PASSWORD/, 'not an argument')
  t.equal(c.env, undefined, 'not an environment variable')
  t.match(c.command.join(' '), /--appendonly yes[\s\S]*noeviction/, 'AOF, noeviction like compose')
  t.ok(redis.spec.volumeClaimTemplates.length === 1, 'a persistent volume')
  t.equal(c.securityContext.readOnlyRootFilesystem, true)
  const svc = find('Service', 'llm-gateway-redis')
  const secretUrl = String((readObjects(join(root, 'secret.example.yaml'))[0]?.stringData as Record<string, string> | undefined)?.REDIS_URL)
  t.match(secretUrl, new RegExp(`@${svc.metadata.name}:${svc.spec.ports[0].port}$`), 'REDIS_URL names the Redis Service')
})

t.test('the Ingress behaves like the compose edge', async (t) => {
  const ing = find('Ingress', 'llm-gateway')
  const a = ing.metadata.annotations as Record<string, string>
  const p = 'nginx.ingress.kubernetes.io/'
  t.ok(ing.spec.tls[0].secretName && ing.spec.tls[0].hosts.length > 0, 'TLS')
  t.equal(a[`${p}proxy-buffering`], 'off', 'SSE unbuffered')
  t.equal(a[`${p}proxy-request-buffering`], 'off')
  t.equal(a[`${p}proxy-next-upstream`], 'error timeout', 'a POST that reached a pod is never re-sent')
  const rate = /^(\d+)r\/s$/.exec(example.get('NGINX_LIMIT_REQ_RATE') ?? '')?.[1]
  t.equal(a[`${p}limit-rps`], rate, 'per-IP rate = NGINX_LIMIT_REQ_RATE')
  t.equal(Number(a[`${p}limit-rps`]) * Number(a[`${p}limit-burst-multiplier`]), Number(example.get('NGINX_LIMIT_REQ_BURST')), 'burst = NGINX_LIMIT_REQ_BURST')
  t.equal(a[`${p}limit-connections`], example.get('NGINX_LIMIT_CONN'), 'concurrency = NGINX_LIMIT_CONN')
  const size = /^(\d+)m$/.exec(a[`${p}proxy-body-size`] ?? '')?.[1]
  t.equal(Number(size) * 1024 * 1024, Number(example.get('BODY_LIMIT_BYTES')), 'body cap = BODY_LIMIT_BYTES')
  t.equal(a[`${p}proxy-read-timeout`], String(parseInt(example.get('NGINX_PROXY_READ_TIMEOUT') ?? '', 10)))
  t.equal(a[`${p}enable-cors`], 'true')
  t.equal(a[`${p}cors-allow-methods`], 'GET, POST, OPTIONS')
  const edge = readFileSync(join(repoDir, 'nginx', 'templates', 'nginx.conf.template'), 'utf8')
  const exposed = /map \$cors_allow_origin \$cors_expose_headers \{[\s\S]*?default "([^"]+)";/.exec(edge)?.[1]
  t.equal(a[`${p}cors-expose-headers`], exposed, 'the same exposed headers as the edge')
  const paths = ing.spec.rules.flatMap((r: Any) => r.http.paths.map((x: Any) => x.path)).sort()
  t.same(paths, ['/healthz', '/readyz', '/v1'], 'only the API and health; /metrics never routed')
  for (const r of ing.spec.rules) for (const x of r.http.paths) t.same(x.backend.service, { name: 'llm-gateway', port: { name: 'http' } })
})

t.test('the README says why Kustomize and how to apply', async (t) => {
  const readme = join(root, 'README.md')
  t.ok(existsSync(readme))
  const text = readFileSync(readme, 'utf8')
  t.match(text, /Kustomize/)
  t.match(text, /kubectl apply -k deploy\/kubernetes\/overlays\/production/)
  t.ok(existsSync(join(dirname(readme), 'secret.example.yaml')))
})
