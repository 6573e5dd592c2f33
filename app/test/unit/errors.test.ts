// The error catalogue: each declared code is the error it produces (name, code, status, type,
// body), its status agrees with its type, and no code is declared that nothing sends.
import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { ERRORS, GatewayError, renderError, type ErrorCode, type OpenAIErrorType } from '../../src/errors.js'
import { chunkStream } from '../../src/surfaces/openai.js'
import { appDir, repoDir } from '../support/procs.js'

const codes = Object.keys(ERRORS) as ErrorCode[]

t.test('every declared code produces a GatewayError named after it, with its status, type and message', async (t) => {
  for (const code of codes) {
    const spec = ERRORS[code]
    const err = new GatewayError(code)
    t.equal(err.name, code, `${code}: name`)
    t.equal(err.code, code, `${code}: code`)
    t.equal(err.statusCode, spec.status, `${code}: status`)
    t.equal(err.type, spec.type, `${code}: type`)
    const body = JSON.parse(renderError('openai', err)) as { error: Record<string, unknown> }
    t.same(body, { error: { message: spec.message, type: spec.type, param: null, code } }, `${code}: the OpenAI body on the wire`)
  }
})

// OpenAI's own pairing of error types and statuses: the SDKs pick the exception class and retry
// policy from the status, and clients that read the type must hear the same story. One exception:
// nginx's 501 (a request feature it does not implement, such as an unknown Transfer-Encoding) is
// the client's doing.
const STATUSES: Record<OpenAIErrorType, (status: number) => boolean> = {
  authentication_error: (s) => s === 401,
  permission_error: (s) => s === 403,
  not_found_error: (s) => s === 404,
  rate_limit_error: (s) => s === 429,
  invalid_request_error: (s) => (s >= 400 && s < 500 && ![401, 403, 404, 429].includes(s)) || s === 501,
  api_error: (s) => s >= 500 && s < 600
}

t.test('each code\'s status is one its type allows', async (t) => {
  for (const code of codes) {
    const { status, type } = ERRORS[code]
    t.ok(STATUSES[type](status), `${code}: ${status} ${type}`)
  }
})

t.test('statuses follow the design table', async (t) => {
  t.equal(ERRORS.invalid_api_key.status, 401)
  t.equal(ERRORS.model_not_allowed.status, 403)
  t.equal(ERRORS.not_found.status, 404)
  t.equal(ERRORS.request_too_large.status, 413)
  t.equal(ERRORS.rate_limit_exceeded.status, 429)
  t.equal(ERRORS.insufficient_quota.status, 429)
  t.equal(ERRORS.upstream_error.status, 502)
  t.equal(ERRORS.upstream_auth_failed.status, 502)
  t.equal(ERRORS.upstream_unavailable.status, 503)
  t.equal(ERRORS.upstream_timeout.status, 504)
})

/** The gateway's own source: every .ts file of src/ but the catalogue itself and the mock upstream, comments dropped. */
function gatewaySource (): string {
  const srcDir = join(appDir, 'src')
  let out = ''
  for (const entry of readdirSync(srcDir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name)
    if (!entry.isFile() || !path.endsWith('.ts') || path === join(srcDir, 'errors.ts') || path.startsWith(join(srcDir, 'mock-upstream'))) continue
    out += readFileSync(path, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|\s)\/\/.*$/gm, '$1') + '\n'
  }
  return out
}

t.test('every declared code is sent by someone: the gateway\'s code or nginx\'s error pages', async (t) => {
  const gateway = gatewaySource()
  const nginx = readFileSync(join(repoDir, 'nginx', 'templates', 'snippets', 'json-errors.conf.template'), 'utf8')
  const unsent = codes.filter((code) => !gateway.includes(`'${code}'`) && !nginx.includes(`"code":"${code}"`))
  t.same(unsent, [], 'codes declared in ERRORS that nothing produces')
})

t.test('the stream error event is one SSE data event without [DONE]', async (t) => {
  const ev = chunkStream.errorEvent(new GatewayError('upstream_timeout'), undefined)
  t.match(ev, /^data: \{"error":\{.*"code":"upstream_timeout"\}\}\n\n$/)
  t.notMatch(ev, /DONE/)
})
