// Every relayed route, registered from the surfaces table: validate and route (relay-job.ts), then relay.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { GatewayError } from '../../errors.js'
import { ROUTES } from '../../surfaces/index.js'
import { discardUnread } from '../../relay/upload.js'
import { relayJob } from './relay-job.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** the surface of a relayed route (its error format, usage rules) */
    surface?: (typeof ROUTES)[number]['surface']
  }
}

/** Multipart and binary bodies are not parsed: the upload route streams them to the upstream itself. */
const UPLOAD_TYPES = ['multipart/form-data', 'application/octet-stream']

async function surfaces (app: FastifyInstance): Promise<void> {
  app.addContentTypeParser(UPLOAD_TYPES, (_request, _payload, done) => { done(null, undefined) })
  for (const route of ROUTES) {
    app.route({
      method: route.method,
      url: route.path,
      config: { surface: route.surface },
      ...(route.schema !== undefined ? { schema: { body: route.schema } } : {}),
      // Not an async function: a JSON request's job is ready at once, so serve() is called without
      // waiting a microtask (errors thrown here reach the error handler all the same).
      handler: (request, reply) => {
        if (route.body === 'upload' && request.body !== undefined) {
          throw new GatewayError('unsupported_media_type', { message: 'Send this request as multipart/form-data.' })
        }
        const job = relayJob(request, route)
        if (route.body === 'upload') {
          // However the relay ends, what it left of the client's body is read and dropped.
          return Promise.resolve(job).then(async (j) => await app.relay.serve(request, reply, j))
            .finally(() => { discardUnread(request.raw, app.gatewayConfig.bodyLimitBytes) })
        }
        return job instanceof Promise ? job.then(async (j) => await app.relay.serve(request, reply, j)) : app.relay.serve(request, reply, job)
      }
    })
  }
}

// Its own scope (encapsulated), with what it reads declared.
export default fp(surfaces, { name: 'surfaces-routes', dependencies: ['upstream', 'json-body', 'request-context'], decorators: { fastify: ['gatewayConfig'] }, encapsulate: true, fastify: '5.x' })
