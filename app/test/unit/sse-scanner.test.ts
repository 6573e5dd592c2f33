import t from 'tap'
import { SseScanner as Scanner } from '../../src/lib/sse-scanner.js'
import { chunkStream } from '../../src/surfaces/openai.js'

/** A chat-stream scanner; `strip`: the gateway asked for usage on the client's behalf. */
class SseScanner extends Scanner {
  constructor (strip: boolean, now?: () => number) { super(chunkStream, strip, now) }
}

const chunk = (obj: unknown): string => `data: ${JSON.stringify(obj)}\n\n`
const content = (text: string): string => chunk({ choices: [{ index: 0, delta: { content: text } }], usage: null })
/** `content(text)` as a client that did not ask for usage gets it: no `"usage":null` */
const plain = (text: string): string => chunk({ choices: [{ index: 0, delta: { content: text } }] })
const usageChunk = chunk({ choices: [], usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 } })

t.test('passes whole events through untouched and records first token, usage and [DONE]', async (t) => {
  let now = 0
  const s = new SseScanner(false, () => now)
  const role = chunk({ choices: [{ index: 0, delta: { role: 'assistant', content: '' } }] })
  t.equal(s.push(Buffer.from(role)).toString(), role)
  t.equal(s.firstTokenAt, undefined, 'a role-only chunk is not a token')
  now = 5
  const first = content('Hel')
  const out = Buffer.from(first)
  t.equal(s.push(out), out, 'same buffer: no copy for an event-aligned chunk')
  t.equal(s.firstTokenAt, 5)
  t.equal(s.push(Buffer.from(usageChunk + 'data: [DONE]\n\n')).toString(), usageChunk + 'data: [DONE]\n\n')
  t.match(s.usage, { promptTokens: 11, completionTokens: 7, cachedPromptTokens: 0, source: 'upstream' })
  t.equal(s.capturedText().text, 'Hel')
})

t.test('drops only the usage-only chunk when asked to strip it', async (t) => {
  const s = new SseScanner(true)
  const body = content('a') + usageChunk + 'data: [DONE]\n\n'
  t.equal(s.push(Buffer.from(body)).toString(), plain('a') + 'data: [DONE]\n\n')
  t.match(s.usage, { promptTokens: 11, completionTokens: 7 }, 'usage is still read')
})

t.test('stripping also removes the "usage":null the upstream adds to every chunk', async (t) => {
  const s = new SseScanner(true)
  t.equal(s.push(Buffer.from(content('a') + content('b'))).toString(), plain('a') + plain('b'))
  const quoted = content('say ,"usage":null here')
  t.equal(JSON.parse(s.push(Buffer.from(quoted)).toString().slice(6)).choices[0].delta.content, 'say ,"usage":null here', 'generated text is left alone')
  const first = chunk({ usage: null, choices: [] }).replace('"choices":[]', '"choices":[{"index":0,"delta":{"content":"c"}}]')
  t.equal(s.push(Buffer.from(first)).toString(), first, 'a leading "usage":null stays (removing it would need the comma after it)')
  const kept = new SseScanner(false)
  t.equal(kept.push(Buffer.from(content('a'))).toString(), content('a'), 'untouched when the client asked for usage')
})

t.test('keeps a usage object that rides on a chunk with choices', async (t) => {
  const s = new SseScanner(true)
  const mixed = chunk({ choices: [{ index: 0, delta: { content: 'x' } }], usage: { prompt_tokens: 1, completion_tokens: 1 } })
  t.equal(s.push(Buffer.from(mixed)).toString(), mixed)
  t.match(s.usage, { promptTokens: 1, completionTokens: 1 })
})

t.test('holds a split event until it is complete, in any split position', async (t) => {
  const stream = content('one') + content(' two') + usageChunk + 'data: [DONE]\n\n'
  const expected = plain('one') + plain(' two') + 'data: [DONE]\n\n'
  for (let cut = 1; cut < stream.length; cut += 7) {
    const s = new SseScanner(true)
    const a = s.push(Buffer.from(stream.slice(0, cut))).toString()
    const b = s.push(Buffer.from(stream.slice(cut))).toString()
    t.equal(a + b + s.flush().toString(), expected, `split at ${cut}`)
    t.equal(s.capturedText().text, 'one two')
  }
})

t.test('handles CRLF event separators and multi-byte text split across chunks', async (t) => {
  const s = new SseScanner(false)
  const ev = Buffer.from('data: {"choices":[{"delta":{"content":"héllo €"}}]}\r\n\r\n')
  const cut = ev.indexOf(0xe2) + 1 // inside the euro sign
  const out = Buffer.concat([s.push(ev.subarray(0, cut)), s.push(ev.subarray(cut))])
  t.same(out, ev)
  t.equal(s.capturedText().text, 'héllo €')
})

t.test('a zero usage is usage, not missing', async (t) => {
  const s = new SseScanner(false)
  s.push(Buffer.from(chunk({ choices: [], usage: { prompt_tokens: 0, completion_tokens: 0 } })))
  t.match(s.usage, { promptTokens: 0, completionTokens: 0 })
})

t.test('notes an upstream error event and keeps comments', async (t) => {
  const s = new SseScanner(false)
  const text = ': ping\n\ndata: {"error":{"message":"boom"}}\n\n'
  t.equal(s.push(Buffer.from(text)).toString(), text)
  t.equal(s.firstTokenAt, undefined)
})

t.test('tool calls count as the first token', async (t) => {
  const s = new SseScanner(false, () => 42)
  s.push(Buffer.from(chunk({ choices: [{ delta: { tool_calls: [{ index: 0, function: { name: 'f', arguments: '' } }] } }] })))
  t.equal(s.firstTokenAt, 42)
})

t.test('flush emits an unterminated last event', async (t) => {
  const s = new SseScanner(false)
  t.equal(s.push(Buffer.from('data: [DONE]')).length, 0)
  t.equal(s.flush().toString(), 'data: [DONE]\n\n', 'the [DONE] is kept')
})

t.test('a long stream keeps only its start for estimates and scales by size', async (t) => {
  const s = new SseScanner(false)
  const ev = content('word ')
  for (let i = 0; i < 2000; i++) s.push(Buffer.from(ev))
  const { text, scale } = s.capturedText()
  t.ok(text.length < 2000 * 5, 'not everything was kept')
  t.ok(Math.abs(text.length * scale - 2000 * 5) / (2000 * 5) < 0.01, 'kept share × scale ≈ all of it')
})

t.test('a usage chunk split across pushes is still found and stripped', async (t) => {
  const s = new SseScanner(true)
  const half = Math.floor(usageChunk.length / 2)
  const a = s.push(Buffer.from(content('x') + usageChunk.slice(0, half)))
  const b = s.push(Buffer.from(usageChunk.slice(half) + 'data: [DONE]\n\n'))
  t.equal(a.toString() + b.toString(), plain('x') + 'data: [DONE]\n\n')
  t.match(s.usage, { promptTokens: 11, completionTokens: 7, cachedPromptTokens: 0, source: 'upstream' })
})
