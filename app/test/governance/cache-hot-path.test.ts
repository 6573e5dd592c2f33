// The relay's hot path stays cheap: with the cache off and no Idempotency-Key, a request sends Redis
// nothing for the cache, idempotency or cooldowns (no key of theirs, no publish), streams included.
import t from 'tap'
import type { Command } from 'ioredis'
import { chatBody } from '../support/gateway.js'
import { startReplicas } from './replicas.js'
import { startRedis } from '../support/redis.js'

t.test('no cache, no Idempotency-Key: no Redis command of those features per request', async (t) => {
  const redis = await startRedis(t)
  const set = await startReplicas(t, { redisUrl: redis.url, keys: { plain: '', cached: 'cache=on' }, replicas: 1 })
  const client = set.gateways[0]!.app.redis
  if (client === undefined) throw new Error('no Redis client')
  const seen: string[] = []
  const send = client.sendCommand.bind(client)
  client.sendCommand = ((command: Command, ...rest: unknown[]) => {
    seen.push([command.name, ...command.args.map((a) => Buffer.isBuffer(a) ? a.toString('latin1', 0, 40) : String(a).slice(0, 40))].join(' '))
    return (send as (c: Command, ...r: unknown[]) => unknown)(command, ...rest)
  }) as typeof client.sendCommand
  // The cooldowns' one SCAN when the replica's subscription comes up (at boot, after a reconnect) is not per request.
  const ours = (): string[] => seen.filter((c) => /llm-gw:(cache|idem|cooldown)|^publish/i.test(c) && !/^scan 0 MATCH llm-gw:cooldown:\*/.test(c))
  for (let i = 0; i < 10; i++) {
    t.equal((await set.post(0, '/v1/chat/completions', chatBody({ temperature: 0 }))).statusCode, 200)
    t.equal((await set.post(0, '/v1/chat/completions', chatBody({ temperature: 0, stream: true }))).statusCode, 200)
  }
  t.same(ours(), [], 'nothing of the cache, idempotency or cooldowns')
  t.ok(seen.filter((c) => c.startsWith('scan')).length <= 1, 'at most the one SCAN of the subscription coming up')
  t.ok(seen.length > 0, 'the counter sees the gateway\'s other commands (limits)')
  // The counter works: a cached key's request does send the cache's commands.
  await set.post(0, '/v1/chat/completions', chatBody({ temperature: 0 }), { key: 'cached' })
  t.ok(ours().length > 0, 'a request of a cache=on key does')
})
