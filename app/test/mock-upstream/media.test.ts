// The mock's other OpenAI routes: moderations, images (JSON and multipart), speech bytes, transcriptions and translations.
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { inflateSync } from 'node:zlib'
import OpenAI, { toFile } from 'openai'
import { crc32 } from '../../src/mock-upstream/png.js'
import { waitFor } from '../support/wait.js'
import { post, readAll, start } from './helpers.js'
import { type Json } from '../support/http.js'

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex')

/** A multipart body built by hand, so the test knows its exact bytes. */
function multipart (fields: Record<string, string>, file?: { name: string, filename: string, bytes: Buffer }): { body: Uint8Array<ArrayBuffer>, contentType: string } {
  const boundary = '----mock-boundary-7d1f'
  const parts: Buffer[] = []
  for (const [k, v] of Object.entries(fields)) parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`))
  if (file !== undefined) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${file.name}"; filename="${file.filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`), file.bytes, Buffer.from('\r\n'))
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`))
  return { body: Uint8Array.from(Buffer.concat(parts)), contentType: `multipart/form-data; boundary=${boundary}` }
}

/** Bytes that contain the boundary's prefix and CRLFs, to catch a parser that splits too eagerly. */
function trickyAudio (size: number): Buffer {
  const b = Buffer.alloc(size)
  for (let i = 0; i < size; i++) b[i] = (i * 31 + 7) & 0xff
  Buffer.from('\r\n------mock-boundary-7d1\r\n--').copy(b, 100)
  return b
}

/** Checks a PNG's signature, IHDR size, every chunk's CRC and that IDAT inflates. */
function checkPng (t: Test, png: Buffer): void {
  t.same(png.subarray(0, 8), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), 'PNG signature')
  let off = 8
  const types: string[] = []
  while (off < png.length) {
    const len = png.readUInt32BE(off)
    const type = png.toString('latin1', off + 4, off + 8)
    const data = png.subarray(off + 8, off + 8 + len)
    t.equal(png.readUInt32BE(off + 8 + len), crc32(png.subarray(off + 4, off + 8 + len)), `${type} CRC`)
    if (type === 'IHDR') t.same([data.readUInt32BE(0), data.readUInt32BE(4)], [1, 1], '1×1')
    if (type === 'IDAT') t.equal(inflateSync(data).length, 5, 'one RGBA scanline')
    types.push(type)
    off += 12 + len
  }
  t.same(types, ['IHDR', 'IDAT', 'IEND'])
}

t.test('moderations: one result per input, model defaults, flagged on the flag word', async (t) => {
  const { url } = await start(t)
  const body = await (await post(`${url}/v1/moderations`, { input: ['a calm sentence', 'please mockflag this'] })).json() as Json
  t.match(body.id, /^modr-/)
  t.equal(body.model, 'omni-moderation-latest')
  t.equal(body.results.length, 2)
  t.equal(body.results[0].flagged, false)
  t.equal(body.results[1].flagged, true)
  t.equal(body.results[1].categories.violence, true)
  t.equal(Object.keys(body.results[0].category_scores).length, 13)
  t.equal((await post(`${url}/v1/moderations`, { model: 'x' })).status, 400, 'input missing')
})

t.test('images: generations give a valid PNG and gpt-image usage; edits take multipart', async (t) => {
  const { url, mock } = await start(t, { api_key: 'sk-test' })
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'sk-test', maxRetries: 0 })
  const gen = await client.images.generate({ model: 'gpt-image-1', prompt: 'a red fox in snow' })
  checkPng(t, Buffer.from(gen.data![0]!.b64_json!, 'base64'))
  t.same(gen.usage, { input_tokens: 5, input_tokens_details: { text_tokens: 5, image_tokens: 0 }, output_tokens: 5, total_tokens: 10 })
  const two = await client.images.generate({ model: 'dall-e-2', prompt: 'x', n: 2 })
  t.equal(two.data?.length, 2)
  t.equal(two.usage, undefined, 'no usage outside gpt-image models')
  const png = Buffer.from(gen.data![0]!.b64_json!, 'base64')
  const edit = await client.images.edit({ model: 'gpt-image-1', prompt: 'make it blue', image: await toFile(png, 'fox.png', { type: 'image/png' }) })
  checkPng(t, Buffer.from(edit.data![0]!.b64_json!, 'base64'))
  t.same(edit.usage?.input_tokens_details, { text_tokens: 3, image_tokens: 85 })
  const seen = mock.stats().recent.at(-1)!
  t.equal(seen.files?.[0]?.bytes, png.length)
  t.equal(seen.files?.[0]?.sha256, sha256(png))
  t.equal(seen.fields?.prompt, 'make it blue')
  t.equal(seen.model, 'gpt-image-1')
  const noImage = multipart({ prompt: 'x', model: 'gpt-image-1' })
  const res = await fetch(`${url}/v1/images/edits`, { method: 'POST', headers: { 'content-type': noImage.contentType, authorization: 'Bearer sk-test' }, body: noImage.body })
  t.equal(res.status, 400)
  t.equal(((await res.json()) as Json).error.param, 'image')
})

t.test('speech: deterministic bytes in several chunks, audio/mpeg, the same through any client', async (t) => {
  const { url, mock } = await start(t)
  const req = { model: 'gpt-4o-mini-tts', voice: 'alloy', input: 'hello there' }
  const res = await post(`${url}/v1/audio/speech`, req)
  t.equal(res.status, 200)
  t.equal(res.headers.get('content-type'), 'audio/mpeg')
  const reader = res.body!.getReader()
  const parts: Buffer[] = []
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    parts.push(Buffer.from(value))
  }
  const bytes = Buffer.concat(parts)
  t.equal(bytes.length, 2048 + 64 * req.input.length)
  const again = Buffer.from(await (await post(`${url}/v1/audio/speech`, req)).arrayBuffer())
  t.same(again, bytes, 'same input, same bytes')
  const other = Buffer.from(await (await post(`${url}/v1/audio/speech`, { ...req, input: 'something else' })).arrayBuffer())
  t.notSame(other.subarray(0, 32), bytes.subarray(0, 32), 'other input, other bytes')
  t.equal(mock.stats().recent[0]!.response_sha256, sha256(bytes))
  t.equal(mock.stats().recent[0]!.body_sha256, sha256(JSON.stringify(req)))
  t.equal((await post(`${url}/v1/audio/speech`, { ...req, response_format: 'wav' })).headers.get('content-type'), 'audio/wav')
  t.equal((await post(`${url}/v1/audio/speech`, { model: 'x', voice: 'alloy' })).status, 400)
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'k', maxRetries: 0 })
  const viaSdk = Buffer.from(await (await client.audio.speech.create(req)).arrayBuffer())
  t.same(viaSdk, bytes, 'the official client reads the same bytes')
})

t.test('speech faults: cut mid-body, 429, stall', async (t) => {
  const { url, mock } = await start(t)
  const req = { model: 'gpt-4o-mini-tts', voice: 'alloy', input: 'hello there', mock: { fault: 'cut', cut_after: 2 } }
  const { text, error } = await readAll(await post(`${url}/v1/audio/speech`, req))
  t.type(error, Error, 'the body read fails')
  t.ok(text.length > 0, 'some bytes came first')
  t.equal(mock.stats().destroyed, 1)
  const limited = await post(`${url}/v1/audio/speech`, { ...req, mock: { fault: '429' } })
  t.equal(limited.status, 429)
  t.equal(limited.headers.get('retry-after'), '1')
  const ac = new AbortController()
  const stalled = await fetch(`${url}/v1/audio/speech`, { method: 'POST', body: JSON.stringify({ ...req, mock: { fault: 'stall', cut_after: 1 } }), signal: ac.signal })
  const r = stalled.body!.getReader()
  t.ok((await r.read()).value!.length > 0, 'the first chunk arrives')
  const next = r.read().catch((e: Error) => e)
  t.equal(await Promise.race([next, new Promise((resolve) => setTimeout(() => resolve('silent'), 100))]), 'silent')
  ac.abort()
  await next
})

t.test('transcriptions and translations: multipart streamed, file bytes counted and hashed, json or text', async (t) => {
  const { url, mock } = await start(t)
  const audio = trickyAudio(200_000)
  const form = multipart({ model: 'whisper-1', language: 'en' }, { name: 'file', filename: 'speech.wav', bytes: audio })
  const res = await fetch(`${url}/v1/audio/transcriptions`, { method: 'POST', headers: { 'content-type': form.contentType }, body: form.body })
  t.equal(res.status, 200)
  t.same(await res.json(), { text: 'mock transcription of speech.wav (200000 bytes): tok0 tok1 tok2 tok3 tok4' })
  const seen = mock.stats().recent[0]!
  t.equal(seen.body_bytes, form.body.length)
  t.equal(seen.body_sha256, sha256(Buffer.from(form.body)))
  t.same(seen.files, [{ name: 'file', filename: 'speech.wav', content_type: 'application/octet-stream', bytes: audio.length, sha256: sha256(audio) }])
  t.same(seen.fields, { model: 'whisper-1', language: 'en' })
  const textForm = multipart({ model: 'whisper-1', response_format: 'text' }, { name: 'file', filename: 'a.mp3', bytes: Buffer.from('abc') })
  const plain = await fetch(`${url}/v1/audio/translations`, { method: 'POST', headers: { 'content-type': textForm.contentType }, body: textForm.body })
  t.match(plain.headers.get('content-type'), /^text\/plain/)
  t.equal(await plain.text(), 'mock translation of a.mp3 (3 bytes): tok0 tok1 tok2 tok3 tok4\n')
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'k', maxRetries: 0 })
  const tr = await client.audio.transcriptions.create({ model: 'whisper-1', file: await toFile(audio, 'x.wav') })
  t.equal(tr.text, 'mock transcription of x.wav (200000 bytes): tok0 tok1 tok2 tok3 tok4')
  const knob = multipart({ model: 'whisper-1', mock: '{"fault":"503"}' }, { name: 'file', filename: 'a.wav', bytes: Buffer.from('x') })
  t.equal((await fetch(`${url}/v1/audio/transcriptions`, { method: 'POST', headers: { 'content-type': knob.contentType }, body: knob.body })).status, 503, 'a mock form field sets knobs')
  t.equal((await post(`${url}/v1/audio/transcriptions`, { model: 'whisper-1' })).status, 400, 'JSON is not multipart')
  const broken = multipart({ model: 'whisper-1' })
  t.equal((await fetch(`${url}/v1/audio/transcriptions`, { method: 'POST', headers: { 'content-type': broken.contentType }, body: broken.body.subarray(0, broken.body.length - 10) })).status, 400, 'a truncated body')
  t.equal((await fetch(`${url}/v1/audio/transcriptions`, { method: 'POST', headers: { 'content-type': broken.contentType }, body: broken.body })).status, 400, 'no file part')
})

t.test('every request records its body size and sha256, GETs and errors included', async (t) => {
  const { url, mock } = await start(t, { api_key: 'k' })
  await fetch(`${url}/v1/models`, { headers: { authorization: 'Bearer k' } })
  await post(`${url}/v1/moderations`, { input: 'x' })
  t.ok(await waitFor(() => mock.stats().recent.every((r) => r.body_sha256 !== undefined), 10_000), 'both bodies read to their end')
  const [get, denied] = mock.stats().recent
  t.equal(get!.body_bytes, 0)
  t.equal(get!.body_sha256, sha256(''))
  t.equal(denied!.status, 401)
  t.equal(denied!.body_sha256, sha256('{"input":"x"}'))
})
