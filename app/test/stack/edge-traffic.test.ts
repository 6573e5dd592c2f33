// What a client meets at the native stack's edge: nginx from the project's templates (TLS,
// HTTP/2, redirects, request ids, CORS, body limit, unbuffered SSE, its own limits) in front of
// one gateway replica, Redis and the mock upstream. Replica behaviour is in replicas.test.ts.
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import { join } from 'node:path'
import tls from 'node:tls'
import { promisify } from 'node:util'
import { assertOpenAIError } from '../support/http.js'
import {
  accessLogLines, edgeRequest, rawValues, reloadNativeStack, startNativeStack, stackKey,
  type EdgeAnswer, type EdgeRequestOptions
} from '../support/native-stack.js'
import { waitFor } from '../support/wait.js'

const execFileP = promisify(execFile)
const ALLOWED_ORIGIN = 'https://app.example.com'
const BODY_LIMIT = 1024 * 1024

const state = await startNativeStack(t, [
  // One replica: spreading over several is replicas.test.ts's concern.
  '--replicas', '1',
  '--cors-origins', ALLOWED_ORIGIN,
  '--body-limit', String(BODY_LIMIT),
  // The edge limits are lowered at the end, by reload.
  '--edge-rate', '5000r/s', '--edge-burst', '5000', '--edge-conn', '1000',
  '--log-level', 'warn'
])
const ca = readFileSync(state.ca)
const key = stackKey(state, 'default')

const request = async (method: string, path: string, opts: EdgeRequestOptions = {}): Promise<EdgeAnswer> => await edgeRequest(state, method, path, opts)
const chat = (extra: Record<string, unknown> = {}): string => JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'Hello' }], ...extra })
const authHeaders = (k = key): Record<string, string> => ({ authorization: `Bearer ${k}`, 'content-type': 'application/json' })

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
  const handshake = async (minVersion: tls.SecureVersion, maxVersion: tls.SecureVersion): Promise<string> => await new Promise((resolve, reject) => {
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
  const get = async (path: string): Promise<EdgeAnswer> => await new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: state.nginx.httpPort, path, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body }))
    }).on('error', reject)
  })
  const redirect = await get('/v1/models?x=1')
  t.equal(redirect.status, 308, 'a permanent redirect that keeps the method and body')
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

t.test('X-Request-ID is generated or kept, once; the access log has the upstream timings and no key', async (t) => {
  const generated = await request('GET', '/v1/models', { headers: authHeaders() })
  t.equal(generated.status, 200)
  t.equal(rawValues(generated, 'x-request-id').length, 1, 'exactly one X-Request-ID')
  t.match(String(generated.headers['x-request-id']), /^[0-9a-f]{32}$/, 'nginx generated it')
  const kept = await request('GET', '/v1/models', { headers: { ...authHeaders(), 'x-request-id': 'client-id-42' } })
  t.same(rawValues(kept, 'x-request-id'), ['client-id-42'], 'the client id comes back once')
  const unsafe = await request('GET', '/v1/models', { headers: { ...authHeaders(), 'x-request-id': 'bad id "quoted"' } })
  t.match(String(unsafe.headers['x-request-id']), /^[0-9a-f]{32}$/, 'an unsafe client id is replaced')

  t.ok(await waitFor(() => accessLogLines(state, '"client-id-42"').length === 1, 10_000), 'the access log has the request')
  const entry = JSON.parse(accessLogLines(state, '"client-id-42"')[0] ?? '{}') as Record<string, unknown>
  t.match(entry.upstream_addr, /^127\.0\.0\.1:\d+$/, 'access log upstream_addr')
  for (const field of ['upstream_connect_time', 'upstream_header_time', 'upstream_response_time']) {
    t.match(entry[field], /^\d+\.\d{3}$/, `access log ${field}`)
  }
  t.notOk(readFileSync(state.nginx.accessLog, 'utf8').includes(key), 'no gateway key in the access log')
})

t.test('/metrics and unknown paths are JSON 404s at the edge', async (t) => {
  for (const path of ['/metrics', '/v1/../metrics', '/%6detrics', '/stub_status', '/']) {
    const res = await request('GET', path, { headers: authHeaders() })
    assertOpenAIError(t, res, 404, 'not_found_error', 'not_found')
    t.notMatch(res.body, /llm_gateway_/, `${path}: no metrics text`)
  }
})

