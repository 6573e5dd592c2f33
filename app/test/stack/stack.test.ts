// The native stack end to end, as a client sees it: nginx from the project's templates in front
// of three gateway replicas, Redis for the shared limits, the mock upstream behind them.
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import { promisify } from 'node:util'
import { repoDir } from '../support/procs.js'

const execFileP = promisify(execFile)
const launcher = join(repoDir, 'scripts', 'stack-native.mjs')
const ALLOWED_ORIGIN = 'https://app.example.com'
const BODY_LIMIT = 1024 * 1024
const MODEL = 'gpt-4.1'

interface StackState {
  status: string
  ca: string
  nginx: { pid: number, httpsPort: number, httpPort: number, httpsUrl: string, httpUrl: string, conf: string, prefix: string, acmeRoot: string, accessLog: string }
  gateways: Array<{ index: number, pid: number | null, restarts: number, url: string, metricsUrl: string }>
  mock: { url: string }
  keys: Array<{ id: string, key: string }>
}

interface Res {
  status: number
  headers: http.IncomingHttpHeaders
  rawHeaders: string[]
  body: string
}

const dir = mkdtempSync(join(tmpdir(), 'llm-gateway-stack-'))
const readState = (): StackState => JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as StackState
const processAlive = (pid: number): boolean => {
  try {
    // A zombie (dead, not yet reaped by the supervisor) holds no sockets any more.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}
const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

t.teardown(async () => {
  await execFileP(process.execPath, [launcher, 'down', '--dir', dir], { timeout: 60_000 }).catch((err: Error) => {
    console.error(`stack-native down failed: ${err.message}`)
  })
  rmSync(dir, { recursive: true, force: true })
})

await execFileP(process.execPath, [
  launcher, 'up', '--dir', dir,
  '--replicas', '3',
  '--key', 'limited rpm=10',
  '--key', 'load rpm=1000000',
  '--cors-origins', ALLOWED_ORIGIN,
  '--body-limit', String(BODY_LIMIT),
  // The load test below comes from one address: the edge limits are lowered later, by reload.
  '--edge-rate', '5000r/s', '--edge-burst', '5000', '--edge-conn', '1000',
  '--log-level', 'warn',
  '--owner-pid', String(process.pid)
], { timeout: 90_000 })

const state = readState()
const ca = readFileSync(state.ca)
const key = state.keys.find((k) => k.id === 'default')?.key ?? ''
const limitedKey = state.keys.find((k) => k.id === 'limited')?.key ?? ''
const loadKey = state.keys.find((k) => k.id === 'load')?.key ?? ''

function request (method: string, path: string, opts: { headers?: Record<string, string>, body?: string | Buffer, agent?: https.Agent | false, timeoutMs?: number, localAddress?: string } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1',
      port: state.nginx.httpsPort,
      method,
      path,
      ca,
      agent: opts.agent ?? false,
      headers: opts.headers,
      localAddress: opts.localAddress
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks).toString() }))
      res.on('error', reject)
    })
    req.setTimeout(opts.timeoutMs ?? 15_000, () => req.destroy(new Error('client timeout')))
    req.on('error', reject)
    req.end(opts.body)
  })
}

function chat (extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'Hello' }], ...extra })
}

function authHeaders (k = key): Record<string, string> {
  return { authorization: `Bearer ${k}`, 'content-type': 'application/json' }
}

/** Every header value named `name` (case-insensitive), from the raw header list. */
function rawValues (res: Res, name: string): string[] {
  const out: string[] = []
  for (let i = 0; i < res.rawHeaders.length; i += 2) {
    if (res.rawHeaders[i]?.toLowerCase() === name) out.push(res.rawHeaders[i + 1] ?? '')
  }
  return out
}

