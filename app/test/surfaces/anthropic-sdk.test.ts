// The official @anthropic-ai/sdk through the gateway: messages.create, messages.stream, countTokens and
// its error classes, with the gateway key as x-api-key (apiKey) and as a Bearer token (authToken, like Claude Code).
import t, { type Test } from 'tap'
import Anthropic from '@anthropic-ai/sdk'
import { mockText, UPSTREAM_KEY, type TestGateway, type TestGatewayOptions } from '../support/gateway.js'
import { lastReceived, listeningGateway } from './support.js'
import { caught } from '../support/http.js'

const BETA = 'prompt-caching-2024-07-31'
const VERSION = '2023-06-01'
/** The mock reports 1,000 prompt tokens of which 800 are cache reads, and 300 output tokens. */
const USAGE_KNOBS = { prompt_tokens: 1000, cached_tokens: 800, completion_tokens: 300 }

type Auth = 'apiKey' | 'authToken'

async function setup (t: Test, auth: Auth, opts: TestGatewayOptions = {}, key?: string): Promise<{ gw: TestGateway, client: Anthropic }> {
  const { gw, url } = await listeningGateway(t, opts)
  const secret = key ?? gw.keys.main as string
  const client = new Anthropic({
    baseURL: url,
    // exactly one of the two, as each kind of client sends it
    apiKey: auth === 'apiKey' ? secret : null,
    authToken: auth === 'authToken' ? secret : null,
    // a client pinned to an older API version: the upstream must get that one, not a default
    defaultHeaders: { 'anthropic-version': VERSION, 'anthropic-beta': BETA },
    maxRetries: 0,
    timeout: 10_000
  })
  return { gw, client }
}

const params: Anthropic.MessageCreateParamsNonStreaming = {
  model: 'claude-sonnet-4.5',
  max_tokens: 1024,
  messages: [{ role: 'user', content: 'hello there gateway' }]
}

/** What the upstream received: its own key (never the client's), the client's version and beta headers. */
function checkUpstreamRequest (t: Test, gw: TestGateway, path: string): void {
  const req = lastReceived(gw.mock, path)
  t.equal(req.headers['x-api-key'], UPSTREAM_KEY, 'the upstream got the gateway\'s upstream key in x-api-key')
  t.equal(req.headers.authorization, undefined, 'and no Authorization header')
  t.not(JSON.stringify(req.headers).includes(gw.keys.main as string), true, 'the client\'s gateway key never reached the upstream')
  t.equal(req.anthropic_version, VERSION, 'the client\'s anthropic-version')
  t.equal(req.anthropic_beta, BETA, 'the client\'s anthropic-beta')
}

