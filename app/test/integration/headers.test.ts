// Header allow-lists in both directions, request ids, and a body that cannot redirect the relay.
import t, { type Test } from 'tap'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { UPSTREAM_KEY, chatBody, startTestGateway, type TestGateway } from '../support/gateway.js'
import { injectPost } from '../support/http.js'

const chat = '/v1/chat/completions'
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

async function setup (t: Test): Promise<TestGateway> {
  const gw = await startTestGateway()
  t.teardown(() => gw.close())
  return gw
}

/** Headers of the last request the mock received. */
function upstreamSaw (gw: TestGateway): IncomingHttpHeaders {
  const recent = gw.mock.stats().recent
  return recent[recent.length - 1]?.headers ?? {}
}

/** A raw node:http POST, which (unlike undici) lets a client send hop-by-hop headers. */
async function rawPost (base: string, path: string, headers: Record<string, string>, body: string, chunked = false): Promise<{ status: number, headers: IncomingHttpHeaders, body: string }> {
  const url = new URL(path, base)
  return await new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: chunked ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { text += c })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    if (chunked) {
      // two writes without a content-length: the body goes out chunked
      req.write(body.slice(0, 10))
      req.end(body.slice(10))
    } else {
      req.end(body)
    }
  })
}

t.test('the upstream gets the gateway\'s upstream key, never the client\'s gateway key', async (t) => {
  const gw = await setup(t)
  const res = await injectPost(gw, chat, chatBody())
  t.equal(res.statusCode, 200)
  const seen = upstreamSaw(gw)
  t.equal(seen.authorization, `Bearer ${UPSTREAM_KEY}`)
  t.notOk(JSON.stringify(seen).includes(gw.keys.main as string), 'the gateway key appears in no upstream header')
})

t.test('a sane x-request-id reaches the upstream and comes back', async (t) => {
  const gw = await setup(t)
  const res = await injectPost(gw, chat, chatBody(), { 'x-request-id': 'client-req-42.a_b:c' })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['x-request-id'], 'client-req-42.a_b:c')
  t.equal(upstreamSaw(gw)['x-request-id'], 'client-req-42.a_b:c')
})

t.test('without x-request-id a new one is made, sent upstream and returned', async (t) => {
  const gw = await setup(t)
  const res = await injectPost(gw, chat, chatBody())
  const id = res.headers['x-request-id']
  t.match(id, UUID_RE)
  t.equal(upstreamSaw(gw)['x-request-id'], id)
  t.not(id, (await injectPost(gw, chat, chatBody())).headers['x-request-id'], 'a fresh id for each request')
})

t.test('an insane x-request-id is replaced by a new one', async (t) => {
  const gw = await setup(t)
  for (const bad of ['has spaces in it', 'x'.repeat(300), 'semi;colon', '<script>']) {
    const res = await injectPost(gw, chat, chatBody(), { 'x-request-id': bad })
    t.equal(res.statusCode, 200)
    t.match(res.headers['x-request-id'], UUID_RE, `"${bad.slice(0, 20)}" replaced`)
    t.equal(upstreamSaw(gw)['x-request-id'], res.headers['x-request-id'])
  }
  // also on errors the gateway answers itself
  const refused = await injectPost(gw, chat, chatBody(), { authorization: 'Bearer nope', 'x-request-id': 'err-req-1' })
  t.equal(refused.statusCode, 401)
  t.equal(refused.headers['x-request-id'], 'err-req-1')
})

