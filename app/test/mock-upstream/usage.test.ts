// Usage knobs and conventions: OpenAI counts include cached and reasoning tokens, Anthropic's input excludes cache reads and writes.
import t from 'tap'
import { parseConfig } from '../../src/mock-upstream/config.js'
import { readMockEnv } from '../../src/mock-upstream/env.js'
import { usageFor } from '../../src/mock-upstream/usage.js'
import { chat, post, start } from './helpers.js'
import { sseData, type Json } from '../support/http.js'

const cost = { prompt_tokens: 1000, cached_tokens: 800, completion_tokens: 300, reasoning_tokens: 200 }

t.test('chat and completions: details always there; prompt and completion include cached and reasoning', async (t) => {
  const { url, mock } = await start(t, cost)
  const body = await (await post(`${url}/v1/chat/completions`, chat)).json() as Json
  t.same(body.usage, { prompt_tokens: 1000, completion_tokens: 300, total_tokens: 1300, prompt_tokens_details: { cached_tokens: 800 }, completion_tokens_details: { reasoning_tokens: 200 } })
  t.equal(body.choices[0].message.content, 'tok0 tok1 tok2 tok3 tok4', 'the visible text still follows chunks')
  const ev = sseData(await (await post(`${url}/v1/completions`, { model: 'm', prompt: 'a', stream: true, stream_options: { include_usage: true } })).text())
  t.same(JSON.parse(ev.at(-2)!).usage.prompt_tokens_details, { cached_tokens: 800 })
  t.same(mock.stats().usage_reported, { prompt_tokens: 2000, completion_tokens: 600 })
  t.same(mock.stats().usage_details_reported, { cached_tokens: 1600, reasoning_tokens: 400, cache_write_tokens: 0 })
  const plain = await (await post(`${url}/v1/chat/completions`, { ...chat, mock: { prompt_tokens: null, completion_tokens: null, cached_tokens: 0, reasoning_tokens: 0 } })).json() as Json
  t.same(plain.usage, { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } }, 'null clears an override')
})

t.test('deepseek_usage adds prompt_cache_hit_tokens and prompt_cache_miss_tokens', async (t) => {
  const { url } = await start(t, { ...cost, deepseekUsage: true })
  const body = await (await post(`${url}/v1/chat/completions`, chat)).json() as Json
  t.equal(body.usage.prompt_cache_hit_tokens, 800)
  t.equal(body.usage.prompt_cache_miss_tokens, 200)
  t.same(body.usage.prompt_tokens_details, { cached_tokens: 800 })
  const stream = sseData(await (await post(`${url}/v1/chat/completions`, { ...chat, stream: true, stream_options: { include_usage: true } })).text())
  t.equal(JSON.parse(stream.at(-2)!).usage.prompt_cache_hit_tokens, 800)
})

t.test('the same knobs in each API spelling: chat, Responses, Messages', async (t) => {
  const { url } = await start(t, { ...cost, cache_write_tokens: 0 })
  const responses = await (await post(`${url}/v1/responses`, { model: 'gpt-4.1', input: 'hi' })).json() as Json
  t.same(responses.usage, { input_tokens: 1000, input_tokens_details: { cached_tokens: 800 }, output_tokens: 300, output_tokens_details: { reasoning_tokens: 200 }, total_tokens: 1300 })
  const messages = await (await post(`${url}/v1/messages`, { model: 'claude-sonnet-4.5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }, { 'anthropic-version': '2023-06-01' })).json() as Json
  t.same(messages.usage, { input_tokens: 200, cache_creation_input_tokens: 0, cache_read_input_tokens: 800, output_tokens: 300 })
})

t.test('parts are capped by their wholes, so a small prompt never reports negative uncached tokens', async (t) => {
  const knobs = { chunks: 5, cached_tokens: 800, reasoning_tokens: 200, cache_write_tokens: 50 }
  t.same(usageFor(knobs, 10), { prompt_tokens: 10, completion_tokens: 5, cached_tokens: 10, reasoning_tokens: 5, cache_write_tokens: 0 })
  t.same(usageFor({ ...knobs, prompt_tokens: 1000, cached_tokens: 900, cache_write_tokens: 500 }, 10).cache_write_tokens, 100)
})

t.test('the knobs are validated once, snake_case or camelCase, from config and the environment', async (t) => {
  t.same(parseConfig({ promptTokens: '12', cachedTokens: 3, reasoningTokens: 1, cacheWriteTokens: 2, completionTokens: 7, deepseekUsage: 'true', incomplete: false }),
    { prompt_tokens: 12, cached_tokens: 3, reasoning_tokens: 1, cache_write_tokens: 2, completion_tokens: 7, deepseek_usage: true, incomplete: false })
  t.same(parseConfig({ prompt_tokens: null }), { prompt_tokens: undefined })
  t.throws(() => parseConfig({ cached_tokens: -1 }), /cached_tokens must be an integer/)
  t.throws(() => parseConfig({ incomplete: 'yes' }), /incomplete must be true or false/)
  t.throws(() => parseConfig({ cached_tokens: null }), /cached_tokens must be an integer/)
  t.equal(readMockEnv({ MOCK_CACHED_TOKENS: '800' }).options.cached_tokens, 800)
  t.equal(readMockEnv({ MOCK_DEEPSEEK_USAGE: 'true' }).options.deepseek_usage, true)
  t.throws(() => readMockEnv({ MOCK_REASONING_TOKENS: 'many' }), /MOCK_REASONING_TOKENS/)
  const { url } = await start(t)
  const bad = await post(`${url}/v1/responses`, { model: 'm', input: 'x', mock: { cachedTokens: 'lots' } })
  t.equal(bad.status, 400)
  t.equal(((await bad.json()) as Json).error.param, 'mock.cachedTokens')
})
