// Nagle's algorithm is off on every socket the gateway owns: client connections (node:http via
// Fastify), upstream connections (undici) and Redis (ioredis). With Nagle on, a small write
// waits for the peer's delayed ACK, and concurrency-1 latency shows 40 ms steps.
import t from 'tap'
import { createServer } from 'node:http'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import type { Socket } from 'node:net'
import { request } from 'undici'
import { chatBody, startTestGateway } from '../support/gateway.js'
import { startRedis } from '../support/redis.js'

/**
 * Whether setNoDelay(true) was applied to a socket. Node keeps that in an internal symbol
 * (`kSetNoDelay`, set by setNoDelay() and by a server's noDelay option); there is no public
 * getter. A Node without that symbol fails this test rather than passing it unchecked.
 */
function noDelay (socket: Socket): boolean {
  const sym = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'kSetNoDelay')
  if (sym === undefined) throw new Error('this Node keeps no kSetNoDelay on sockets: check TCP_NODELAY another way (strace -e setsockopt)')
  return (socket as unknown as Record<symbol, unknown>)[sym] === true
}

t.test('client, upstream and Redis sockets all have TCP_NODELAY set', async (t) => {
  const redisUrl = (await startRedis(t)).url
  const upstreamSockets: Socket[] = []
  const onConnected = (msg: unknown): void => { upstreamSockets.push((msg as { socket: Socket }).socket) }
  subscribe('undici:client:connected', onConnected)
  t.teardown(() => { unsubscribe('undici:client:connected', onConnected) })

  const gw = await startTestGateway({ env: { REDIS_URL: redisUrl } })
  t.teardown(async () => { await gw.close() })
  const clientSockets: Socket[] = []
  gw.app.server.on('connection', (s: Socket) => { clientSockets.push(s) })
  const base = await gw.listen()

  const res = await request(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...gw.auth() }, body: JSON.stringify(chatBody()) })
  t.equal(res.statusCode, 200)
  await res.body.text()

  t.ok(clientSockets.length > 0, 'the gateway accepted a client connection')
  t.ok(clientSockets.every(noDelay), 'client connections (node:http server behind Fastify): TCP_NODELAY')
  // the test's own undici client also connects; the gateway's connection is the one to the mock
  const mockAddr = gw.mock.server.address()
  const mockPort = typeof mockAddr === 'object' && mockAddr !== null ? mockAddr.port : -1
  const toUpstream = upstreamSockets.filter((s) => s.remotePort === mockPort)
  t.ok(toUpstream.length > 0, 'the gateway opened an upstream connection')
  t.ok(toUpstream.every(noDelay), 'upstream connections (undici Pool): TCP_NODELAY')
  const redisStream = gw.app.redis?.stream as Socket | undefined
  t.ok(redisStream !== undefined, 'the gateway holds a Redis connection')
  if (redisStream !== undefined) t.ok(noDelay(redisStream), 'Redis connection (ioredis): TCP_NODELAY')
  // the metrics listener (server.ts) is a plain node:http server: its default is what matters
  // (`noDelay` is a runtime field of net.Server that @types/node does not declare)
  t.equal((createServer() as unknown as { noDelay?: boolean }).noDelay, true, 'node:http servers default to noDelay (the metrics listener)')
})
