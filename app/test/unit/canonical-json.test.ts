// Canonical JSON (cache and idempotency keys): key order never matters, values always do.
import t from 'tap'
import { canonicalHash, canonicalJson } from '../../src/lib/canonical-json.js'

t.test('objects are written with sorted keys at every depth, arrays keep their order', async (t) => {
  t.equal(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } }), '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}')
  t.equal(canonicalJson({ a: undefined, b: 'x' }), '{"b":"x"}', 'undefined members dropped, as JSON.stringify does')
  t.equal(canonicalJson([undefined]), '[null]')
  t.equal(canonicalJson('a"b'), '"a\\"b"')
})

t.test('the hash: equal for reordered objects, different for any other value or part', async (t) => {
  const a = canonicalHash('chat', { messages: [{ role: 'user', content: 'hi' }], temperature: 0, tools: [{ type: 'function' }] })
  t.equal(a, canonicalHash('chat', { tools: [{ type: 'function' }], temperature: 0, messages: [{ content: 'hi', role: 'user' }] }))
  t.not(a, canonicalHash('chat', { messages: [{ role: 'user', content: 'hi' }], temperature: 0, tools: [{ type: 'function' }], response_format: { type: 'json_object' } }))
  t.not(a, canonicalHash('chat', { messages: [{ role: 'user', content: 'hi' }], temperature: 0 }))
  t.not(canonicalHash('ab', 'c'), canonicalHash('a', 'bc'), 'parts cannot run together')
  t.match(a, /^[0-9a-f]{64}$/)
})
