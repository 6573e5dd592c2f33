import t from 'tap'
import { jsonDepth } from '../../src/plugins/json-body.js'
import { costUsd, estimateTokens, promptText } from '../../src/lib/usage.js'
import { parseModelCatalog } from '../../src/lib/models.js'

t.test('json depth is counted on bytes, ignoring brackets inside strings', async (t) => {
  t.equal(jsonDepth(Buffer.from('{"a":[1,{"b":2}]}'), 64), 3)
  t.equal(jsonDepth(Buffer.from('{"a":"[[[[{{{{\\"]]"}'), 64), 1)
  t.equal(jsonDepth(Buffer.from('['.repeat(100000)), 64), 65, 'stops counting past the limit')
})

t.test('cost from the price table', async (t) => {
  const cat = parseModelCatalog({ models: [{ id: 'm', price: { input_per_1m: 2, output_per_1m: 8 } }] })
  const price = cat.lookup('m')?.price
  if (price === undefined) throw new Error('no price')
  t.equal(costUsd(price, { promptTokens: 1_000_000, completionTokens: 500_000, source: 'upstream' }), 6)
  t.equal(costUsd(price, { promptTokens: 0, completionTokens: 0, source: 'upstream' }), 0)
})

t.test('prompt text and token estimates', async (t) => {
  t.equal(promptText({ messages: [{ role: 'user', content: 'hi' }, { role: 'user', content: [{ type: 'text', text: 'there' }, { type: 'image_url', image_url: { url: 'x' } }] }] }), 'hi\nthere')
  t.equal(promptText({ prompt: ['a', 'b'] }), 'a\nb')
  t.equal(promptText({ input: 'embed me' }), 'embed me')
  t.equal(await estimateTokens(''), 0)
  const n = await estimateTokens('The quick brown fox jumps over the lazy dog.')
  t.ok(n >= 8 && n <= 12, `about ten tokens (got ${n})`)
})

t.test('the JSON fast path still refuses prototype keys, escaped or not', async (t) => {
  const { parseJsonBody } = await import('../../src/plugins/json-body.js')
  t.same(parseJsonBody(Buffer.from('{"model":"m","messages":[]}')), { model: 'm', messages: [] })
  t.same(parseJsonBody(Buffer.from('{"text":"caf\\u00e9"}')), { text: 'café' }, 'escapes parse (safe path)')
  t.throws(() => parseJsonBody(Buffer.from('{"__proto__":{"x":1}}')))
  t.throws(() => parseJsonBody(Buffer.from('{"\\u005f_proto__":{"x":1}}')), 'escaped __proto__')
  t.throws(() => parseJsonBody(Buffer.from('{"a":{"constructor":{"prototype":{"x":1}}}}')))
  t.same(parseJsonBody(Buffer.from('{"constructor":"fine"}')), { constructor: 'fine' }, 'a plain constructor string is data')
  t.equal(({} as Record<string, unknown>).x, undefined, 'nothing polluted')
  t.throws(() => parseJsonBody(Buffer.from('{"a":')), SyntaxError)
})
