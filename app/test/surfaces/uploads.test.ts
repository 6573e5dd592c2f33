// Multipart uploads and binary answers pass through byte for byte, streamed both ways; a body over the
// limit is refused; an alias in a form's model field reaches the upstream as the target's model.
import t, { type Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import OpenAI, { toFile } from 'openai'
import { Agent, request } from 'undici'
import { speechBytes } from '../../src/mock-upstream/audio.js'
import { assertOpenAIError, type Json } from '../support/http.js'
import { mockText, type TestGateway, type TestGatewayOptions } from '../support/gateway.js'
import { FORM_TYPE, lastReceived, listeningGateway, multipart } from './support.js'

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

async function setup (t: Test, opts: TestGatewayOptions = {}): Promise<{ gw: TestGateway, url: string, agent: Agent }> {
  const started = await listeningGateway(t, opts)
  // One connection for every request of a test: a refused upload must leave it usable (its unread
  // rest drained), or the next request waits for it and times out. Teardowns run last added first:
  // the client connection closes before the gateway waits on it.
  const agent = new Agent({ connections: 1, headersTimeout: 10_000, bodyTimeout: 10_000 })
  t.teardown(async () => { await agent.close() })
  return { ...started, agent }
}

/** Posts a body to the gateway: with its length, or chunked (a stream of `chunk`-byte pieces). */
async function post (s: { gw: TestGateway, url: string, agent: Agent }, path: string, body: Buffer, opts: { chunked?: number, contentType?: string } = {}): Promise<{ status: number, headers: Record<string, unknown>, body: Buffer }> {
  const chunk = opts.chunked
  const payload = chunk === undefined
    ? body
    : Readable.from((function * () { for (let i = 0; i < body.length; i += chunk) yield body.subarray(i, i + chunk) })())
  const res = await request(s.url + path, {
    method: 'POST',
    dispatcher: s.agent,
    headers: { ...s.gw.auth(), 'content-type': opts.contentType ?? FORM_TYPE },
    body: payload,
    // a request queued behind a connection that never frees fails here, not at a far-off timeout
    signal: AbortSignal.timeout(20_000)
  })
  return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) }
}

const audio = randomBytes(300 * 1024)

for (const mode of ['with a content-length', 'chunked'] as const) {
  t.test(`multipart transcription ${mode}: the upstream receives the client's exact bytes`, async (t) => {
    const s = await setup(t)
    const body = multipart({ model: 'whisper-1', response_format: 'json' }, [{ name: 'file', filename: 'talk.wav', type: 'audio/wav', bytes: audio }])
    const res = await post(s, '/v1/audio/transcriptions', body, mode === 'chunked' ? { chunked: 16 * 1024 } : {})
    t.equal(res.status, 200)
    t.same(JSON.parse(res.body.toString()), { text: `mock transcription of talk.wav (${audio.length} bytes): ${mockText(5)}` })
    const got = lastReceived(s.gw.mock, '/v1/audio/transcriptions')
    t.equal(got.body_bytes, body.length, 'as many bytes as were sent')
    t.equal(got.body_sha256, sha256(body), 'the very bytes that were sent')
    t.equal(got.files?.[0]?.sha256, sha256(audio), 'the file inside is intact')
    t.equal(got.headers['content-type'], FORM_TYPE, 'with the client\'s boundary')
    if (mode === 'chunked') t.equal(got.headers['content-length'], undefined, 'a body of unknown length goes on chunked')
    else t.equal(got.headers['content-length'], String(body.length))
  })
}

t.test('multipart translation and image edit pass through byte for byte', async (t) => {
  const s = await setup(t)
  const translation = multipart({ model: 'whisper-1' }, [{ name: 'file', filename: 'talk.mp3', type: 'audio/mpeg', bytes: audio }])
  const tr = await post(s, '/v1/audio/translations', translation)
  t.equal(tr.status, 200)
  t.equal(lastReceived(s.gw.mock, '/v1/audio/translations').body_sha256, sha256(translation))
  const png = randomBytes(50 * 1024)
  const edit = multipart({ model: 'gpt-image-1', prompt: 'add a hat' }, [{ name: 'image', filename: 'cat.png', type: 'image/png', bytes: png }])
  const ed = await post(s, '/v1/images/edits', edit)
  t.equal(ed.status, 200)
  t.ok(Array.isArray((JSON.parse(ed.body.toString()) as Json).data))
  const got = lastReceived(s.gw.mock, '/v1/images/edits')
  t.equal(got.body_sha256, sha256(edit))
  t.equal(got.files?.[0]?.sha256, sha256(png))
})

t.test('the openai SDK\'s transcription upload arrives with the file intact', async (t) => {
  const s = await setup(t)
  const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: s.gw.keys.main as string, maxRetries: 0, timeout: 10_000 })
  const tr = await client.audio.transcriptions.create({ model: 'whisper-1', file: await toFile(audio, 'talk.wav', { type: 'audio/wav' }) })
  t.equal(tr.text, `mock transcription of talk.wav (${audio.length} bytes): ${mockText(5)}`)
  const got = lastReceived(s.gw.mock, '/v1/audio/transcriptions')
  t.equal(got.files?.[0]?.sha256, sha256(audio))
  t.equal(got.fields?.model, 'whisper-1')
})

