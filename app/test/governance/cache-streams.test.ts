// Cached streams are replayed as the events their surface's clients parse: the openai SDK joins a
// replayed chat stream to the same text and usage; Responses and Messages streams come back byte for byte.
import t from 'tap'
import OpenAI from 'openai'
import { startReplicas, upstreamCalls } from './replicas.js'
import { startRedis } from '../support/redis.js'

t.test('a cached chat stream: the openai SDK joins the replay to the same text, with the usage chunk it asked for', async (t) => {
  const redis = await startRedis(t)
  const set = await startReplicas(t, { redisUrl: redis.url, keys: { team: 'cache=on' }, replicas: 2 })
  const clients = await Promise.all(set.gateways.map(async (gw) => new OpenAI({ baseURL: `${await gw.listen()}/v1`, apiKey: set.keys.team as string, maxRetries: 0, timeout: 10_000 })))
  const read = async (client: OpenAI, includeUsage: boolean): Promise<{ text: string, usage: unknown, cache: string | null, chunks: number }> => {
    const { data: stream, response } = await client.chat.completions.create({
      model: 'gpt-4.1',
      temperature: 0,
      messages: [{ role: 'user', content: 'tell me a story' }],
      stream: true,
      ...(includeUsage ? { stream_options: { include_usage: true } } : {})
    }).withResponse()
    let text = ''
    let usage: unknown
    let chunks = 0
    for await (const chunk of stream) {
      chunks++
      text += chunk.choices[0]?.delta.content ?? ''
      if (chunk.usage !== undefined && chunk.usage !== null) usage = chunk.usage
    }
    return { text, usage, cache: response.headers.get('x-gateway-cache'), chunks }
  }
  const first = await read(clients[0]!, true)
  const replayed = await read(clients[1]!, true)
  t.equal(first.cache, 'MISS')
  t.equal(replayed.cache, 'HIT')
  t.ok(first.text.length > 0)
  t.equal(replayed.text, first.text, 'the same text')
  t.same(replayed.usage, first.usage, 'the usage chunk it asked for')
  t.ok(replayed.usage !== undefined)
  t.equal(replayed.chunks, first.chunks)
  // Without include_usage it is another request (another entry), answered without the usage chunk.
  const plain = await read(clients[1]!, false)
  t.equal(plain.cache, 'MISS')
  t.equal(plain.usage, undefined)
  t.equal((await read(clients[0]!, false)).cache, 'HIT')
  t.equal(upstreamCalls(set.upstream('default')), 2)
})

t.test('cached Responses and Messages streams are replayed byte for byte in their own event format', async (t) => {
  const redis = await startRedis(t)
  const set = await startReplicas(t, { redisUrl: redis.url, keys: { team: 'cache=on' } })
  const cases: Array<{ url: string, body: Record<string, unknown>, headers: Record<string, string>, final: RegExp }> = [
    { url: '/v1/responses', body: { model: 'gpt-4.1', input: 'hello', temperature: 0, stream: true }, headers: {}, final: /event: response\.completed/ },
    { url: '/v1/messages', body: { model: 'claude-sonnet-4.5', max_tokens: 64, temperature: 0, stream: true, messages: [{ role: 'user', content: 'hello' }] }, headers: { 'anthropic-version': '2023-06-01' }, final: /event: message_stop/ }
  ]
  for (const c of cases) {
    const first = await set.post(0, c.url, c.body, { headers: c.headers })
    t.equal(first.statusCode, 200, c.url)
    t.equal(first.headers['x-gateway-cache'], 'MISS')
    t.match(first.body, c.final)
    const again = await set.post(1, c.url, c.body, { headers: c.headers })
    t.equal(again.headers['x-gateway-cache'], 'HIT', `${c.url}: a hit`)
    t.match(String(again.headers['content-type']), /^text\/event-stream/)
    t.equal(again.body, first.body, `${c.url}: the same events`)
    t.equal(upstreamCalls(set.upstream('default'), c.url), 1)
  }
  // A non-stream JSON answer of the same request is its own entry.
  const json = await set.post(2, '/v1/messages', { ...cases[1]!.body, stream: false }, { headers: cases[1]!.headers })
  t.equal(json.headers['x-gateway-cache'], 'MISS')
  t.match(String(json.headers['content-type']), /^application\/json/)
})
