// Usage read from a JSON answer's bytes, without parsing the whole answer.
import t from 'tap'
import { looksLikeJsonObject, usageValue } from '../../src/lib/usage-bytes.js'

const b = (s: string): Buffer => Buffer.from(s)
const answer = (content: string, usage: unknown, space = 0): Buffer => b(JSON.stringify({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
  ...(usage === undefined ? {} : { usage }),
  system_fingerprint: 'fp_1'
}, null, space))

t.test('the token counts of an answer, compact or pretty-printed', async (t) => {
  const usage = { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19, prompt_tokens_details: { cached_tokens: 3, audio_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 2 } }
  const counts = { prompt_tokens: 12, completion_tokens: 7 }
  t.same(usageValue(answer('hello', usage)), usage, 'details (cached, reasoning tokens) are read whole')
  t.same(usageValue(answer('hello', usage, 2)), usage, 'with whitespace around the colon and inside')
  t.same(usageValue(answer('hello', counts)), counts, 'plain counts from the bytes')
  t.same(usageValue(answer('hello', { completion_tokens: 70, prompt_tokens: 120 })), { prompt_tokens: 120, completion_tokens: 70 }, 'in any order')
  t.same(usageValue(b('{"object":"list","data":[],"model":"m","usage":{"prompt_tokens":4,"total_tokens":4}}')), { prompt_tokens: 4 }, 'an embeddings answer')
  t.same(usageValue(answer('héllo wörld ✓ 日本語', counts)), counts, 'multi-byte text before it')
  t.same(usageValue(answer('hi', { prompt_tokens: 1234567890123, completion_tokens: 0 })), { prompt_tokens: 1234567890123, completion_tokens: 0 }, 'large and zero counts')
})

t.test('anything but plain integer counts is parsed', async (t) => {
  t.same(usageValue(answer('hi', { prompt_tokens: 1.5, completion_tokens: 2 })), { prompt_tokens: 1.5, completion_tokens: 2 })
  t.same(usageValue(answer('hi', { prompt_tokens: 3, completion_tokens: null })), { prompt_tokens: 3, completion_tokens: null })
  t.same(usageValue(answer('hi', { input_tokens: 3, output_tokens: 4 })), { input_tokens: 3, output_tokens: 4 })
  t.same(usageValue(b('{"usage":{"prompt_tokens":2e3,"completion_tokens":1}}')), { prompt_tokens: 2000, completion_tokens: 1 })
})

t.test('the key inside generated text is not usage', async (t) => {
  const text = 'Here is JSON: {"usage": {"prompt_tokens": 999999, "completion_tokens": 999999}}'
  t.equal(usageValue(answer(text, undefined)), undefined, 'escaped quotes: only text, no usage')
  t.same(usageValue(answer(text, { prompt_tokens: 3, completion_tokens: 2 })), { prompt_tokens: 3, completion_tokens: 2 }, 'the real one is found')
  t.same(usageValue(b('{"usage":{"note":"a } and a \\" inside","prompt_tokens":1,"completion_tokens":2}}')), { prompt_tokens: 1, completion_tokens: 2 }, 'braces and quotes inside strings')
  t.same(usageValue(b('{"usage":{"note":"\\"prompt_tokens\\": 9","prompt_tokens":1,"completion_tokens":2}}')), { prompt_tokens: 1, completion_tokens: 2 }, 'a count key quoted inside a string is not read')
})

t.test('null, absent, or unreadable usage', async (t) => {
  t.equal(usageValue(answer('hi', null)), null)
  t.equal(usageValue(answer('hi', undefined)), undefined)
  t.equal(usageValue(b('{"usage":{"prompt_tokens":1')), undefined, 'cut inside the object')
  t.equal(usageValue(b('{"usage":{"prompt_tokens":}}')), undefined, 'not JSON')
  t.equal(usageValue(b('{"usage":7}')), undefined, 'not an object')
  t.equal(usageValue(b('{"usage" "x"}')), undefined, 'no colon')
  t.equal(usageValue(b('')), undefined)
})

t.test('looksLikeJsonObject: whole objects only', async (t) => {
  t.ok(looksLikeJsonObject(answer('hi', null)))
  t.ok(looksLikeJsonObject(b(' \n{"a":1}\n ')))
  t.notOk(looksLikeJsonObject(answer('hi', null).subarray(0, 40)), 'truncated')
  t.notOk(looksLikeJsonObject(b('[1,2]')))
  t.notOk(looksLikeJsonObject(b('<html>bad gateway</html>')))
  t.notOk(looksLikeJsonObject(b('')))
  t.notOk(looksLikeJsonObject(b('}{')))
})
