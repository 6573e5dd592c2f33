// The nginx edge as the image builds it, for the deploy tests: compose's nginx environment, the
// templates rendered by the image's entrypoint logic under a real shell, `nginx -t`, a running
// nginx, and raw TLS sockets that send bytes no HTTP client library would.
import { execFile, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, copyFileSync, writeFileSync, rmSync } from 'node:fs'
import { connect } from 'node:tls'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { parse } from 'yaml'
import { repoDir, startProcess, waitForHttp, type Proc } from '../../support/procs.js'

const execFileP = promisify(execFile)
const here = join(repoDir, 'app', 'test', 'deploy', 'support')
export const envsh = join(repoDir, 'nginx', 'entrypoint', '15-llm-gateway.envsh')
/** Debian keeps nginx in /usr/sbin, which a plain user's PATH may lack. */
export const PATH = `${process.env.PATH ?? '/usr/bin:/bin'}:/usr/sbin:/sbin`

/** The shells the image's entrypoint logic is run under: dash (Debian's sh) and, when installed, busybox ash (the alpine image's sh). */
export function shells (): string[][] {
  const list = [['sh']]
  if (spawnSync('busybox', ['sh', '-c', 'true']).status === 0) list.push(['busybox', 'sh'])
  return list
}

/** Values of .env.example (the first `make up` starts from them). */
export function envExample (): Map<string, string> {
  const text = readFileSync(join(repoDir, '.env.example'), 'utf8')
  return new Map([...text.matchAll(/^([A-Z][A-Z0-9_]*)=(.*)$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']))
}

/** compose's nginx environment, interpolated with .env.example's values and compose's defaults. */
export function composeNginxEnv (overrides: Record<string, string> = {}): Record<string, string> {
  const values = envExample()
  for (const [k, v] of Object.entries(overrides)) values.set(k, v)
  const compose = parse(readFileSync(join(repoDir, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: { nginx: { environment: Record<string, string> } } }
  const interpolate = (value: string): string => value.replace(/\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}/g, (_, name: string, op?: string, arg?: string) => {
    const v = values.get(name)
    if (v !== undefined && v !== '') return v
    if (op === '?') throw new Error(`${name} is required`)
    return arg ?? ''
  })
  return Object.fromEntries(Object.entries(compose.services.nginx.environment).map(([k, v]) => [k, interpolate(String(v))]))
}

/** Makes a CA and server certificate in `dir` with the project's certs.sh. */
export function makeCerts (dir: string): void {
  const r = spawnSync(join(repoDir, 'scripts', 'certs.sh'), [], { env: { PATH, CERTS_DIR: dir, CERTS_OWNER: '', SERVER_NAME: 'localhost' }, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`certs.sh failed: ${r.stderr}`)
}

/**
 * What only exists inside the container, replaced by local equivalents under `dir`: loopback
 * listeners on the given ports, files in `dir`, a loopback upstream (nginx 1.22 has no `resolve`).
 */
export function localEdge (env: Record<string, string>, dir: string, ports: { http: number, https: number, status: number }, certsDir: string): Record<string, string> {
  mkdirSync(join(dir, 'run'), { recursive: true })
  mkdirSync(join(dir, 'acme'), { recursive: true })
  return {
    ...env,
    GATEWAY_UPSTREAMS: env.GATEWAY_UPSTREAMS?.startsWith('127.') === true ? env.GATEWAY_UPSTREAMS : '127.0.0.1:1',
    NGINX_UPSTREAM_SERVER_PARAMS: 'max_fails=1 fail_timeout=5s',
    NGINX_HTTP_LISTEN: `127.0.0.1:${ports.http}`,
    NGINX_HTTPS_LISTEN: `127.0.0.1:${ports.https}`,
    NGINX_STATUS_LISTEN: `127.0.0.1:${ports.status}`,
    NGINX_RUNTIME_DIR: join(dir, 'run'),
    NGINX_ACCESS_LOG: join(dir, 'access.log'),
    NGINX_RESOLVER: '127.0.0.1',
    NGINX_WORKER_PROCESSES: '1',
    NGINX_SSL_CERTIFICATE: join(certsDir, 'server.crt'),
    NGINX_SSL_CERTIFICATE_KEY: join(certsDir, 'server.key'),
    NGINX_SSL_TRUSTED_CERTIFICATE: join(certsDir, 'ca.crt'),
    NGINX_ACME_ROOT: join(dir, 'acme')
  }
}

export interface Rendered { status: number | null, stdout: string, stderr: string, confDir: string }

/**
 * Renders nginx/templates into `dir`/conf the way the image does: its entrypoint logic
 * (support/image-entrypoint.sh) under `shell`, sourcing the project's .envsh from an
 * entrypoint directory, then the envsubst step with compose's NGINX_ENVSUBST_FILTER.
 */
export function renderLikeImage (shell: string[], env: Record<string, string>, dir: string): Rendered {
  const entrypointD = join(dir, 'docker-entrypoint.d')
  const confDir = join(dir, 'conf')
  rmSync(entrypointD, { recursive: true, force: true })
  rmSync(confDir, { recursive: true, force: true })
  mkdirSync(entrypointD, { recursive: true })
  mkdirSync(confDir, { recursive: true })
  // Mounted like compose does: the file itself, with its own mode (the image skips a non-executable one).
  symlinkSync(envsh, join(entrypointD, '15-llm-gateway.envsh'))
  copyFileSync(join(here, 'image-envsubst.sh'), join(entrypointD, '20-envsubst-on-templates.sh'))
  const r = spawnSync(shell[0] ?? 'sh', [...shell.slice(1), join(here, 'image-entrypoint.sh'), 'nginx'], {
    env: {
      PATH,
      ...env,
      ENTRYPOINT_D: entrypointD,
      NGINX_ENVSUBST_TEMPLATE_DIR: join(repoDir, 'nginx', 'templates'),
      NGINX_ENVSUBST_OUTPUT_DIR: confDir
    },
    encoding: 'utf8'
  })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, confDir }
}

/** `nginx -t` on a rendered config: its exit code and what it printed. */
export async function nginxTest (confDir: string): Promise<{ ok: boolean, output: string }> {
  try {
    const { stderr } = await execFileP('nginx', ['-t', '-p', confDir + '/', '-c', join(confDir, 'nginx.conf'), '-e', 'stderr'], { env: { PATH } })
    return { ok: true, output: stderr }
  } catch (err) {
    const e = err as { stderr?: string, message: string }
    return { ok: false, output: e.stderr ?? e.message }
  }
}

export interface RunningNginx { proc: Proc, errors: () => string, stop: () => Promise<void> }

/** Starts nginx in the foreground on a rendered config; resolves once `healthUrl` answers. */
export async function startNginx (confDir: string, healthUrl: string): Promise<RunningNginx> {
  const errLog = join(confDir, '..', 'nginx-error.log')
  writeFileSync(errLog, '')
  // Run as root, nginx would hand its workers to "nobody", who cannot read the test's files.
  const globals = 'daemon off;' + (process.getuid?.() === 0 ? ` user ${userInfo().username};` : '')
  const proc = startProcess('nginx', ['-p', confDir + '/', '-c', join(confDir, 'nginx.conf'), '-e', errLog, '-g', globals], { name: 'nginx', env: { PATH } })
  // Whatever happens to the test's own teardown, nginx does not outlive the test process.
  const onExit = (): void => { if (proc.alive()) process.kill(proc.pid, 'SIGTERM') }
  process.once('exit', onExit)
  void proc.exited.then(() => process.removeListener('exit', onExit))
  try {
    await waitForHttp(healthUrl, { proc, timeoutMs: 20_000 })
  } catch (err) {
    throw new Error(`nginx did not start: ${(err as Error).message}\n${readFileSync(errLog, 'utf8')}`)
  }
  return {
    proc,
    errors: () => existsSync(errLog) ? readFileSync(errLog, 'utf8') : '',
    stop: async () => { await proc.stop('SIGTERM', 30_000) }
  }
}

export interface RawResponse { statusLine: string, status: number, headers: Record<string, string>, body: string, raw: string }

/** Parses one HTTP/1.x response (headers lower-cased; a repeated header keeps its last value). */
export function parseResponse (raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n')
  const head = end < 0 ? raw : raw.slice(0, end)
  const [statusLine = '', ...lines] = head.split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const i = line.indexOf(':')
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
  }
  return { statusLine, status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body: end < 0 ? '' : raw.slice(end + 4), raw }
}

/**
 * Writes `request` as raw bytes over TLS (ALPN http/1.1) and reads the first response: until
 * its Content-Length is complete or the server closes. Resolves with what arrived.
 */
export async function rawTls (port: number, request: string | Buffer, ca: Buffer): Promise<RawResponse> {
  return await new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] })
    let data = Buffer.alloc(0)
    const finish = (): void => { socket.destroy(); resolve(parseResponse(data.toString('latin1'))) }
    const timer = setTimeout(finish, 15_000)
    socket.once('secureConnect', () => { socket.write(request) })
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk])
      const text = data.toString('latin1')
      const end = text.indexOf('\r\n\r\n')
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1]
      if (end >= 0 && length !== undefined && data.length >= end + 4 + Number(length)) { clearTimeout(timer); finish() }
    })
    socket.once('end', () => { clearTimeout(timer); finish() })
    socket.once('error', (err) => { clearTimeout(timer); if (data.length > 0) finish(); else reject(err) })
  })
}

/** A scratch directory removed when `t` ends. */
export function scratch (t: { teardown: (fn: () => void) => void }, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}
