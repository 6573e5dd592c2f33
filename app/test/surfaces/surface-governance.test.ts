// Every new route keeps the chat route's guarantees: authentication, per-key request limits, spend
// budgets, allowed models, the model type check, errors in the format its clients parse (Anthropic's
// on /v1/messages*, OpenAI's elsewhere), and the upstream key never shown to anyone.
import t, { type Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { generateKey, hashKey } from '../../src/lib/keys.js'
import { startTestGateway, UPSTREAM_KEY, type TestGateway, type TestGatewayOptions } from '../support/gateway.js'
import { assertOpenAIError, type Json } from '../support/http.js'
import { FORM_TYPE, multipart } from './support.js'

type Format = 'openai' | 'anthropic'

interface Route {
  method: 'GET' | 'POST' | 'DELETE'
  path: string
  format: Format
  /** the request body naming `model` (the route's usual model when omitted); none for body-less routes */
  body?: (model?: string) => { payload: Buffer, type: string }
  /** a model of a type this route refuses */
  wrongModel?: string
}

const json = (doc: Json): { payload: Buffer, type: string } => ({ payload: Buffer.from(JSON.stringify(doc)), type: 'application/json' })
const file = (name: string, filename: string, type: string): { name: string, filename: string, type: string, bytes: Buffer } => ({ name, filename, type, bytes: Buffer.alloc(4096, 7) })
const RESP_ID = 'resp_0123456789abcdef'

const ROUTES: Route[] = [
  { method: 'POST', path: '/v1/responses', format: 'openai', body: (m = 'gpt-4.1') => json({ model: m, input: 'hello' }), wrongModel: 'text-embedding-3-small' },
  { method: 'POST', path: '/v1/responses/input_tokens', format: 'openai', body: (m = 'gpt-4.1') => json({ model: m, input: 'hello' }), wrongModel: 'text-embedding-3-small' },
  { method: 'GET', path: `/v1/responses/${RESP_ID}`, format: 'openai' },
  { method: 'DELETE', path: `/v1/responses/${RESP_ID}`, format: 'openai' },
  { method: 'POST', path: `/v1/responses/${RESP_ID}/cancel`, format: 'openai' },
  { method: 'GET', path: `/v1/responses/${RESP_ID}/input_items`, format: 'openai' },
  { method: 'POST', path: '/v1/messages', format: 'anthropic', body: (m = 'claude-sonnet-4.5') => json({ model: m, max_tokens: 64, messages: [{ role: 'user', content: 'hello' }] }), wrongModel: 'text-embedding-3-small' },
  { method: 'POST', path: '/v1/messages/count_tokens', format: 'anthropic', body: (m = 'claude-sonnet-4.5') => json({ model: m, messages: [{ role: 'user', content: 'hello' }] }), wrongModel: 'text-embedding-3-small' },
  { method: 'POST', path: '/v1/moderations', format: 'openai', body: (m = 'omni-moderation-latest') => json({ model: m, input: 'hello' }), wrongModel: 'gpt-4.1' },
  { method: 'POST', path: '/v1/images/generations', format: 'openai', body: (m = 'gpt-image-1') => json({ model: m, prompt: 'a cat' }), wrongModel: 'gpt-4.1' },
  { method: 'POST', path: '/v1/images/edits', format: 'openai', body: (m = 'gpt-image-1') => ({ payload: multipart({ model: m, prompt: 'a hat' }, [file('image', 'cat.png', 'image/png')]), type: FORM_TYPE }), wrongModel: 'gpt-4.1' },
  { method: 'POST', path: '/v1/audio/speech', format: 'openai', body: (m = 'gpt-4o-mini-tts') => json({ model: m, input: 'hello', voice: 'alloy' }), wrongModel: 'whisper-1' },
  { method: 'POST', path: '/v1/audio/transcriptions', format: 'openai', body: (m = 'whisper-1') => ({ payload: multipart({ model: m }, [file('file', 'a.wav', 'audio/wav')]), type: FORM_TYPE }), wrongModel: 'gpt-4o-mini-tts' },
  { method: 'POST', path: '/v1/audio/translations', format: 'openai', body: (m = 'whisper-1') => ({ payload: multipart({ model: m }, [file('file', 'a.wav', 'audio/wav')]), type: FORM_TYPE }), wrongModel: 'gpt-4o-mini-tts' }
]

/** Sends `route`'s request with the client's credentials in `auth` (the Messages routes also get an anthropic-version). */
async function send (gw: TestGateway, route: Route, auth: Record<string, string>, model?: string): Promise<LightMyRequestResponse> {
  const body = route.body?.(model)
  return await gw.app.inject({
    method: route.method,
    url: route.path,
    headers: { ...auth, ...(body !== undefined ? { 'content-type': body.type } : {}), ...(route.format === 'anthropic' ? { 'anthropic-version': '2023-06-01' } : {}) },
    ...(body !== undefined ? { payload: body.payload } : {})
  })
}

/** Asserts Anthropic's error shape: `{"type":"error","error":{"type","message"}}` and nothing else. */
function assertAnthropicError (t: Test, res: LightMyRequestResponse, status: number, type: string): Json {
  t.equal(res.statusCode, status, `status ${status}`)
  t.match(String(res.headers['content-type']), /^application\/json/)
  let body: Json = {}
  try { body = JSON.parse(res.body) as Json } catch { t.fail(`not JSON: ${res.body.slice(0, 200)}`) }
  t.same(Object.keys(body).sort(), ['error', 'type'])
  t.equal(body.type, 'error')
  t.same(Object.keys(body.error ?? {}).sort(), ['message', 'type'])
  t.equal(body.error?.type, type, `error type ${type}`)
  return body
}

/** The error in the route's format: OpenAI's type and code, or Anthropic's type for the same status. */
function assertError (t: Test, route: Route, res: LightMyRequestResponse, status: number, openaiType: string, code: string, anthropicType: string): void {
  if (route.format === 'anthropic') assertAnthropicError(t, res, status, anthropicType)
  else assertOpenAIError(t, res, status, openaiType, code)
}

/** A gateway with one key per name given (`id` → options such as "rpm=2"), plus "main" without limits. */
async function withKeys (t: Test, keys: Record<string, string>, opts: TestGatewayOptions = {}): Promise<{ gw: TestGateway, auth: (id: string) => Record<string, string> }> {
  const plain: Record<string, string> = {}
  const entries = Object.entries({ main: '', ...keys }).map(([id, options]) => {
    plain[id] = generateKey()
    return `${id}:${hashKey(plain[id] as string)}${options === '' ? '' : ' ' + options}`
  })
  const gw = await startTestGateway({ ...opts, env: { GATEWAY_KEYS: entries.join(','), ...opts.env } })
  t.teardown(() => gw.close())
  return { gw, auth: (id) => ({ authorization: `Bearer ${plain[id] as string}` }) }
}

t.test('no key or a wrong key: 401 in the route\'s format, nothing sent upstream', async (t) => {
  const { gw } = await withKeys(t, {})
  for (const route of ROUTES) {
    t.test(`${route.method} ${route.path}`, async (t) => {
      assertError(t, route, await send(gw, route, {}), 401, 'authentication_error', 'invalid_api_key', 'authentication_error')
      assertError(t, route, await send(gw, route, { authorization: 'Bearer sk-gw-not-a-key' }), 401, 'authentication_error', 'invalid_api_key', 'authentication_error')
      assertError(t, route, await send(gw, route, { 'x-api-key': 'sk-gw-not-a-key' }), 401, 'authentication_error', 'invalid_api_key', 'authentication_error')
    })
  }
  t.equal(gw.mock.stats().requests, 0)
})

t.test('per-key request limit (rpm) on every route: 429 with retry-after once the minute\'s requests are used', async (t) => {
  const keys = Object.fromEntries(ROUTES.map((_, i) => [`rl${i}`, 'rpm=2']))
  const { gw, auth } = await withKeys(t, keys)
  for (const [i, route] of ROUTES.entries()) {
    t.test(`${route.method} ${route.path}`, async (t) => {
      const before = gw.mock.stats().requests
      for (let n = 0; n < 2; n++) t.not((await send(gw, route, auth(`rl${i}`))).statusCode, 429, `request ${n + 1} within the limit`)
      t.equal(gw.mock.stats().requests, before + 2, 'both reached the upstream')
      const over = await send(gw, route, auth(`rl${i}`))
      assertError(t, route, over, 429, 'rate_limit_error', 'rate_limit_exceeded', 'rate_limit_error')
      t.match(over.headers['retry-after'], /^\d+$/, 'retry-after in seconds')
      t.equal(over.headers['x-ratelimit-limit-requests'], '2')
      t.equal(gw.mock.stats().requests, before + 2, 'the refused request never reached the upstream')
    })
  }
})

t.test('a spent daily budget refuses every route, before the upstream', async (t) => {
  const { gw, auth } = await withKeys(t, { thrifty: 'budget=0.000001' })
  // one chat answer (3 prompt + 5 completion tokens of gpt-4.1) spends more than the budget
  const spend = await gw.app.inject({ method: 'POST', url: '/v1/chat/completions', headers: { ...auth('thrifty'), 'content-type': 'application/json' }, payload: { model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }] } })
  t.equal(spend.statusCode, 200)
  const before = gw.mock.stats().requests
  for (const route of ROUTES) {
    t.test(`${route.method} ${route.path}`, async (t) => {
      const res = await send(gw, route, auth('thrifty'))
      assertError(t, route, res, 429, 'rate_limit_error', 'insufficient_quota', 'rate_limit_error')
      t.equal(res.headers['x-should-retry'], 'false')
    })
  }
  t.equal(gw.mock.stats().requests, before, 'no refused request reached the upstream')
})

