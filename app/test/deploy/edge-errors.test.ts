// Every status nginx can produce itself reaches the client as an OpenAI error object, as
// application/json over HTTP/1.1: the real nginx on the rendered config, raw TLS sockets.
// Regression: errors raised while the request line is read (a 20 KB URI, a malformed request
// line) were a 500 HTML page ("empty URI in redirect to named location"), and an unknown
// Transfer-Encoding a 501 HTML page.
import t, { type Test } from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect } from 'node:net'
import { composeNginxEnv, localEdge, makeCerts, parseResponse, rawTls, renderLikeImage, scratch, shells, startNginx, type RawResponse } from './support/edge.js'
import { freePorts } from '../support/procs.js'

const work = scratch(t, 'llm-gateway-edge-errors-')
const certs = join(work, 'certs')
makeCerts(certs)
const ca = readFileSync(join(certs, 'ca.crt'))
const [http = 0, https = 0, status = 0, closed = 0] = await freePorts(4)
const dir = join(work, 'edge')
// A gateway address nothing listens on: a real 502. Repeated origins: the map must still load.
const env = localEdge(composeNginxEnv({ CORS_ORIGINS: 'https://app.example.com,https://app.example.com/', BODY_LIMIT_BYTES: '1024' }), dir, { http, https, status }, certs)
env.GATEWAY_UPSTREAMS = `127.0.0.1:${closed}`
const [shell = ['sh']] = shells()
const rendered = renderLikeImage(shell, env, dir)
if (rendered.status !== 0) throw new Error(rendered.stderr)