interface ErrorBody { error: { message: string, type: string, param: string | null, code: string | null } }
function openAIError (t: Test, res: Res, status: number, type: string): ErrorBody['error'] | undefined {
  t.equal(res.status, status, `status ${status}`)
  t.match(String(res.headers['content-type']), /^application\/json/, 'JSON content type')
  let parsed: ErrorBody | undefined
  try { parsed = JSON.parse(res.body) as ErrorBody } catch {}
  t.ok(parsed, `body is JSON: ${res.body.slice(0, 120)}`)
  if (parsed === undefined) return undefined
  t.same(Object.keys(parsed.error).sort(), ['code', 'message', 'param', 'type'], 'OpenAI error shape')
  t.equal(parsed.error.type, type)
  return parsed.error
}

async function requestsTotal (metricsUrl: string): Promise<number> {
  const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(5000) })
  const text = await res.text()
  let sum = 0
  for (const line of text.split('\n')) {
    const m = /^llm_gateway_requests_total(?:\{[^}]*\})? ([0-9.e+]+)$/.exec(line)
    if (m !== null) sum += Number(m[1])
  }
  return sum
}

/** Runs `total` requests with at most `concurrency` in flight; `make(i)` starts one. */
async function pool<T> (total: number, concurrency: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array<T>(total)
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) {
      const i = next++
      results[i] = await make(i)
    }
  }))
  return results
}

t.test('nginx -t passes on the rendered config', async (t) => {
  const { stderr } = await execFileP('nginx', ['-t', '-p', state.nginx.prefix, '-c', state.nginx.conf, '-e', 'stderr'])
  t.match(stderr, /test is successful/)
})

t.test('HTTPS with HTTP/2, trusting the generated CA', async (t) => {
  const session = http2.connect(state.nginx.httpsUrl, { ca })
  t.teardown(() => session.close())
  const { status, headers, body } = await new Promise<{ status: number, headers: http2.IncomingHttpHeaders, body: string }>((resolve, reject) => {
    const req = session.request({ ':path': '/healthz' })
    let body = ''
    let headers: http2.IncomingHttpHeaders = {}
    req.setEncoding('utf8')
    req.on('response', (h) => { headers = h })
    req.on('data', (d: string) => { body += d })
    req.on('end', () => resolve({ status: Number(headers[':status']), headers, body }))
    req.on('error', reject)
    req.end()
  })
  t.equal(session.alpnProtocol, 'h2', 'ALPN negotiated h2')
  t.equal(status, 200, body)
  t.match(String(headers['strict-transport-security']), /max-age=\d+/, 'HSTS')
  t.equal(headers['x-content-type-options'], 'nosniff')
  t.equal(headers.server, 'nginx', 'no version in Server')

  // Without the CA the certificate is not trusted: it really is ours that is served.
  const untrusted = new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port: state.nginx.httpsPort, path: '/healthz', agent: false }, resolve).on('error', reject)
  })
  await t.rejects(untrusted, /self[- ]signed|unable to (verify|get local issuer)|certificate/i)
})

t.test('TLS 1.0 and 1.1 are refused, 1.2 and 1.3 accepted', async (t) => {
  const handshake = (minVersion: tls.SecureVersion, maxVersion: tls.SecureVersion): Promise<string> => new Promise((resolve, reject) => {
    // SECLEVEL=0 lets this client offer the old protocols: a refusal must come from nginx.
    const socket = tls.connect({ host: '127.0.0.1', port: state.nginx.httpsPort, ca, servername: 'localhost', minVersion, maxVersion, ciphers: 'DEFAULT@SECLEVEL=0' }, () => {
      const protocol = socket.getProtocol() ?? ''
      socket.end()
      resolve(protocol)
    })
    socket.setTimeout(5000, () => socket.destroy(new Error('handshake timeout')))
    socket.on('error', reject)
  })
  await t.rejects(handshake('TLSv1', 'TLSv1.1'), /protocol version|unsupported protocol|no protocols available/i, 'TLS 1.1 refused')
  await t.rejects(handshake('TLSv1', 'TLSv1'), /protocol version|unsupported protocol|no protocols available/i, 'TLS 1.0 refused')
  t.equal(await handshake('TLSv1.2', 'TLSv1.2'), 'TLSv1.2')
  t.equal(await handshake('TLSv1.3', 'TLSv1.3'), 'TLSv1.3')
})

