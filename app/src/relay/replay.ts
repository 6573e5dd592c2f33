// Sends a stored answer (a cache hit, an Idempotency-Key replay) to the client in the form it was
// first sent: the same JSON bytes, or the same SSE events of the surface's format, in one write.
import type { FastifyReply } from 'fastify'
import type { StoredAnswer } from './stored-answer.js'

export function replay (reply: FastifyReply, answer: StoredAnswer, extra: Record<string, string>): FastifyReply {
  const age = Math.max(0, Math.floor((Date.now() - answer.storedAt) / 1000))
  reply.code(answer.status).headers(answer.headers).headers(extra).header('age', String(age))
  if (answer.stream) {
    reply.headers({ 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' })
  }
  return reply.send(answer.body)
}
