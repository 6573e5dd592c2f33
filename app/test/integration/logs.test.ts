// One structured log line per request, with no secrets and no prompt text in any line.
import t from 'tap'
import { UPSTREAM_KEY, chatBody, startTestGateway } from '../support/gateway.js'
import { injectPost, type Json } from '../support/http.js'
import { waitFor } from '../support/wait.js'

const chat = '/v1/chat/completions'
const PROMPT = 'a very private prompt about quarterly numbers'

t.test('a mix of requests: one JSON line each, no secrets, no prompt text', async (t) => {
  const gw = await startTestGateway()
  t.teardown(() => gw.close())
  const badToken = 'sk-gw-LOOKSLIKEAKEY0123456789abcdefABCDEF'
  const body = chatBody({ messages: [{ role: 'user', content: PROMPT }] })

  const ok = await injectPost(gw, chat, body, { 'x-request-id': 'log-ok' })
  const badKey = await injectPost(gw, chat, body, { 'x-request-id': 'log-bad-key', authorization: `Bearer ${badToken}` })
  const upstream401 = await injectPost(gw, chat, { ...body, mock: { fault: '401' } }, { 'x-request-id': 'log-upstream-401' })
  const stream = await injectPost(gw, chat, { ...body, stream: true }, { 'x-request-id': 'log-stream', ...gw.auth('limited') })
  const embed = await injectPost(gw, '/v1/embeddings', { model: 'text-embedding-3-small', input: PROMPT }, { 'x-request-id': 'log-embed', ...gw.auth('embed-only') })
  t.same([ok.statusCode, badKey.statusCode, upstream401.statusCode, stream.statusCode, embed.statusCode], [200, 401, 502, 200, 200])

  const expected: Record<string, { status: number, key?: string, model?: string }> = {
    'log-ok': { status: 200, key: 'main', model: 'gpt-4.1' },
    'log-bad-key': { status: 401 },
    'log-upstream-401': { status: 502, key: 'main', model: 'gpt-4.1' },
    'log-stream': { status: 200, key: 'limited', model: 'gpt-4.1' },
    'log-embed': { status: 200, key: 'embed-only', model: 'text-embedding-3-small' }
  }
  const requestLines = (): Json[] => gw.logs().split('\n').filter((l) => l.trim() !== '').map((l) => {
    try { return JSON.parse(l) as Json } catch { return { unparsable: l } }
  }).filter((l) => l.msg === 'request')
  t.ok(await waitFor(() => requestLines().length >= 5, 10_000), 'request lines were written')

  const lines = gw.logs().split('\n').filter((l) => l.trim() !== '')
  for (const line of lines) {
    let parsed: unknown
    try { parsed = JSON.parse(line) } catch { parsed = undefined }
    t.ok(typeof parsed === 'object' && parsed !== null, `every log line is JSON: ${line.slice(0, 80)}`)
  }
  for (const [id, want] of Object.entries(expected)) {
    const mine = requestLines().filter((l) => l.reqId === id)
    t.equal(mine.length, 1, `one request line for ${id}`)
    const line = mine[0] ?? {}
    t.equal(line.status, want.status, `${id}: status`)
    t.type(line.ms, 'number', `${id}: ms`)
    t.ok(line.ms >= 0, `${id}: ms not negative`)
    t.type(line.model, 'string', `${id}: model`)
    if (want.model !== undefined) t.equal(line.model, want.model, `${id}: model`)
    if (want.key !== undefined) t.equal(line.key, want.key, `${id}: key id`)
    else t.ok(line.key === undefined || line.key === null, `${id}: no key id for an unknown key`)
  }
  t.equal(requestLines().find((l) => l.reqId === 'log-upstream-401')?.error, 'upstream_auth_failed', 'the error code is logged')

  const all = gw.logs()
  t.notOk(all.includes(UPSTREAM_KEY), 'no upstream key')
  for (const [id, key] of Object.entries(gw.keys)) t.notOk(all.includes(key), `no plaintext gateway key (${id})`)
  t.notOk(all.includes(badToken), 'no bad token')
  t.notOk(all.includes(badToken.slice(6)), 'not even the bad token without its prefix')
  t.notOk(all.includes('Incorrect API key'), 'not the upstream\'s error text')
  t.notOk(all.includes(PROMPT), 'no prompt text')
  t.notOk(all.includes('tok0 tok1'), 'no completion text')
})