for (const auth of ['apiKey', 'authToken'] as const) {
  t.test(`${auth}: messages.create, the text and the usage the mock sent`, async (t) => {
    const { gw, client } = await setup(t, auth, { mock: USAGE_KNOBS })
    const msg = await client.messages.create(params)
    t.equal(msg.type, 'message')
    t.equal(msg.role, 'assistant')
    t.same(msg.content.map((c) => c.type === 'text' ? c.text : ''), [mockText(5)])
    t.equal(msg.stop_reason, 'end_turn')
    t.match(msg.usage, { input_tokens: 200, cache_read_input_tokens: 800, cache_creation_input_tokens: 0, output_tokens: 300 })
    t.same(gw.mock.stats().usage_reported, { prompt_tokens: 1000, completion_tokens: 300 })
    checkUpstreamRequest(t, gw, '/v1/messages')
  })

  t.test(`${auth}: messages.stream, text joined exactly, finalMessage().usage is the mock's`, async (t) => {
    const { gw, client } = await setup(t, auth, { mock: USAGE_KNOBS })
    const stream = client.messages.stream(params)
    let text = ''
    let deltas = 0
    stream.on('text', (delta) => { text += delta; deltas++ })
    const final = await stream.finalMessage()
    t.equal(text, mockText(5))
    t.equal(deltas, 5)
    t.same(final.content.map((c) => c.type === 'text' ? c.text : ''), [mockText(5)])
    t.match(final.usage, { input_tokens: 200, cache_read_input_tokens: 800, cache_creation_input_tokens: 0, output_tokens: 300 })
    // the JSON answer for the same knobs says the same
    const json = await client.messages.create(params)
    t.same(final.usage, json.usage, 'the streamed usage adds up to the JSON answer\'s')
    t.equal(lastReceived(gw.mock, '/v1/messages').stream, false)
    t.ok(gw.mock.stats().recent.some((r) => r.path === '/v1/messages' && r.stream), 'the upstream was asked for a stream')
    checkUpstreamRequest(t, gw, '/v1/messages')
  })

  t.test(`${auth}: messages.countTokens`, async (t) => {
    const { gw, client } = await setup(t, auth)
    const count = await client.messages.countTokens({ model: 'claude-sonnet-4.5', messages: [{ role: 'user', content: 'one two three four' }] })
    t.same(count, { input_tokens: 4 })
    checkUpstreamRequest(t, gw, '/v1/messages/count_tokens')
  })

  t.test(`${auth}: a wrong gateway key raises AuthenticationError, and nothing reaches the upstream`, async (t) => {
    const { gw, client } = await setup(t, auth, {}, 'sk-gw-wrong-key-0123456789')
    const err = await caught(t, async () => await client.messages.create(params))
    t.ok(err instanceof Anthropic.AuthenticationError, 'AuthenticationError')
    t.match(err, { status: 401, error: { type: 'error', error: { type: 'authentication_error' } } })
    const streamErr = await caught(t, async () => await client.messages.stream(params).finalMessage())
    t.ok(streamErr instanceof Anthropic.AuthenticationError, 'a stream raises it too')
    const countErr = await caught(t, async () => await client.messages.countTokens({ model: 'claude-sonnet-4.5', messages: [{ role: 'user', content: 'x' }] }))
    t.ok(countErr instanceof Anthropic.AuthenticationError, 'countTokens raises it too')
    t.equal(gw.mock.stats().requests, 0)
  })

  for (const kind of ['create', 'stream'] as const) {
    t.test(`${auth}: an upstream 429 raises RateLimitError with retry-after (${kind})`, async (t) => {
      const { gw, client } = await setup(t, auth, { mock: { fault: '429', retry_after: 7 } })
      const err = await caught(t, async () => kind === 'create' ? await client.messages.create(params) : await client.messages.stream(params).finalMessage())
      t.ok(err instanceof Anthropic.RateLimitError, 'RateLimitError')
      const e = err as InstanceType<typeof Anthropic.RateLimitError>
      t.equal(e.status, 429)
      t.equal(e.headers?.get('retry-after'), '7', 'the upstream\'s retry-after')
      t.match(e.error, { type: 'error', error: { type: 'rate_limit_error' } })
      t.equal(gw.mock.stats().requests, 1, 'one upstream attempt, no retry by the gateway')
    })
  }
}

t.test('an upstream configured for Bearer auth on the Messages routes gets its key that way', async (t) => {
  const { gw, client } = await setup(t, 'apiKey', { env: { UPSTREAM_MESSAGES_AUTH: 'bearer' } })
  const msg = await client.messages.create(params)
  t.same(msg.content.map((c) => c.type === 'text' ? c.text : ''), [mockText(5)])
  const req = lastReceived(gw.mock, '/v1/messages')
  t.equal(req.headers.authorization, `Bearer ${UPSTREAM_KEY}`)
  t.equal(req.headers['x-api-key'], undefined, 'the client\'s x-api-key is not forwarded')
})

t.test('an upstream that does not serve Messages: a 404 in Anthropic\'s format, the SDK\'s NotFoundError', async (t) => {
  const { gw, client } = await setup(t, 'apiKey', { env: { UPSTREAM_MESSAGES: 'false' } })
  const err = await caught(t, async () => await client.messages.create(params))
  t.ok(err instanceof Anthropic.NotFoundError, 'NotFoundError')
  t.match(err, { status: 404, error: { type: 'error', error: { type: 'not_found_error' } } })
  t.equal(gw.mock.stats().requests, 0)
})