t.test('plain HTTP redirects to HTTPS, except ACME challenges', async (t) => {
  const get = (path: string): Promise<Res> => new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: state.nginx.httpPort, path, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body }))
    }).on('error', reject)
  })
  const redirect = await get('/v1/models?x=1')
  t.ok(redirect.status === 301 || redirect.status === 308, `redirect status (${redirect.status})`)
  t.equal(redirect.headers.location, `https://127.0.0.1:${state.nginx.httpsPort}/v1/models?x=1`)

  const challenge = join(state.nginx.acmeRoot, '.well-known', 'acme-challenge')
  mkdirSync(challenge, { recursive: true })
  writeFileSync(join(challenge, 'token-123'), 'token-123.thumbprint')
  const acme = await get('/.well-known/acme-challenge/token-123')
  t.equal(acme.status, 200, 'challenge served over plain HTTP')
  t.equal(acme.body, 'token-123.thumbprint')
  const missing = await get('/.well-known/acme-challenge/nope')
  t.equal(missing.status, 404, 'unknown challenge is a 404, not a redirect')
})

t.test('requests spread over all replicas; X-Request-ID is generated or kept', async (t) => {
  const before = await Promise.all(state.gateways.map(async (g) => await requestsTotal(g.metricsUrl)))
  const agent = new https.Agent({ keepAlive: true, maxSockets: 6, ca })
  t.teardown(() => agent.destroy())
  const results = await pool(60, 6, async () => await request('POST', '/v1/chat/completions', { agent, headers: authHeaders(loadKey), body: chat() }))
  t.ok(results.every((r) => r.status === 200), 'every request succeeded')
  const after = await Promise.all(state.gateways.map(async (g) => await requestsTotal(g.metricsUrl)))
  for (const [i, g] of state.gateways.entries()) {
    t.ok((after[i] ?? 0) > (before[i] ?? 0), `gateway-${g.index} served requests (${before[i]} → ${after[i]})`)
  }

  const generated = await request('GET', '/v1/models', { headers: authHeaders() })
  t.equal(generated.status, 200)
  t.equal(rawValues(generated, 'x-request-id').length, 1, 'exactly one X-Request-ID')
  t.match(String(generated.headers['x-request-id']), /^[0-9a-f]{32}$/, 'nginx generated it')
  const kept = await request('GET', '/v1/models', { headers: { ...authHeaders(), 'x-request-id': 'client-id-42' } })
  t.same(rawValues(kept, 'x-request-id'), ['client-id-42'], 'the client id comes back once')
  const unsafe = await request('GET', '/v1/models', { headers: { ...authHeaders(), 'x-request-id': 'bad id "quoted"' } })
  t.match(String(unsafe.headers['x-request-id']), /^[0-9a-f]{32}$/, 'an unsafe client id is replaced')

  const line = (await accessLogLines('"client-id-42"', 1))[0]
  t.ok(line, 'the access log has the request')
  const entry = JSON.parse(line ?? '{}') as Record<string, unknown>
  for (const field of ['upstream_addr', 'upstream_connect_time', 'upstream_header_time', 'upstream_response_time']) {
    t.not(entry[field], '', `access log ${field}`)
  }
  t.notOk(readFileSync(state.nginx.accessLog, 'utf8').includes(key), 'no gateway key in the access log')
})

t.test('/metrics and unknown paths are JSON 404s at the edge', async (t) => {
  for (const path of ['/metrics', '/v1/../metrics', '/%6detrics', '/stub_status', '/']) {
    const res = await request('GET', path, { headers: authHeaders() })
    const err = openAIError(t, res, 404, 'not_found_error')
    t.equal(err?.code, 'not_found', path)
    t.notMatch(res.body, /llm_gateway_/, `${path}: no metrics text`)
  }
})

