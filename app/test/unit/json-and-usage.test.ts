import t from 'tap'
import { jsonDepth } from '../../src/plugins/json-body.js'
import { anthropicUsage, costUsd, estimateTokens, openAIUsage, plainUsage, promptText } from '../../src/lib/usage.js'
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
  t.equal(costUsd(price, plainUsage(1_000_000, 500_000, 'upstream')), 6)
  t.equal(costUsd(price, plainUsage(0, 0, 'upstream')), 0)
  t.equal(price.cachedInputPer1M, 2, 'cache reads fall back to the input price')
  t.equal(price.cacheWritePer1M, 2, 'cache writes fall back to the input price')
})

// 1,000 prompt tokens of which 800 cached, 300 completion tokens of which 200 reasoning.
const PRICE = { input_per_1m: 2, cached_input_per_1m: 0.5, cache_write_per_1m: 2.5, output_per_1m: 8 }
const EXACT = (200 * 2 + 800 * 0.5 + 300 * 8) / 1e6

t.test('exact cost: cached input at its price, reasoning counted once (OpenAI chat and Responses shapes)', async (t) => {
  const price = parseModelCatalog({ models: [{ id: 'm', price: PRICE }] }).lookup('m')?.price
  if (price === undefined) throw new Error('no price')
  const chat = openAIUsage({ prompt_tokens: 1000, completion_tokens: 300, total_tokens: 1300, prompt_tokens_details: { cached_tokens: 800 }, completion_tokens_details: { reasoning_tokens: 200 } })
  t.match(chat, { promptTokens: 1000, cachedPromptTokens: 800, completionTokens: 300, reasoningTokens: 200 })
  t.equal(costUsd(price, chat as NonNullable<typeof chat>), EXACT)
  const responses = openAIUsage({ input_tokens: 1000, input_tokens_details: { cached_tokens: 800 }, output_tokens: 300, output_tokens_details: { reasoning_tokens: 200 }, total_tokens: 1300 })
  t.same(responses, chat)
  const deepseek = openAIUsage({ prompt_tokens: 1000, completion_tokens: 300, prompt_cache_hit_tokens: 800, prompt_cache_miss_tokens: 200 })
  t.match(deepseek, { promptTokens: 1000, cachedPromptTokens: 800 }, 'DeepSeek cache hits are cached input')
})

t.test('Anthropic usage: input excludes cache reads and writes; message_delta repeats, never adds', async (t) => {
  const price = parseModelCatalog({ models: [{ id: 'm', price: PRICE }] }).lookup('m')?.price
  if (price === undefined) throw new Error('no price')
  const json = anthropicUsage({ input_tokens: 200, cache_read_input_tokens: 800, cache_creation_input_tokens: 0, output_tokens: 300 })
  t.match(json, { promptTokens: 1000, cachedPromptTokens: 800, cacheWriteTokens: 0, completionTokens: 300 })
  const start = anthropicUsage({ input_tokens: 150, cache_read_input_tokens: 800, cache_creation_input_tokens: 50, output_tokens: 1 })
  const mid = anthropicUsage({ output_tokens: 120 }, start)
  const end = anthropicUsage({ input_tokens: 150, cache_read_input_tokens: 800, cache_creation_input_tokens: 50, output_tokens: 300 }, mid)
  t.match(end, { promptTokens: 1000, cachedPromptTokens: 800, cacheWriteTokens: 50, completionTokens: 300 })
  t.equal(costUsd(price, end as NonNullable<typeof end>), (150 * 2 + 800 * 0.5 + 50 * 2.5 + 300 * 8) / 1e6)
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
