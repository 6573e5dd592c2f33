// POST /v1/completions (legacy text completions): validate, route, relay.
import type { FastifyInstance } from 'fastify'
import { completionBody } from './schemas.js'
import { relayJob } from './relay-job.js'

export default async function completions (app: FastifyInstance): Promise<void> {
  app.post('/completions', { schema: { body: completionBody } }, async (request, reply) => {
    return await app.relay.forward(request, reply, relayJob(request, '/completions'))
  })
}