t.test('a per-key limit holds in total across the three replicas', async (t) => {
  const results = await Promise.all(Array.from({ length: 30 }, async (_, i) => await request('POST', '/v1/chat/completions', {
    headers: { ...authHeaders(limitedKey), 'x-request-id': `limited-${i}` },
    body: chat()
  })))
  const ok = results.filter((r) => r.status === 200)
  const limited = results.filter((r) => r.status === 429)
  t.equal(ok.length, 10, 'exactly the key\'s 10 requests per minute succeed')
  t.equal(limited.length, 20, 'the other 20 are rate limited')
  for (const r of limited.slice(0, 3)) {
    const err = openAIError(t, r, 429, 'rate_limit_error')
    t.equal(err?.code, 'rate_limit_exceeded')
    t.match(String(r.headers['retry-after']), /^\d+$/, 'Retry-After in seconds')
  }
  // The 30 requests were spread over the replicas, so the limit really was shared.
  const log = await accessLogLines('"limited-', 30)
  const replicas = new Set(log.map((l) => (JSON.parse(l) as { upstream_addr: string }).upstream_addr))
  t.ok(replicas.size >= 2, `limited key's requests reached ${replicas.size} replicas`)
})

t.test('CORS: one Access-Control-Allow-Origin for allowed origins, none for others', async (t) => {
  const preflight = (origin: string): Promise<Res> => request('OPTIONS', '/v1/chat/completions', {
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,x-stainless-os' }
  })
  const allowedPre = await preflight(ALLOWED_ORIGIN)
  t.equal(allowedPre.status, 204, 'preflight answered at the edge')
  t.same(rawValues(allowedPre, 'access-control-allow-origin'), [ALLOWED_ORIGIN])
  t.match(String(allowedPre.headers['access-control-allow-methods']), /POST/)
  t.match(String(allowedPre.headers['access-control-allow-headers']), /authorization/i)
  t.ok(Number(allowedPre.headers['access-control-max-age']) > 0, 'preflight cached')

  const real = await request('POST', '/v1/chat/completions', { headers: { ...authHeaders(), origin: ALLOWED_ORIGIN }, body: chat() })
  t.equal(real.status, 200)
  t.same(rawValues(real, 'access-control-allow-origin'), [ALLOWED_ORIGIN], 'exactly one on a proxied response')
  t.match(String(real.headers['access-control-expose-headers']), /X-Request-ID/i)
  t.match(rawValues(real, 'vary').join(','), /Origin/)

  const gatewayError = await request('POST', '/v1/chat/completions', { headers: { 'content-type': 'application/json', origin: ALLOWED_ORIGIN }, body: chat() })
  t.equal(gatewayError.status, 401, 'the gateway rejects a missing key')
  t.same(rawValues(gatewayError, 'access-control-allow-origin'), [ALLOWED_ORIGIN], 'exactly one on a gateway error')
  const edgeError = await request('GET', '/nope', { headers: { origin: ALLOWED_ORIGIN } })
  t.same(rawValues(edgeError, 'access-control-allow-origin'), [ALLOWED_ORIGIN], 'exactly one on an edge error')

  for (const origin of ['https://evil.example.com', 'https://app.example.com.evil.example', 'null']) {
    const pre = await preflight(origin)
    t.same(rawValues(pre, 'access-control-allow-origin'), [], `no ACAO on preflight from ${origin}`)
    t.same(rawValues(pre, 'access-control-allow-methods'), [], `no Allow-Methods on preflight from ${origin}`)
    const res = await request('POST', '/v1/chat/completions', { headers: { ...authHeaders(), origin }, body: chat() })
    t.same(rawValues(res, 'access-control-allow-origin'), [], `no ACAO on a response to ${origin}`)
  }
})

/**
 * An HTTP/2 stream request through nginx. Resolves with the headers and the `data:` events read
 * until `enough` says so (then the request is cancelled) or until the stream ends.
 */
