// The usage buckets are added up in process and written once a second: what a gateway still holds
// when it closes reaches Redis, and its own usage reads include what it has not written yet.
import t from 'tap'
import { Redis } from 'ioredis'
import { hashKey } from '../../src/lib/keys.js'
import { utcDay } from '../../src/lib/usage-buckets.js'
import { chatBody, startTestGateway } from '../support/gateway.js'
import { startRedis } from '../support/redis.js'

const KEY = 'sk-gw-perf-usage-writes'

t.test('a closing gateway writes the usage it holds; its own reads are exact at once', async (t) => {
  const redisUrl = (await startRedis(t)).url
  const gw = await startTestGateway({ env: { REDIS_URL: redisUrl, GATEWAY_KEYS: `writer:${hashKey(KEY)}` } })
  let closed = false
  t.teardown(async () => { if (!closed) await gw.close() })
  const send = async (): Promise<void> => {
    const res = await gw.app.inject({ method: 'POST', url: '/v1/chat/completions', headers: { authorization: `Bearer ${KEY}` }, payload: chatBody() })
    t.equal(res.statusCode, 200)
  }
  for (let i = 0; i < 3; i++) await send()
  const day = utcDay(Date.now())
  const own = await gw.app.usageStore.read([day], 'writer')
  t.equal(own.reduce((n, e) => n + e.counts.requests, 0), 3, 'the replica\'s own read counts every request')
  // These two are held in process (the next timed write is up to a second away) until the close.
  for (let i = 0; i < 2; i++) await send()

  await gw.close()
  closed = true
  const redis = new Redis(redisUrl, { lazyConnect: true })
  t.teardown(() => { redis.disconnect() })
  const hash = await redis.hgetall(`llm-gw:usage:${day}:writer`)
  t.equal(Number(hash['requests:gpt-4.1']), 5, 'every request is in Redis after the close')
  t.ok(Number(hash['prompt_tokens:gpt-4.1']) > 0, 'with its tokens')
  t.ok(await redis.ttl(`llm-gw:usage:${day}:writer`) > 0, 'the bucket expires')
  t.same(await redis.smembers(`llm-gw:usage:keys:${day}`), ['writer'], 'the key is listed for its day')
})
