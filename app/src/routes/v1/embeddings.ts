// POST /v1/embeddings: validate, route, relay.
import type { FastifyInstance } from 'fastify'
import { embeddingBody } from './schemas.js'
import { relayJob } from './relay-job.js'

export default async function embeddings (app: FastifyInstance): Promise<void> {
  app.post('/embeddings', { schema: { body: embeddingBody } }, async (request, reply) => {
    return await app.relay.forward(request, reply, relayJob(request, '/embeddings'))
  })
}