async function h2Stream (session: http2.ClientHttp2Session, body: string, enough: (events: string[]) => boolean = () => false): Promise<{ headers: http2.IncomingHttpHeaders, events: string[], ended: boolean }> {
  return await new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ':path': '/v1/chat/completions', ...authHeaders(), 'accept-encoding': 'gzip, br' })
    let headers: http2.IncomingHttpHeaders = {}
    const events: string[] = []
    let buf = ''
    let settled = false
    const settle = (ended: boolean): void => {
      if (settled) return
      settled = true
      if (!ended) req.close(http2.constants.NGHTTP2_CANCEL)
      resolve({ headers, events, ended })
    }
    req.setEncoding('utf8')
    req.setTimeout(20_000, () => { settle(false) })
    req.on('response', (h) => { headers = h })
    req.on('data', (d: string) => {
      buf += d
      let idx
      while ((idx = buf.indexOf('\n\n')) >= 0) {
        const event = buf.slice(0, idx)
        buf = buf.slice(idx + 2)
        for (const line of event.split('\n')) if (line.startsWith('data: ')) events.push(line.slice(6))
      }
      if (enough(events)) settle(false)
    })
    req.on('end', () => { settle(true) })
    req.on('error', (err) => { if (!settled) reject(err) })
    req.end(body)
  })
}

const contentOf = (events: string[]): string => events.filter((e) => e !== '[DONE]')
  .map((e) => (JSON.parse(e) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? '').join('')

t.test('SSE streams through nginx unbuffered and uncompressed', async (t) => {
  const session = http2.connect(state.nginx.httpsUrl, { ca })
  t.teardown(() => session.close())
  // The upstream holds the second chunk back for a minute: the first can only arrive within the
  // request's 20 s timeout if neither nginx nor the gateway buffers or compresses the stream.
  const held = await h2Stream(session, chat({ stream: true, mock: { chunks: 3, chunk_delay_ms: 60_000 } }), (events) => contentOf(events).includes('tok0'))
  t.equal(held.headers[':status'], 200)
  t.match(String(held.headers['content-type']), /^text\/event-stream/)
  t.equal(held.headers['content-encoding'], undefined, 'not compressed')
  t.equal(contentOf(held.events), 'tok0', 'the first chunk arrived while the upstream held back the rest')
  t.notOk(held.ended, 'before the stream ended')

  const whole = await h2Stream(session, chat({ stream: true, mock: { chunks: 3, chunk_delay_ms: 100 } }))
  t.equal(whole.headers[':status'], 200)
  t.equal(whole.headers['content-encoding'], undefined, 'not compressed')
  t.ok(whole.ended, 'a paced stream runs to its end')
  t.equal(whole.events.at(-1), '[DONE]', 'ends with [DONE]')
  t.equal(contentOf(whole.events), 'tok0 tok1 tok2', 'all three chunks arrived in order')
})

t.test('bodies over the limit get a JSON 413 from nginx; bodies under it pass', async (t) => {
  const over = Buffer.alloc(BODY_LIMIT + 1, 'a')
  const res = await request('POST', '/v1/chat/completions', { headers: authHeaders(), body: over })
  const err = openAIError(t, res, 413, 'invalid_request_error')
  t.equal(err?.code, 'request_too_large')
  t.match(err?.message ?? '', String(BODY_LIMIT), 'nginx answered (its message names the limit)')

  const filler = 'x'.repeat(BODY_LIMIT - 200)
  const under = chat({ messages: [{ role: 'user', content: filler }] })
  t.ok(Buffer.byteLength(under) < BODY_LIMIT)
  const ok = await request('POST', '/v1/chat/completions', { headers: authHeaders(), body: under })
  t.equal(ok.status, 200, `a body just under the limit reaches a gateway (${ok.body.slice(0, 120)})`)
})

/** Lines of nginx's access log that contain `needle`, once there are `count` of them (nginx logs after it has answered). */
async function accessLogLines (needle: string, count: number): Promise<string[]> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const lines = readFileSync(state.nginx.accessLog, 'utf8').split('\n').filter((l) => l.includes(needle))
    if (lines.length >= count || Date.now() > deadline) return lines
    await sleep(50)
  }
}

/** Requests the mock upstream is answering right now. */
async function mockInFlight (): Promise<number> {
  const stats = await (await fetch(`${state.mock.url}/_mock/stats`)).json() as { in_flight: number }
  return stats.in_flight
}

/** Waits until the supervisor has restarted replica `index` (new pid, ready) and returns it. */
async function restartedReplica (index: number, oldPid: number): Promise<StackState['gateways'][number] | undefined> {
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    const g = readState().gateways[index]
    if (g?.pid != null && g.pid !== oldPid) {
      const ready = await fetch(`${g.url}/readyz`).then((r) => r.status, () => 0)
      if (ready === 200) return g
    }
    await sleep(100)
  }
  return undefined
}

