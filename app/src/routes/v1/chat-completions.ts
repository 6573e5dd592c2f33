// POST /v1/chat/completions: validate, route, relay (JSON or SSE stream).
import type { FastifyInstance } from 'fastify'
import { chatCompletionBody } from './schemas.js'
import { relayJob } from './relay-job.js'

export default async function chatCompletions (app: FastifyInstance): Promise<void> {
  app.post('/chat/completions', { schema: { body: chatCompletionBody } }, async (request, reply) => {
    return await app.relay.forward(request, reply, relayJob(request, '/chat/completions'))
  })
}