t.test('CORS: one Access-Control-Allow-Origin for allowed origins, none for others', async (t) => {
  const preflight = async (origin: string): Promise<EdgeAnswer> => await request('OPTIONS', '/v1/chat/completions', {
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
  t.equal(edgeError.status, 404, 'an edge error')
  t.same(rawValues(edgeError, 'access-control-allow-origin'), [ALLOWED_ORIGIN], 'exactly one on an edge error')

  for (const origin of ['https://evil.example.com', 'https://app.example.com.evil.example', 'null']) {
    const pre = await preflight(origin)
    t.same(rawValues(pre, 'access-control-allow-origin'), [], `no ACAO on preflight from ${origin}`)
    t.same(rawValues(pre, 'access-control-allow-methods'), [], `no Allow-Methods on preflight from ${origin}`)
    const res = await request('POST', '/v1/chat/completions', { headers: { ...authHeaders(), origin }, body: chat() })
    t.equal(res.status, 200, `a request from ${origin} is still served (CORS is the browser's business)`)
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
  const err = assertOpenAIError(t, res, 413, 'invalid_request_error', 'request_too_large').error as { message?: string } | undefined
  t.match(err?.message, String(BODY_LIMIT), 'nginx answered (its message names the limit)')

  const filler = 'x'.repeat(BODY_LIMIT - 200)
  const under = chat({ messages: [{ role: 'user', content: filler }] })
  t.ok(Buffer.byteLength(under) < BODY_LIMIT)
  const ok = await request('POST', '/v1/chat/completions', { headers: authHeaders(), body: under })
  t.equal(ok.status, 200, `a body just under the limit reaches a gateway (${ok.body.slice(0, 120)})`)
})

/** Requests the mock upstream is answering right now. */
async function mockInFlight (): Promise<number> {
  const stats = await (await fetch(`${state.mock.url}/_mock/stats`)).json() as { in_flight: number }
  return stats.in_flight
}

// Last: it lowers the edge limits for the rest of the stack's life.
t.test('edge limits answer JSON 429 with Retry-After', async (t) => {
  // 1 request a minute after a burst of 5: the burst below is refused however slowly it runs.
  await reloadNativeStack(state.dir, ['--edge-rate', '1r/m', '--edge-burst', '5', '--edge-conn', '2'])

  // The limits are per address, and nginx keeps its count for 127.0.0.1 from the tests above:
  // this test speaks from another loopback address, which starts from nothing.
  const localAddress = '127.0.0.2'
  // Two held streams use up the address's two concurrent requests.
  const inFlightBefore = await mockInFlight()
  const streams = [0, 1].map(async () => await request('POST', '/v1/chat/completions', {
    headers: authHeaders(),
    body: chat({ stream: true, mock: { chunks: 2, chunk_delay_ms: 5000 } }),
    timeoutMs: 30_000,
    localAddress
  }))
  t.ok(await waitFor(async () => await mockInFlight() >= inFlightBefore + 2, 20_000, 50), 'both streams reached the upstream')
  const third = await request('GET', '/v1/models', { headers: authHeaders(), localAddress })
  const connErr = assertOpenAIError(t, third, 429, 'rate_limit_error', 'rate_limit_exceeded').error as { message?: string } | undefined
  t.match(connErr?.message, /concurrent/i, 'limit_conn answered')
  t.equal(third.headers['retry-after'], '1')
  const held = await Promise.all(streams)
  t.same(held.map((r) => r.status), [200, 200], 'the held streams completed')

  // Then a quick sequence exhausts the per-address rate (burst 5, then 1 a minute).
  const burst: EdgeAnswer[] = []
  for (let i = 0; i < 20; i++) burst.push(await request('GET', '/v1/models', { headers: authHeaders(), localAddress }))
  const rejected = burst.filter((r) => r.status === 429)
  t.ok(rejected.length >= 14, `${rejected.length} of 20 rejected at the edge`)
  const first = rejected[0]
  if (first === undefined) return // the count above already failed
  const reqErr = assertOpenAIError(t, first, 429, 'rate_limit_error', 'rate_limit_exceeded').error as { message?: string } | undefined
  t.match(reqErr?.message, /too many requests/i, 'limit_req answered')
  t.equal(first.headers['retry-after'], '1')
})
