// The mock's streaming multipart reader: the same result however the body is split into chunks, bounded memory, malformed bodies named.
import t from 'tap'
import { createHash } from 'node:crypto'
import { MultipartReader, multipartBoundary } from '../../src/mock-upstream/multipart.js'

const boundary = 'XyZ-boundary'
const file = Buffer.concat([Buffer.from('start\r\n--XyZ-boundar'), Buffer.alloc(300, 0x2d), Buffer.from('\r\n--XyZ-boundarx end')])
const body = Buffer.concat([
  Buffer.from(`preamble to ignore\r\n--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n`),
  Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a b.wav"\r\nContent-Type: audio/wav\r\n\r\n`),
  file,
  Buffer.from(`\r\n--${boundary}\r\ncontent-disposition: form-data; name="prompt"\r\n\r\nline one\r\nline two\r\n--${boundary}--\r\nepilogue`)
])
const expected = {
  fields: { model: 'whisper-1', prompt: 'line one\r\nline two' },
  files: [{ name: 'file', filename: 'a b.wav', content_type: 'audio/wav', bytes: file.length, sha256: createHash('sha256').update(file).digest('hex') }]
}

t.test('every split of the body gives the same fields and files', async (t) => {
  for (let size = 1; size <= 64; size++) {
    const reader = new MultipartReader(boundary)
    for (let off = 0; off < body.length; off += size) reader.write(body.subarray(off, off + size))
    t.same(reader.end(), expected, `chunks of ${size} bytes`)
  }
  const whole = new MultipartReader(boundary)
  whole.write(body)
  t.same(whole.end(), expected, 'one chunk')
})

t.test('boundaries from the content type; malformed bodies are errors', async (t) => {
  t.equal(multipartBoundary('multipart/form-data; boundary=abc'), 'abc')
  t.equal(multipartBoundary('multipart/form-data; charset=utf-8; boundary="a b"'), 'a b')
  t.equal(multipartBoundary('application/json'), undefined)
  t.equal(multipartBoundary('multipart/form-data'), undefined)
  const truncated = new MultipartReader(boundary)
  truncated.write(body.subarray(0, body.length - 20))
  t.match(truncated.end().error, /ended before the closing boundary/)
  const nameless = new MultipartReader(boundary)
  nameless.write(Buffer.from(`--${boundary}\r\nContent-Type: text/plain\r\n\r\nx\r\n--${boundary}--`))
  t.match(nameless.end().error, /no Content-Disposition name/)
})

t.test('a long text field is kept only up to 64 KiB; a file is never kept', async (t) => {
  const reader = new MultipartReader(boundary)
  reader.write(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n`))
  for (let i = 0; i < 20; i++) reader.write(Buffer.alloc(10_000, 0x61))
  reader.write(Buffer.from(`\r\n--${boundary}--`))
  t.equal(reader.end().fields.prompt?.length, 64 * 1024)
})