t.test('allowed models (models=) on every route that names one: 403, the permission error', async (t) => {
  const { gw, auth } = await withKeys(t, { 'embed-only': 'models=text-embedding-3-small', 'gpt-only': 'models=gpt-4.1' })
  for (const route of ROUTES.filter((r) => r.body !== undefined)) {
    t.test(`${route.method} ${route.path}`, async (t) => {
      assertError(t, route, await send(gw, route, auth('embed-only')), 403, 'permission_error', 'model_not_allowed', 'permission_error')
    })
  }
  t.equal(gw.mock.stats().requests, 0, 'nothing refused reached the upstream')
  const responses = ROUTES[0] as Route
  t.equal((await send(gw, responses, auth('gpt-only'))).statusCode, 200, 'a key allowed gpt-4.1 uses it on /v1/responses')
  assertAnthropicError(t, await send(gw, ROUTES[6] as Route, auth('gpt-only')), 403, 'permission_error')
})

t.test('a model of the wrong type: 400 model_wrong_type (an embedding model on /v1/responses, …)', async (t) => {
  const { gw, auth } = await withKeys(t, {})
  for (const route of ROUTES.filter((r) => r.wrongModel !== undefined)) {
    t.test(`${route.method} ${route.path} with ${route.wrongModel as string}`, async (t) => {
      const res = await send(gw, route, auth('main'), route.wrongModel)
      assertError(t, route, res, 400, 'invalid_request_error', 'model_wrong_type', 'invalid_request_error')
      t.match(res.body, /model/)
    })
  }
  t.equal(gw.mock.stats().requests, 0)
})

