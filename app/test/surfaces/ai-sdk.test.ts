// The Vercel AI SDK's default OpenAI provider (createOpenAI(...)(model) speaks the Responses API) through the gateway.
import t from 'tap'
import { generateText, streamText } from 'ai'
import { createOpenAI } from '@ai-sdk/openai'
import { mockText } from '../support/gateway.js'
import { waitFor } from '../support/wait.js'
import { lastReceived, listeningGateway, received } from './support.js'

const USAGE_KNOBS = { prompt_tokens: 1000, cached_tokens: 800, completion_tokens: 300, reasoning_tokens: 200 }

t.test('generateText: the mock\'s text and usage, over POST /v1/responses', async (t) => {
  const { gw, url } = await listeningGateway(t, { mock: USAGE_KNOBS })
  const openai = createOpenAI({ baseURL: `${url}/v1`, apiKey: gw.keys.main as string })
  const result = await generateText({ model: openai('gpt-4.1'), prompt: 'hello there gateway', maxRetries: 0 })
  t.equal(result.text, mockText(5))
  t.equal(result.usage.inputTokens, 1000)
  t.equal(result.usage.outputTokens, 300)
  t.equal(result.usage.inputTokenDetails.cacheReadTokens, 800)
  t.equal(result.usage.outputTokenDetails.reasoningTokens, 200)
  t.equal(received(gw.mock, '/v1/responses').length, 1, 'the provider called the Responses API')
  t.equal(gw.mock.stats().requests, 1, 'and nothing else')
  t.equal(lastReceived(gw.mock, '/v1/responses').model, 'gpt-4.1')
})

t.test('streamText: the text as it streamed, and the usage', async (t) => {
  const { gw, url } = await listeningGateway(t, { mock: USAGE_KNOBS })
  const openai = createOpenAI({ baseURL: `${url}/v1`, apiKey: gw.keys.main as string })
  const errors: unknown[] = []
  const result = streamText({ model: openai('gpt-4.1'), prompt: 'hello there gateway', maxRetries: 0, onError: ({ error }) => { errors.push(error) } })
  let streamed = ''
  let parts = 0
  for await (const delta of result.textStream) { streamed += delta; parts++ }
  t.equal(streamed, mockText(5))
  t.equal(parts, 5, 'one text part per upstream delta')
  t.equal(await result.text, mockText(5))
  const usage = await result.usage
  t.equal(usage.inputTokens, 1000)
  t.equal(usage.outputTokens, 300)
  t.equal(usage.inputTokenDetails.cacheReadTokens, 800)
  t.equal(usage.outputTokenDetails.reasoningTokens, 200)
  t.equal(await result.finishReason, 'stop')
  t.same(errors, [], 'no stream error')
  t.equal(lastReceived(gw.mock, '/v1/responses').stream, true)
  t.ok(await waitFor(() => lastReceived(gw.mock, '/v1/responses').completed, 5000), 'the upstream stream ran to its end')
})

t.test('a wrong gateway key: the AI SDK raises the gateway\'s 401 and nothing reaches the upstream', async (t) => {
  const { gw, url } = await listeningGateway(t)
  const openai = createOpenAI({ baseURL: `${url}/v1`, apiKey: 'sk-gw-not-a-key' })
  const err = await generateText({ model: openai('gpt-4.1'), prompt: 'hello', maxRetries: 0 }).then(() => undefined, (e: unknown) => e)
  t.match(err, { statusCode: 401 })
  t.match(String((err as { responseBody?: string } | undefined)?.responseBody), /authentication_error/)
  t.equal(gw.mock.stats().requests, 0)
})