t.test('a replica stopped gracefully (SIGTERM) under load', async (t) => {
  const victim = readState().gateways[1]
  if (victim === undefined || victim.pid === null) throw new Error('no replica to stop')
  const victimPid = victim.pid
  const agent = new https.Agent({ keepAlive: true, maxSockets: 50, ca })
  t.teardown(() => agent.destroy())
  let done = 0
  const results = await pool(2000, 50, async (): Promise<{ status?: number, body?: string, error?: string }> => {
    try {
      const res = await request('POST', '/v1/chat/completions', { agent, headers: authHeaders(loadKey), body: chat({ mock: { latency_ms: 30 } }), timeoutMs: 20_000 })
      return { status: res.status, body: res.body }
    } catch (err) {
      return { error: (err as Error).message }
    } finally {
      if (++done === 400) process.kill(victimPid, 'SIGTERM')
    }
  })
  t.same(results.filter((r) => r.error !== undefined).map((r) => r.error), [], 'no request failed at the connection level or timed out')
  const failed = results.filter((r) => r.status !== 200)
  for (const r of failed) {
    let code = ''
    try { code = (JSON.parse(r.body ?? '') as ErrorBody).error.code ?? '' } catch {}
    // 502: nginx, the connection was reset; 503 shutting_down: the replica refused it.
    t.ok((r.status === 502 && code === 'upstream_error') || (r.status === 503 && code === 'shutting_down'), `a failed request has a clean JSON error (${r.status} ${code})`)
  }
  t.ok(failed.length <= 50, `at most the requests in flight failed (${failed.length})`)
  // nginx never re-sends a POST: a request it writes into a keep-alive connection while the
  // replica stops must be served (the replica drains longer than nginx keeps idle connections).
  t.equal(failed.length, 0, 'no request failed during the graceful stop')
  const back = await restartedReplica(1, victimPid)
  t.ok(back !== undefined, `restarted as pid ${back?.pid}`)
})

t.test('a replica killed under load: no connection errors, clean JSON errors, restarted', async (t) => {
  const victim = readState().gateways[0]
  if (victim === undefined || victim.pid === null) throw new Error('no replica to kill')
  const victimPid = victim.pid
  const agent = new https.Agent({ keepAlive: true, maxSockets: 50, ca })
  t.teardown(() => agent.destroy())
  interface Outcome { start: number, end: number, status?: number, body?: string, error?: string }
  let done = 0
  let killedAt = Infinity
  let goneAt = Infinity
  const results = await pool(2000, 50, async (): Promise<Outcome> => {
    const start = Date.now()
    try {
      // 30 ms of upstream latency keeps requests in flight on the replica when it dies.
      const res = await request('POST', '/v1/chat/completions', { agent, headers: authHeaders(loadKey), body: chat({ mock: { latency_ms: 30 } }), timeoutMs: 20_000 })
      return { start, end: Date.now(), status: res.status, body: res.body }
    } catch (err) {
      return { start, end: Date.now(), error: (err as Error).message }
    } finally {
      if (++done === 400) {
        process.kill(victimPid, 'SIGKILL')
        killedAt = Date.now()
        // The kernel keeps accepting connections for a dying process until it is gone.
        void (async () => {
          while (processAlive(victimPid)) await sleep(2)
          goneAt = Date.now()
        })()
      }
    }
  })
  // nginx notices the dead replica's keep-alive connections a few milliseconds after the kernel
  // closed them; a POST it wrote into one in that window is answered 502, never re-sent.
  const SETTLE_MS = 500
  t.ok(Number.isFinite(killedAt), 'the replica was killed mid-run')
  t.ok(Number.isFinite(goneAt), `the replica was gone ${goneAt - killedAt} ms after SIGKILL`)
  const errors = results.filter((r) => r.error !== undefined)
  t.same(errors.map((r) => r.error), [], 'no request failed at the connection level or timed out')
  const failed = results.filter((r) => r.status !== undefined && r.status !== 200)
  for (const r of failed) {
    t.ok(r.status === 502 || r.status === 503, `failed request status ${r.status}`)
    t.ok(r.start <= goneAt + SETTLE_MS, `failed request started before the replica was gone, or just after (${r.start - goneAt} ms)`)
    let type = ''
    try { type = (JSON.parse(r.body ?? '') as ErrorBody).error.type } catch {}
    t.equal(type, 'api_error', 'failed request has an OpenAI error body')
  }
  t.ok(failed.length <= 50, `only requests in flight at the kill failed (${failed.length})`)
  const afterKill = results.filter((r) => r.start > goneAt + SETTLE_MS)
  t.ok(afterKill.length > 50, `${afterKill.length} requests started after the replica was gone`)
  t.same(afterKill.filter((r) => r.status !== 200).map((r) => `${r.status} at +${r.start - goneAt} ms`), [], 'every request started after the replica was gone succeeded')
  t.comment(`2000 requests: ${results.length - failed.length} ok, ${failed.length} failed with 502/503 at the kill`)

  // The supervisor restarts the replica, and nginx sends it traffic again.
  const restarted = await restartedReplica(0, victimPid)
  t.ok(restarted !== undefined, `restarted as pid ${restarted?.pid}`)
  t.ok((restarted?.restarts ?? 0) >= 1, 'restart counted')
  const deadline = Date.now() + 20_000
  let served = 0
  while (Date.now() < deadline && served === 0) {
    await pool(30, 6, async () => await request('POST', '/v1/chat/completions', { agent, headers: authHeaders(loadKey), body: chat() }))
    served = await requestsTotal(restarted?.metricsUrl ?? '').catch(() => 0)
    if (served === 0) await sleep(250)
  }
  t.ok(served > 0, `the restarted replica serves traffic again (${served} requests)`)
})