t.test('unknown routes under /v1/messages answer in Anthropic\'s format, others in OpenAI\'s', async (t) => {
  const { gw, auth } = await withKeys(t, {})
  const anthropic = await gw.app.inject({ method: 'POST', url: '/v1/messages/batches', headers: { ...auth('main'), 'content-type': 'application/json' }, payload: '{}' })
  assertAnthropicError(t, anthropic, 404, 'not_found_error')
  const openai = await gw.app.inject({ method: 'POST', url: '/v1/responses/compact/x/y', headers: { ...auth('main'), 'content-type': 'application/json' }, payload: '{}' })
  assertOpenAIError(t, openai, 404, 'not_found_error')
  const badJson = await gw.app.inject({ method: 'POST', url: '/v1/messages', headers: { ...auth('main'), 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, payload: '{"model":' })
  assertAnthropicError(t, badJson, 400, 'invalid_request_error')
  const missing = await gw.app.inject({ method: 'POST', url: '/v1/messages', headers: { ...auth('main'), 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, payload: { model: 'claude-sonnet-4.5', messages: [{ role: 'user', content: 'x' }] } })
  assertAnthropicError(t, missing, 400, 'invalid_request_error')
  t.match(JSON.parse(missing.body), { error: { message: /max_tokens/ } })
})

t.test('canary sweep: the upstream key is in no response, header, log line or metric, whatever the upstream answers', async (t) => {
  const { gw, auth } = await withKeys(t, {}, { mock: { fault_status_body: `Incorrect API key provided: ${UPSTREAM_KEY}` } })
  const seen: string[] = []
  const record = (label: string, res: LightMyRequestResponse): void => { seen.push(`${label}\n${JSON.stringify(res.headers)}\n${res.body}`) }
  const statuses = new Set<number>()
  // A stored response for the {id} routes to find, so their success paths run too.
  const created = await send(gw, ROUTES[0] as Route, auth('main'))
  const id = (JSON.parse(created.body) as { id: string }).id
  // DELETE last, so the other {id} routes find the response on the first pass
  const withId = ROUTES.map((r) => ({ ...r, path: r.path.replace(RESP_ID, id) })).sort((a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE'))
  for (const fault of ['none', '400', '401', '403', '404', '422', '429', '500', 'invalid_json', 'cut'] as const) {
    gw.mock.setConfig({ fault })
    for (const route of withId) {
      const res = await send(gw, route, auth('main'))
      statuses.add(res.statusCode)
      record(`${fault} ${route.method} ${route.path}`, res)
      if (fault === 'none') t.equal(res.statusCode, 200, `${route.method} ${route.path} answers`)
    }
    // streams too, cut or whole
    for (const route of withId.filter((r) => r.path === '/v1/responses' || r.path === '/v1/messages')) {
      const doc = JSON.parse((route.body?.() as { payload: Buffer }).payload.toString()) as Json
      const res = await gw.app.inject({ method: 'POST', url: route.path, headers: { ...auth('main'), 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, payload: { ...doc, stream: true } })
      record(`${fault} stream ${route.path}`, res)
    }
    gw.mock.reset()
  }
  t.ok(statuses.has(200) && statuses.has(502) && statuses.has(400) && statuses.has(429), `the sweep saw answers and errors (${[...statuses].sort().join(', ')})`)
  t.ok(gw.mock.stats().requests === 0, 'mock stats reset after the sweep')
  const secret = UPSTREAM_KEY
  // the key's distinctive part, in case something quotes it cut or re-prefixed
  const tail = secret.slice(secret.indexOf('SECRET'))
  const leaks = seen.filter((s) => s.includes(secret) || s.includes(tail))
  t.same(leaks.map((l) => l.split('\n')[0]), [], 'no response carries the upstream key')
  t.ok(seen.some((s) => s.includes('Incorrect API key provided: [redacted]')), 'upstream errors that quoted the key were passed on scrubbed')
  const logs = gw.logs()
  t.ok(logs.split('\n').filter((l) => l !== '').length >= seen.length, 'every request was logged')
  t.notOk(logs.includes(secret) || logs.includes(tail), 'no log line carries the upstream key')
  const metrics = await gw.app.metrics.registry.metrics()
  t.notOk(metrics.includes(secret) || metrics.includes(tail), '/metrics does not carry the upstream key')
})