// Statuses no request to this config can provoke (no auth module, no client certificates, no
// slow upstream) come from extra test-only locations that `return` the bare status, which is
// exactly how nginx raises them internally: through error_page.
const HOOKED = [401, 403, 405, 411, 429, 431, 494, 495, 496, 500, 501, 503, 504]
const CLOSES = [408]
const gatewayConf = join(rendered.confDir, 'gateway.conf')
const hooks = [...HOOKED, ...CLOSES].map((s) => `    location = /__test/status/${s} { return ${s}; }\n`).join('')
writeFileSync(gatewayConf, readFileSync(gatewayConf, 'utf8').replace(/(\n {4}location \/ \{\n {8}return 404;\n {4}\}\n\}\n\n# Internal status)/, `\n${hooks}$1`))
if (!readFileSync(gatewayConf, 'utf8').includes('/__test/status/401')) throw new Error('the test hooks did not land in the HTTPS server')

const nginx = await startNginx(rendered.confDir, `http://127.0.0.1:${status}/nginx-health`)
t.teardown(async () => { await nginx.stop() })

/** The OpenAI error contract: status, JSON content type, HTTP/1.1, the error object's four fields. */
function assertOpenAIError (t: Test, res: RawResponse, expected: { status: number, code: string, type?: string }, what: string): void {
  t.match(res.statusLine, /^HTTP\/1\.1 /, `${what}: HTTP/1.1 status line (${res.statusLine})`)
  t.equal(res.status, expected.status, `${what}: status`)
  t.match(res.headers['content-type'] ?? '', /^application\/json/, `${what}: application/json`)
  let body: { error?: { message?: unknown, type?: unknown, param?: unknown, code?: unknown } } = {}
  try {
    body = JSON.parse(res.body) as typeof body
  } catch {
    t.fail(`${what}: body is JSON: ${res.body.slice(0, 200)}`)
  }
  t.same(Object.keys(body.error ?? {}).sort(), ['code', 'message', 'param', 'type'], `${what}: an OpenAI error object`)
  t.equal(body.error?.code, expected.code, `${what}: code`)
  if (expected.type !== undefined) t.equal(body.error?.type, expected.type, `${what}: type`)
  t.type(body.error?.message, 'string')
  t.equal(body.error?.param, null)
  t.ok(res.headers['x-request-id'], `${what}: X-Request-ID`)
}

t.test('errors raised before a URI exists', async (t) => {
  const long = await rawTls(https, `GET /v1/models?${'a'.repeat(20 * 1024)} HTTP/1.1\r\nHost: localhost\r\n\r\n`, ca)
  assertOpenAIError(t, long, { status: 414, code: 'uri_too_long' }, '20 KB URI')
  const junk = await rawTls(https, 'GET /v1/models HTTP/1.1 junk\r\nHost: localhost\r\n\r\n', ca)
  assertOpenAIError(t, junk, { status: 400, code: 'bad_request' }, 'malformed request line')
  const garbage = await rawTls(https, 'G@RBAGE\r\n\r\n', ca)
  t.equal(garbage.status, 400, 'a request line that is not HTTP at all: 400')
  t.notMatch(nginx.errors(), /empty URI in redirect to named location/)
})

t.test('errors raised while the headers are read', async (t) => {
  assertOpenAIError(t, await rawTls(https, 'POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: xchunked\r\n\r\n', ca), { status: 501, code: 'not_implemented' }, 'Transfer-Encoding: xchunked')
  assertOpenAIError(t, await rawTls(https, 'POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, identity\r\n\r\n', ca), { status: 501, code: 'not_implemented' }, 'Transfer-Encoding: chunked, identity')
  assertOpenAIError(t, await rawTls(https, `GET /v1/models HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'b'.repeat(40 * 1024)}\r\n\r\n`, ca), { status: 431, code: 'request_header_too_large' }, 'a 40 KB header (nginx 494)')
  assertOpenAIError(t, await rawTls(https, 'GET /v1/models HTTP/1.1\r\n\r\n', ca), { status: 400, code: 'bad_request' }, 'HTTP/1.1 without Host')
  assertOpenAIError(t, await rawTls(https, 'POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2048\r\n\r\n', ca), { status: 413, code: 'request_too_large' }, 'body over the limit')
})

t.test('plain HTTP on the HTTPS port (nginx 497)', async (t) => {
  const raw = await new Promise<string>((resolve, reject) => {
    const s = connect(https, '127.0.0.1', () => { s.write('GET /v1/models HTTP/1.1\r\nHost: localhost\r\n\r\n') })
    let data = ''
    s.on('data', (c: Buffer) => { data += c.toString('latin1') })
    s.once('end', () => resolve(data))
    s.once('error', reject)
  })
  assertOpenAIError(t, parseResponse(raw), { status: 400, code: 'https_required' }, 'HTTP to the HTTPS port')
})

t.test('errors of routing and of the gateway replicas', async (t) => {
  assertOpenAIError(t, await rawTls(https, 'GET /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\n', ca), { status: 404, code: 'not_found', type: 'not_found_error' }, 'unknown route')
  assertOpenAIError(t, await rawTls(https, 'GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n', ca), { status: 404, code: 'not_found' }, '/metrics is not published')
  assertOpenAIError(t, await rawTls(https, 'GET /v1/models HTTP/1.1\r\nHost: localhost\r\n\r\n', ca), { status: 502, code: 'upstream_error', type: 'api_error' }, 'no replica answers')
  const internal = await rawTls(https, 'GET /__edge_error/500 HTTP/1.1\r\nHost: localhost\r\n\r\n', ca)
  assertOpenAIError(t, internal, { status: 404, code: 'not_found' }, 'the error locations are internal')
})

t.test('every other status nginx can raise', async (t) => {
  const expected: Record<number, { status: number, code: string, type: string }> = {
    401: { status: 401, code: 'invalid_api_key', type: 'authentication_error' },
    403: { status: 403, code: 'forbidden', type: 'permission_error' },
    405: { status: 405, code: 'method_not_allowed', type: 'invalid_request_error' },
    411: { status: 411, code: 'length_required', type: 'invalid_request_error' },
    429: { status: 429, code: 'rate_limit_exceeded', type: 'rate_limit_error' },
    431: { status: 431, code: 'request_header_too_large', type: 'invalid_request_error' },
    494: { status: 431, code: 'request_header_too_large', type: 'invalid_request_error' },
    495: { status: 400, code: 'client_certificate_invalid', type: 'invalid_request_error' },
    496: { status: 400, code: 'client_certificate_required', type: 'invalid_request_error' },
    500: { status: 500, code: 'internal_error', type: 'api_error' },
    501: { status: 501, code: 'not_implemented', type: 'invalid_request_error' },
    503: { status: 503, code: 'upstream_unavailable', type: 'api_error' },
    504: { status: 504, code: 'upstream_timeout', type: 'api_error' }
  }
  for (const s of HOOKED) {
    const res = await rawTls(https, `GET /__test/status/${s} HTTP/1.1\r\nHost: localhost\r\nOrigin: https://app.example.com\r\n\r\n`, ca)
    const want = expected[s]
    if (want === undefined) throw new Error(`no expectation for ${s}`)
    assertOpenAIError(t, res, want, `nginx ${s}`)
    t.equal(res.headers['access-control-allow-origin'], 'https://app.example.com', `nginx ${s}: CORS headers on the error too`)
    if (s === 429 || s === 503) t.equal(res.headers['retry-after'], '1', `nginx ${s}: Retry-After`)
  }
})

t.test('a timed-out request (408) is closed without an answer, never an HTML page', async (t) => {
  const gatewayConfText = readFileSync(gatewayConf, 'utf8')
  t.ok(gatewayConfText.includes('include snippets/json-errors.conf'), 'JSON errors in every server')
  const res = await rawTls(https, 'GET /__test/status/408 HTTP/1.1\r\nHost: localhost\r\n\r\n', ca)
  t.equal(res.raw, '', 'nginx closes the connection and sends nothing')
})

t.test('the plain HTTP listener and the status listener answer JSON too', async (t) => {
  const raw = await new Promise<string>((resolve, reject) => {
    const s = connect(http, '127.0.0.1', () => { s.write(`GET /${'x'.repeat(20 * 1024)} HTTP/1.1\r\nHost: localhost\r\n\r\n`) })
    let data = ''
    s.on('data', (c: Buffer) => { data += c.toString('latin1') })
    s.once('end', () => resolve(data))
    s.once('error', reject)
  })
  assertOpenAIError(t, parseResponse(raw), { status: 414, code: 'uri_too_long' }, 'port 80: 20 KB URI')
  const res = await fetch(`http://127.0.0.1:${status}/nowhere`)
  t.equal(res.status, 404)
  t.match(res.headers.get('content-type') ?? '', /application\/json/)
  t.match(await res.json(), { error: { code: 'not_found' } })
})