t.test('edge limits answer JSON 429 with Retry-After', async (t) => {
  // 1 request a minute after a burst of 5: the burst below is refused however slowly it runs.
  await execFileP(process.execPath, [launcher, 'reload', '--dir', dir, '--edge-rate', '1r/m', '--edge-burst', '5', '--edge-conn', '2'], { timeout: 60_000 })

  // The limits are per address, and nginx keeps its count for 127.0.0.1 from the load above:
  // this test speaks from another loopback address, which starts from nothing.
  const localAddress = '127.0.0.2'
  // Two held streams use up the address's two concurrent requests.
  const inFlightBefore = await mockInFlight()
  const streams = [0, 1].map(async () => await request('POST', '/v1/chat/completions', {
    headers: authHeaders(loadKey),
    body: chat({ stream: true, mock: { chunks: 2, chunk_delay_ms: 5000 } }),
    timeoutMs: 30_000,
    localAddress
  }))
  const deadline = Date.now() + 20_000
  while (await mockInFlight() < inFlightBefore + 2 && Date.now() < deadline) await sleep(50)
  const third = await request('GET', '/v1/models', { headers: authHeaders(loadKey), localAddress })
  const connErr = openAIError(t, third, 429, 'rate_limit_error')
  t.equal(connErr?.code, 'rate_limit_exceeded')
  t.match(connErr?.message ?? '', /concurrent/i, 'limit_conn answered')
  t.equal(third.headers['retry-after'], '1')
  const held = await Promise.all(streams)
  t.same(held.map((r) => r.status), [200, 200], 'the held streams completed')

  // Then a quick sequence exhausts the per-address rate (burst 5, then 1 a minute).
  const burst: Res[] = []
  for (let i = 0; i < 20; i++) burst.push(await request('GET', '/v1/models', { headers: authHeaders(loadKey), localAddress }))
  const rejected = burst.filter((r) => r.status === 429)
  t.ok(rejected.length >= 14, `${rejected.length} of 20 rejected at the edge`)
  const reqErr = openAIError(t, rejected[0] ?? burst[0]!, 429, 'rate_limit_error')
  t.match(reqErr?.message ?? '', /too many requests/i, 'limit_req answered')
  t.equal(rejected[0]?.headers['retry-after'], '1')
})
