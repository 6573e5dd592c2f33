import t from 'tap'
import { ERRORS, GatewayError, type ErrorCode } from '../../src/errors.js'
import { chunkStream } from '../../src/surfaces/openai.js'

t.test('every declared error: name equals code, status and type as declared, OpenAI body', async (t) => {
  for (const code of Object.keys(ERRORS) as ErrorCode[]) {
    const err = new GatewayError(code)
    t.equal(err.name, code)
    t.equal(err.code, code)
    t.equal(err.statusCode, ERRORS[code].status)
    t.same(Object.keys(err.toBody().error), ['message', 'type', 'param', 'code'])
    t.equal(err.toBody().error.type, ERRORS[code].type)
  }
})

t.test('statuses follow the design table', async (t) => {
  t.equal(ERRORS.invalid_api_key.status, 401)
  t.equal(ERRORS.model_not_allowed.status, 403)
  t.equal(ERRORS.request_too_large.status, 413)
  t.equal(ERRORS.rate_limit_exceeded.status, 429)
  t.equal(ERRORS.upstream_error.status, 502)
  t.equal(ERRORS.upstream_unavailable.status, 503)
  t.equal(ERRORS.upstream_timeout.status, 504)
})

t.test('the stream error event is one SSE data event without [DONE]', async (t) => {
  const ev = chunkStream.errorEvent(new GatewayError('upstream_timeout'), undefined)
  t.match(ev, /^data: \{"error":\{.*"code":"upstream_timeout"\}\}\n\n$/)
  t.notMatch(ev, /DONE/)
})