t.test('hop-by-hop and dangerous client headers are not forwarded and cause no 500', async (t) => {
  const gw = await setup(t)
  const base = await gw.listen()
  const dangerous = {
    connection: 'keep-alive, x-foo',
    'keep-alive': 'timeout=5, max=100',
    'x-foo': 'hop-by-hop by the connection header',
    upgrade: 'h2c',
    cookie: 'session=client-secret',
    'x-forwarded-for': '6.6.6.6',
    'x-forwarded-host': 'evil.example',
    'proxy-authorization': 'Basic c2VjcmV0OnNlY3JldA==',
    'x-portkey-custom-host': 'http://169.254.169.254',
    'x-upstream-url': 'http://169.254.169.254/latest',
    'x-api-key': 'sk-client-supplied-0000000000',
    te: 'trailers'
  }
  for (const chunked of [false, true]) {
    const res = await rawPost(base, chat, { 'content-type': 'application/json', ...gw.auth(), ...dangerous }, JSON.stringify(chatBody()), chunked)
    t.equal(res.status, 200, `served (${chunked ? 'chunked body' : 'content-length body'})`)
    const seen = upstreamSaw(gw)
    for (const name of ['keep-alive', 'x-foo', 'upgrade', 'cookie', 'x-forwarded-for', 'x-forwarded-host', 'proxy-authorization', 'x-portkey-custom-host', 'x-upstream-url', 'x-api-key', 'te']) {
      t.equal(seen[name], undefined, `${name} not forwarded`)
    }
    t.notOk(String(seen.connection ?? '').includes('x-foo'), 'connection header not copied')
    t.equal(seen['transfer-encoding'], undefined, 'the upstream body is not chunked by the client\'s say-so')
    t.equal(seen['content-length'], String(Buffer.byteLength(JSON.stringify(chatBody()))), 'the upstream gets a content-length')
    t.equal(seen.authorization, `Bearer ${UPSTREAM_KEY}`)
  }
  t.equal(gw.mock.stats().requests, 2)
})

const UPSTREAM_ONLY = ['set-cookie', 'openai-organization']

/**
 * The headers both the mock and the gateway set carry the gateway's values on the first request
 * of a fresh gateway (the mock sends server: mock-upstream, x-ratelimit-* 10000/9999/6ms and
 * x-request-id mock-1).
 */
function gatewaysOwn (t: Test, gw: TestGateway, headers: Record<string, unknown>): void {
  t.equal(headers.server, undefined, 'no server header')
  t.equal(headers['x-ratelimit-limit-requests'], String(gw.config.rateLimitRpm), 'the key\'s own request limit')
  t.equal(headers['x-ratelimit-remaining-requests'], String(gw.config.rateLimitRpm - 1), 'its own remaining count')
  t.match(headers['x-ratelimit-reset-requests'], /^(\d+m)?\d+s$/, 'its own reset, in whole seconds')
  t.match(headers['x-request-id'], UUID_RE, 'the gateway\'s request id')
}

t.test('the client sees none of the upstream\'s private headers (JSON answer)', async (t) => {
  const gw = await setup(t)
  const res = await injectPost(gw, chat, chatBody())
  t.equal(res.statusCode, 200)
  for (const name of UPSTREAM_ONLY) t.equal(res.headers[name], undefined, `no ${name}`)
  gatewaysOwn(t, gw, res.headers)
})

t.test('the client sees none of the upstream\'s private headers (stream)', async (t) => {
  const gw = await setup(t)
  const res = await injectPost(gw, chat, chatBody({ stream: true }))
  t.equal(res.statusCode, 200)
  t.match(String(res.headers['content-type']), /^text\/event-stream/)
  for (const name of UPSTREAM_ONLY) t.equal(res.headers[name], undefined, `no ${name}`)
  gatewaysOwn(t, gw, res.headers)
})

t.test('x-ratelimit-* on answers are the gateway\'s own per-key limit', async (t) => {
  const gw = await setup(t)
  const limited = await injectPost(gw, chat, chatBody(), gw.auth('limited'))
  t.equal(limited.statusCode, 200)
  t.equal(limited.headers['x-ratelimit-limit-requests'], '3', 'the limited key\'s rpm')
  t.equal(limited.headers['x-ratelimit-remaining-requests'], '2')
  const main = await injectPost(gw, chat, chatBody())
  t.equal(main.headers['x-ratelimit-limit-requests'], String(gw.config.rateLimitRpm), 'the default rpm')
})

t.test('base_url / api_key in the body never change where or how the gateway sends', async (t) => {
  const gw = await setup(t)
  const res = await injectPost(gw, chat, chatBody({
    base_url: 'http://127.0.0.1:1/v1',
    api_base: 'http://127.0.0.1:1/v1',
    baseURL: 'http://127.0.0.1:1/v1',
    api_key: 'sk-client-body-key-000000000000',
    headers: { authorization: 'Bearer sk-client-body-key-000000000000' },
    extra_headers: { 'x-upstream-url': 'http://127.0.0.1:1' }
  }))
  t.equal(res.statusCode, 200, 'answered by the configured upstream')
  t.equal(gw.mock.stats().requests, 1, 'the mock got the request')
  t.equal(upstreamSaw(gw).authorization, `Bearer ${UPSTREAM_KEY}`, 'with the gateway\'s upstream key')
  t.equal(upstreamSaw(gw)['x-upstream-url'], undefined)
})
