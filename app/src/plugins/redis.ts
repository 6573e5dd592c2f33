// The shared Redis connection (limits across replicas), when REDIS_URL is set; closed with the app.
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'

declare module 'fastify' {
  interface FastifyInstance { redis: Redis | undefined }
}

export default fp<{ url: string | undefined }>(async function redis (app, opts) {
  if (opts.url === undefined) {
    app.decorate('redis', undefined)
    app.log.warn('REDIS_URL is not set: rate limits are counted per process, not shared between replicas')
    return
  }
  const client = new Redis(opts.url, {
    // Fail fast instead of queueing: a limiter that waits on a dead Redis stalls every request.
    enableOfflineQueue: false,
    // Commands issued in the same tick (every request checks its limit) share one socket write.
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 1000,
    retryStrategy: (times) => Math.min(times * 200, 2000)
  })
  let warned = false
  client.on('error', (err: Error) => {
    if (!warned) app.log.warn({ err: { message: err.message } }, 'redis connection problem; limits fail open until it is back')
    warned = true
  })
  client.on('ready', () => { warned = false })
  // Give Redis a moment at boot so the first requests are already counted; do not block on it.
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 2000)
    timer.unref()
    client.once('ready', () => { clearTimeout(timer); resolve() })
  })
  app.decorate('redis', client)
  app.addHook('onClose', async () => { client.disconnect() })
}, { name: 'redis', fastify: '5.x' })
