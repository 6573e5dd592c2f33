import t from 'tap'
import { TotalTimeout, fromTransportError, fromUpstreamStatus, scrubSecrets } from '../../src/lib/upstream-errors.js'

const KEY = 'sk-upstream-very-secret-123'
const sysErr = (code: string): Error => Object.assign(new Error(code), { code })

t.test('transport errors map to 502/504 with a reason, in one ladder', async (t) => {
  const cases: Array<[unknown, number, string, string, boolean]> = [
    [sysErr('ECONNREFUSED'), 502, 'upstream_error', 'connect', true],
    [sysErr('ENOTFOUND'), 502, 'upstream_error', 'connect', true],
    [sysErr('UND_ERR_CONNECT_TIMEOUT'), 504, 'upstream_timeout', 'connect', true],
    [sysErr('UND_ERR_HEADERS_TIMEOUT'), 504, 'upstream_timeout', 'timeout', false],
    [sysErr('UND_ERR_BODY_TIMEOUT'), 504, 'upstream_timeout', 'idle_timeout', false],
    [sysErr('ECONNRESET'), 502, 'upstream_error', 'reset', false],
    [sysErr('UND_ERR_SOCKET'), 502, 'upstream_error', 'reset', false],
    [Object.assign(new Error('wrapped'), { cause: sysErr('ECONNREFUSED') }), 502, 'upstream_error', 'connect', true],
    [new TotalTimeout(), 504, 'upstream_timeout', 'timeout', false],
    [new Error('weird'), 502, 'upstream_error', 'invalid_response', false]
  ]
  for (const [err, status, code, reason, tryNext] of cases) {
    const f = fromTransportError(err)
    t.equal(f.error.statusCode, status, `${String((err as Error).message)} status`)
    t.equal(f.error.code, code)
    t.equal(f.reason, reason)
    t.equal(f.tryNext, tryNext)
  }
})

t.test('upstream 401/403 never show the upstream text', async (t) => {
  for (const status of [401, 403]) {
    const f = fromUpstreamStatus(status, {}, JSON.stringify({ error: { message: `Incorrect API key provided: ${KEY}` } }), [KEY])
    t.ok('error' in f)
    if (!('error' in f)) continue
    t.equal(f.error.statusCode, 502)
    t.equal(f.error.code, 'upstream_auth_failed')
    t.notMatch(JSON.stringify(f.error.toBody()), KEY)
    t.notMatch(f.error.message, /Incorrect/)
    t.equal(f.error.headers['x-should-retry'], 'false', 'SDKs should not retry a key the client cannot fix')
  }
})

t.test('upstream 429 keeps its wait; insufficient_quota says do not retry', async (t) => {
  const f = fromUpstreamStatus(429, { 'retry-after': '7' }, '{"error":{"message":"slow down","code":"rate_limit_exceeded"}}', [KEY])
  if (!('error' in f)) throw new Error('expected an error')
  t.equal(f.error.statusCode, 429)
  t.equal(f.error.headers['retry-after'], '7')
  t.equal(f.error.headers['retry-after-ms'], '7000')
  const q = fromUpstreamStatus(429, {}, '{"error":{"message":"quota","code":"insufficient_quota"}}', [KEY])
  if (!('error' in q)) throw new Error('expected an error')
  t.equal(q.error.code, 'insufficient_quota')
  t.equal(q.error.headers['x-should-retry'], 'false')
})

t.test('upstream 5xx: 500/502 → 502, 503 → 503, 504 → 504', async (t) => {
  for (const [status, want, code] of [[500, 502, 'upstream_error'], [502, 502, 'upstream_error'], [503, 503, 'upstream_unavailable'], [504, 504, 'upstream_timeout']] as const) {
    const f = fromUpstreamStatus(status, {}, 'oops', [KEY])
    if (!('error' in f)) throw new Error('expected an error')
    t.equal(f.error.statusCode, want)
    t.equal(f.error.code, code)
    t.equal(f.reason, 'status_5xx')
  }
})

t.test('client errors pass through with their status, type and code, scrubbed', async (t) => {
  const body = JSON.stringify({ error: { message: `context too long for key ${KEY}; Bearer abc.def`, type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' } })
  const f = fromUpstreamStatus(400, {}, body, [KEY])
  t.equal(f.reason, 'status_4xx')
  t.equal(f.tryNext, false)
  t.equal(f.error.statusCode, 400)
  const text = JSON.stringify(f.error.toBody())
  const doc = f.error.toBody()
  t.equal(doc.error.code, 'context_length_exceeded')
  t.equal(doc.error.param, 'messages')
  t.notMatch(text, KEY)
  t.notMatch(text, 'abc.def')
  const plain = fromUpstreamStatus(422, {}, '<html>nope</html>', [KEY])
  t.equal(plain.error.statusCode, 422)
  t.equal(plain.error.toBody().error.type, 'invalid_request_error')
  t.equal(plain.error.toBody().error.code, 'upstream_rejected')
  const anthropic = fromUpstreamStatus(400, {}, JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'max_tokens: field required' } }), [KEY])
  t.same(anthropic.error.toAnthropicBody(), { type: 'error', error: { type: 'invalid_request_error', message: 'max_tokens: field required' } }, 'an Anthropic error body keeps its type and message')
})

t.test('5xx answers pass the upstream retry advice on', async (t) => {
  const f = fromUpstreamStatus(503, { 'retry-after': '7', 'x-should-retry': 'false' }, '', [KEY])
  t.equal(f.error.headers['retry-after'], '7')
  t.equal(f.error.headers['x-should-retry'], 'false')
  t.equal(fromUpstreamStatus(500, {}, '', [KEY]).error.headers['retry-after'], undefined, 'nothing invented when the upstream gave none')
})

t.test('scrubSecrets removes the key, bearer tokens and sk- keys', async (t) => {
  t.equal(scrubSecrets(`a ${KEY} b`, [KEY]), 'a [redacted] b')
  t.notMatch(scrubSecrets('Authorization: Bearer xyz123', []), 'xyz123')
  t.notMatch(scrubSecrets('your key sk-proj-ABCDEFGHIJKLMNOP', []), 'ABCDEFGHIJKLMNOP')
})
