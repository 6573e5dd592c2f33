// Requests the gateway must refuse itself: each gets its OpenAI error body and never reaches the upstream.
import t, { type Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { chatBody, startTestGateway, type TestGateway } from '../support/gateway.js'
import { assertOpenAIError, injectPost } from '../support/http.js'

const BODY_LIMIT = 4096

async function setup (t: Test): Promise<TestGateway> {
  const gw = await startTestGateway({ env: { BODY_LIMIT_BYTES: String(BODY_LIMIT) } })
  t.teardown(() => gw.close())
  return gw
}

/** Sends one request and checks it was refused with this error, with no upstream request made. */
async function refused (t: Test, gw: TestGateway, send: () => Promise<LightMyRequestResponse>, status: number, type: string, code?: string): Promise<Record<string, unknown>> {
  const before = gw.mock.stats().requests
  const res = await send()
  const body = assertOpenAIError(t, res, status, type, code)
  t.equal(gw.mock.stats().requests - before, 0, 'the upstream saw no request')
  return body.error as Record<string, unknown>
}

const chat = '/v1/chat/completions'

t.test('body syntax', async (t) => {
  const gw = await setup(t)

  t.test('invalid JSON: 400 invalid_json', async (t) => {
    await refused(t, gw, () => injectPost(gw, chat, '{"model": "gpt-4.1", "messages": ['), 400, 'invalid_request_error', 'invalid_json')
  })
  t.test('empty body: 400 invalid_json', async (t) => {
    await refused(t, gw, () => injectPost(gw, chat, ''), 400, 'invalid_request_error', 'invalid_json')
  })
  t.test('a JSON array instead of an object: 400', async (t) => {
    await refused(t, gw, () => injectPost(gw, chat, '[1,2,3]'), 400, 'invalid_request_error')
  })
  t.test('text/plain: 415 unsupported_media_type', async (t) => {
    await refused(t, gw, () => injectPost(gw, chat, JSON.stringify(chatBody()), { 'content-type': 'text/plain' }), 415, 'invalid_request_error', 'unsupported_media_type')
  })
  t.test('form-urlencoded: 415 unsupported_media_type', async (t) => {
    await refused(t, gw, () => injectPost(gw, chat, 'model=gpt-4.1', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'invalid_request_error', 'unsupported_media_type')
  })
  t.test(`a body over BODY_LIMIT_BYTES (${BODY_LIMIT}): 413 request_too_large`, async (t) => {
    const big = JSON.stringify(chatBody({ messages: [{ role: 'user', content: 'x'.repeat(BODY_LIMIT * 2) }] }))
    await refused(t, gw, () => injectPost(gw, chat, big), 413, 'invalid_request_error', 'request_too_large')
  })
  t.test('a body just under the limit is accepted', async (t) => {
    const body = JSON.stringify(chatBody({ messages: [{ role: 'user', content: 'x'.repeat(BODY_LIMIT - 200) }] }))
    t.ok(body.length < BODY_LIMIT)
    const res = await injectPost(gw, chat, body)
    t.equal(res.statusCode, 200)
  })
})

t.test('schema', async (t) => {
  const gw = await setup(t)

  t.test('missing model: 400 missing_required_parameter, param model', async (t) => {
    const err = await refused(t, gw, () => injectPost(gw, chat, { messages: [{ role: 'user', content: 'hi' }] }), 400, 'invalid_request_error', 'missing_required_parameter')
    t.equal(err.param, 'model')
  })
  t.test('missing messages: 400 missing_required_parameter, param messages', async (t) => {
    const err = await refused(t, gw, () => injectPost(gw, chat, { model: 'gpt-4.1' }), 400, 'invalid_request_error', 'missing_required_parameter')
    t.equal(err.param, 'messages')
  })
  t.test('messages not an array: 400, param messages', async (t) => {
    const err = await refused(t, gw, () => injectPost(gw, chat, chatBody({ messages: 'hello' })), 400, 'invalid_request_error', 'invalid_request')
    t.equal(err.param, 'messages')
  })
  t.test('messages an empty array: 400, param messages', async (t) => {
    const err = await refused(t, gw, () => injectPost(gw, chat, chatBody({ messages: [] })), 400, 'invalid_request_error', 'invalid_request')
    t.equal(err.param, 'messages')
  })
  t.test('temperature "hot" is not coerced: 400, param temperature', async (t) => {
    const err = await refused(t, gw, () => injectPost(gw, chat, chatBody({ temperature: 'hot' })), 400, 'invalid_request_error', 'invalid_request')
    t.equal(err.param, 'temperature')
  })
  t.test('temperature "1" (a numeric string) is not coerced either', async (t) => {
    await refused(t, gw, () => injectPost(gw, chat, chatBody({ temperature: '1' })), 400, 'invalid_request_error', 'invalid_request')
  })
  t.test('stream "yes" is not coerced: 400, param stream', async (t) => {
    const err = await refused(t, gw, () => injectPost(gw, chat, chatBody({ stream: 'yes' })), 400, 'invalid_request_error', 'invalid_request')
    t.equal(err.param, 'stream')
  })
  t.test('stream "true" (a string) is not coerced', async (t) => {
    await refused(t, gw, () => injectPost(gw, chat, chatBody({ stream: 'true' })), 400, 'invalid_request_error', 'invalid_request')
  })
  t.test('model given as a number: 400', async (t) => {
    await refused(t, gw, () => injectPost(gw, chat, chatBody({ model: 41 })), 400, 'invalid_request_error', 'invalid_request')
  })
  t.test('embeddings without input: 400 missing_required_parameter', async (t) => {
    const err = await refused(t, gw, () => injectPost(gw, '/v1/embeddings', { model: 'text-embedding-3-small' }), 400, 'invalid_request_error', 'missing_required_parameter')
    t.equal(err.param, 'input')
  })
  t.test('unknown model: 400 model_not_found, param model', async (t) => {
    const err = await refused(t, gw, () => injectPost(gw, chat, chatBody({ model: 'gpt-99-imaginary' })), 400, 'invalid_request_error', 'model_not_found')
    t.equal(err.param, 'model')
  })
})

t.test('routes', async (t) => {
  const gw = await setup(t)

  t.test('unknown route: 404 not_found_error', async (t) => {
    await refused(t, gw, () => injectPost(gw, '/v1/does-not-exist', chatBody()), 404, 'not_found_error', 'not_found')
  })
  t.test('unknown route outside /v1: 404 not_found_error', async (t) => {
    await refused(t, gw, async () => await gw.app.inject({ method: 'GET', url: '/nothing/here' }), 404, 'not_found_error', 'not_found')
  })
  t.test('GET on a POST route: 404 not_found_error (a route is its method and path)', async (t) => {
    await refused(t, gw, async () => await gw.app.inject({ method: 'GET', url: chat, headers: gw.auth() }), 404, 'not_found_error', 'not_found')
  })
})

t.test('authentication and permission', async (t) => {
  const gw = await setup(t)

  t.test('missing key: 401 authentication_error', async (t) => {
    await refused(t, gw, async () => await gw.app.inject({ method: 'POST', url: chat, headers: { 'content-type': 'application/json' }, payload: chatBody() }), 401, 'authentication_error', 'invalid_api_key')
  })
  t.test('unknown key: 401 authentication_error', async (t) => {
    await refused(t, gw, () => injectPost(gw, chat, chatBody(), { authorization: 'Bearer sk-gw-unknown-key-aaaaaaaaaaaaaaaaaaaa' }), 401, 'authentication_error', 'invalid_api_key')
  })
  t.test('empty bearer token: 401', async (t) => {
    await refused(t, gw, () => injectPost(gw, chat, chatBody(), { authorization: 'Bearer ' }), 401, 'authentication_error', 'invalid_api_key')
  })
  t.test('a valid key under another scheme (Basic): 401', async (t) => {
    await refused(t, gw, () => injectPost(gw, chat, chatBody(), { authorization: `Basic ${gw.keys.main as string}` }), 401, 'authentication_error', 'invalid_api_key')
  })
  t.test('a valid key with no scheme: 401', async (t) => {
    await refused(t, gw, () => injectPost(gw, chat, chatBody(), { authorization: gw.keys.main as string }), 401, 'authentication_error', 'invalid_api_key')
  })
  t.test('the upstream key itself is not a gateway key: 401', async (t) => {
    await refused(t, gw, () => injectPost(gw, chat, chatBody(), { authorization: `Bearer ${gw.config.upstreams[0]?.apiKey as string}` }), 401, 'authentication_error', 'invalid_api_key')
  })
  t.test('auth comes before validation: a bad body with no key is 401', async (t) => {
    await refused(t, gw, async () => await gw.app.inject({ method: 'POST', url: chat, headers: { 'content-type': 'application/json' }, payload: '{not json' }), 401, 'authentication_error', 'invalid_api_key')
  })
  t.test('/v1/models without a key: 401', async (t) => {
    await refused(t, gw, async () => await gw.app.inject({ method: 'GET', url: '/v1/models' }), 401, 'authentication_error', 'invalid_api_key')
  })
  t.test('embed-only key on gpt-4.1: 403 permission_error', async (t) => {
    const err = await refused(t, gw, () => injectPost(gw, chat, chatBody(), gw.auth('embed-only')), 403, 'permission_error', 'model_not_allowed')
    t.equal(err.param, 'model')
  })
  t.test('embed-only key on its own model is served', async (t) => {
    const before = gw.mock.stats().requests
    const res = await injectPost(gw, '/v1/embeddings', { model: 'text-embedding-3-small', input: 'hi' }, gw.auth('embed-only'))
    t.equal(res.statusCode, 200)
    t.equal(gw.mock.stats().requests - before, 1)
  })
})

t.test('hostile bodies', async (t) => {
  const gw = await setup(t)

  t.test('a top-level __proto__ key: 400, and no prototype pollution', async (t) => {
    const raw = '{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}],"__proto__":{"polluted":"yes"}}'
    await refused(t, gw, () => injectPost(gw, chat, raw), 400, 'invalid_request_error', 'invalid_json')
    t.equal(({} as Record<string, unknown>).polluted, undefined)
  })
  t.test('a nested __proto__ key: 400', async (t) => {
    const raw = '{"model":"gpt-4.1","messages":[{"role":"user","content":"hi","__proto__":{"polluted":"yes"}}]}'
    await refused(t, gw, () => injectPost(gw, chat, raw), 400, 'invalid_request_error', 'invalid_json')
    t.equal(({} as Record<string, unknown>).polluted, undefined)
  })
  t.test('constructor.prototype: 400', async (t) => {
    const raw = '{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}],"constructor":{"prototype":{"polluted":"yes"}}}'
    await refused(t, gw, () => injectPost(gw, chat, raw), 400, 'invalid_request_error', 'invalid_json')
    t.equal(({} as Record<string, unknown>).polluted, undefined)
  })
  t.test('1000-deep nesting in a field: 400 body_too_deep, and the app still serves', async (t) => {
    const raw = `{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}],"metadata":${'['.repeat(1000)}${']'.repeat(1000)}}`
    t.ok(raw.length < BODY_LIMIT, 'under the body limit, so depth is what is refused')
    await refused(t, gw, () => injectPost(gw, chat, raw), 400, 'invalid_request_error', 'body_too_deep')
    const ok = await injectPost(gw, chat, chatBody())
    t.equal(ok.statusCode, 200)
  })
  t.test('brackets inside strings do not count as nesting', async (t) => {
    const res = await injectPost(gw, chat, chatBody({ messages: [{ role: 'user', content: '['.repeat(500) }] }))
    t.equal(res.statusCode, 200)
  })
})