t.test('binary speech comes back byte for byte, as the upstream sent it', async (t) => {
  const s = await setup(t)
  const input = 'The quick brown fox jumps over the lazy dog. '.repeat(20)
  const res = await post(s, '/v1/audio/speech', Buffer.from(JSON.stringify({ model: 'gpt-4o-mini-tts', input, voice: 'alloy' })), { contentType: 'application/json' })
  t.equal(res.status, 200)
  t.equal(res.headers['content-type'], 'audio/mpeg')
  const sent = lastReceived(s.gw.mock, '/v1/audio/speech')
  t.equal(res.body.length, sent.response_bytes, 'as many bytes as the upstream sent')
  t.equal(sha256(res.body), sent.response_sha256, 'the very bytes the upstream sent')
  t.equal(sha256(res.body), sha256(speechBytes(input, 'mp3')))

  const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: s.gw.keys.main as string, maxRetries: 0, timeout: 10_000 })
  const viaSdk = Buffer.from(await (await client.audio.speech.create({ model: 'gpt-4o-mini-tts', input: 'hello', voice: 'alloy', response_format: 'wav' })).arrayBuffer())
  t.equal(sha256(viaSdk), lastReceived(s.gw.mock, '/v1/audio/speech').response_sha256, 'through the SDK too')
})

for (const mode of ['with a content-length', 'chunked'] as const) {
  t.test(`a multipart body over BODY_LIMIT_BYTES ${mode}: 413`, async (t) => {
    const s = await setup(t, { env: { BODY_LIMIT_BYTES: String(64 * 1024) } })
    const body = multipart({ model: 'whisper-1' }, [{ name: 'file', filename: 'big.wav', type: 'audio/wav', bytes: randomBytes(200 * 1024) }])
    const res = await post(s, '/v1/audio/transcriptions', body, mode === 'chunked' ? { chunked: 8 * 1024 } : {})
    assertOpenAIError(t, { status: res.status, headers: res.headers, body: res.body.toString() }, 413, 'invalid_request_error', 'request_too_large')
    if (mode === 'with a content-length') {
      t.equal(s.gw.mock.stats().requests, 0, 'the upstream never heard of it')
    } else {
      // A body of unknown length is streamed as it comes: the upstream may have seen its start,
      // but never a complete request.
      t.equal(s.gw.mock.stats().completed, 0, 'no upstream request completed')
      t.notOk(s.gw.mock.stats().recent.some((r) => r.body_bytes !== undefined && r.body_bytes > 64 * 1024), 'the upstream never got more than the limit')
    }
    // a body within the limit still goes through
    const small = multipart({ model: 'whisper-1' }, [{ name: 'file', filename: 'small.wav', type: 'audio/wav', bytes: randomBytes(16 * 1024) }])
    t.equal((await post(s, '/v1/audio/transcriptions', small)).status, 200)
  })
}

t.test('an alias in a multipart form reaches the upstream as the target\'s model name', async (t) => {
  const s = await setup(t, {
    models: [
      { id: 'whisper-1', type: 'transcription', aliases: ['speech-to-text'], price: { input_per_1m: 0, output_per_1m: 0 }, targets: [{ upstream: 'default', model: 'whisper-large-v3' }] }
    ]
  })
  for (const [asked, chunked] of [['speech-to-text', false], ['whisper-1', false], ['speech-to-text', true]] as const) {
    const body = multipart({ model: asked, language: 'en' }, [{ name: 'file', filename: 'talk.wav', type: 'audio/wav', bytes: audio }])
    const expected = multipart({ model: 'whisper-large-v3', language: 'en' }, [{ name: 'file', filename: 'talk.wav', type: 'audio/wav', bytes: audio }])
    const res = await post(s, '/v1/audio/transcriptions', body, chunked ? { chunked: 7000 } : {})
    t.equal(res.status, 200, `${asked}${chunked ? ' (chunked)' : ''}`)
    const got = lastReceived(s.gw.mock, '/v1/audio/transcriptions')
    t.equal(got.fields?.model, 'whisper-large-v3', 'the upstream got its own model name')
    t.equal(got.fields?.language, 'en', 'the other fields unchanged')
    t.equal(got.body_sha256, sha256(expected), 'and otherwise the client\'s exact bytes')
    if (!chunked) t.equal(got.headers['content-length'], String(expected.length), 'with the length adjusted')
  }
  const unknown = await post(s, '/v1/audio/transcriptions', multipart({ model: 'no-such-model' }, [{ name: 'file', filename: 'a.wav', type: 'audio/wav', bytes: audio }]))
  assertOpenAIError(t, { status: unknown.status, headers: unknown.headers, body: unknown.body.toString() }, 400, 'invalid_request_error', 'model_not_found')
  const wrongType = await post(s, '/v1/audio/transcriptions', multipart({ model: 'gpt-4.1' }, [{ name: 'file', filename: 'a.wav', type: 'audio/wav', bytes: audio }]))
  assertOpenAIError(t, { status: wrongType.status, headers: wrongType.headers, body: wrongType.body.toString() }, 400, 'invalid_request_error', 'model_wrong_type')
  const missing = await post(s, '/v1/audio/transcriptions', multipart({}, [{ name: 'file', filename: 'a.wav', type: 'audio/wav', bytes: audio }]))
  assertOpenAIError(t, { status: missing.status, headers: missing.headers, body: missing.body.toString() }, 400, 'invalid_request_error', 'missing_required_parameter')
  t.equal(s.gw.mock.stats().requests, 3, 'the refused forms never reached the upstream')
})
