// A 2xx answer that is neither JSON nor SSE (speech audio, a transcription as text): piped as it arrives.
import type { Dispatcher } from 'undici'
import type { FastifyReply } from 'fastify'
import { binaryResponseHeaders } from '../lib/headers.js'
import type { AbortSide } from '../lib/stream-relay.js'

/** Sends the upstream body through with backpressure; resolves with who cut it short, if anyone. */
export async function bytesAnswer (reply: FastifyReply, res: Dispatcher.ResponseData, clientGone: () => boolean): Promise<AbortSide | undefined> {
  reply.hijack()
  const out = reply.raw
  // Object.assign, not spreads: two spreads in one literal cost ~4 µs on Node 20.
  const headers: Record<string, string> = Object.assign({}, reply.getHeaders() as Record<string, string>, binaryResponseHeaders(res.headers))
  const length = res.headers['content-length']
  if (typeof length === 'string') headers['content-length'] = length
  out.writeHead(res.statusCode, headers)
  return await new Promise<AbortSide | undefined>((resolve) => {
    res.body.on('data', (chunk: Buffer) => { if (!out.write(chunk)) res.body.pause() })
    out.on('drain', () => { res.body.resume() })
    res.body.once('end', () => { out.end(); resolve(undefined) })
    res.body.once('error', () => {
      // Headers are gone: the only honest signal left is a connection that ends without its last bytes.
      out.destroy()
      resolve(clientGone() ? 'client' : 'upstream')
    })
  })
}
