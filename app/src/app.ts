// buildApp(config): the gateway's request pipeline, registered in the order a request meets it.
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import cors from '@fastify/cors'
import type { Config } from './config.js'
import { KeyRing } from './lib/keys.js'
import metrics from './plugins/metrics.js'
import requestContext from './plugins/request-context.js'
import errorHandler from './plugins/error-handler.js'
import jsonBody from './plugins/json-body.js'
import redis from './plugins/redis.js'
import upstream from './plugins/upstream.js'
import auth from './plugins/auth.js'
import limits from './plugins/limits.js'
import budgets from './plugins/budgets.js'
import accounting from './plugins/accounting.js'
import health from './routes/health.js'
import surfaces from './routes/v1/surfaces.js'
import models from './routes/v1/models.js'
import { randomUUID } from 'node:crypto'
import type { LoggerOptions } from 'pino'

declare module 'fastify' {
  interface FastifyInstance {
    gatewayConfig: Config
    /** the gateway keys; `replace()` swaps them while running (SIGHUP reloads GATEWAY_KEYS_FILE) */
    keyRing: KeyRing
  }
}

const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/

/** pino options: the level, and redaction as a second line of defence (nothing secret is logged). */
export function loggerOptions (config: Config): LoggerOptions {
  return { level: config.logLevel, redact: { paths: ['req.headers.authorization', 'headers.authorization', '*.apiKey', '*.api_key', '*.authorization'], censor: '[redacted]' } }
}

export interface BuildOptions {
  /** a pino logger instance (tests pass one writing to a capturing stream) */
  loggerInstance?: FastifyServerOptions['loggerInstance']
}

export async function buildApp (config: Config, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...(opts.loggerInstance !== undefined
      ? { loggerInstance: opts.loggerInstance }
      : { logger: loggerOptions(config) }),
    // One log line per request comes from request-context; Fastify's own request lines are off,
    // and no child logger is built per request: the lines carry the request id themselves.
    childLoggerFactory: (logger) => logger,
    // One log line per request comes from accounting; Fastify's own request lines are off.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustProxy,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: false,
    // nginx's X-Request-ID when it is sane, else our own.
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID_RE.test(given) ? given : randomUUID()
    },
    ajv: { customOptions: { allowUnionTypes: true, coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } }
  })
  app.decorate('gatewayConfig', config)
  app.decorate('keyRing', new KeyRing(config.keys))

  // Errors of every stage leave as error objects in the format of the route's clients.
  await app.register(errorHandler)
  // prom-client registry; read at the end of each request.
  await app.register(metrics)
  // 1. onRequest: request id, timer, error format, in-flight.
  await app.register(requestContext)
  // CORS for browser clients (when the edge does not answer it already).
  if (config.corsOrigins.length > 0) {
    const any = config.corsOrigins.includes('*')
    await app.register(cors, {
      origin: any ? '*' : config.corsOrigins,
      credentials: false,
      methods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
      allowedHeaders: ['Authorization', 'Content-Type', 'OpenAI-Beta', 'X-Request-ID', 'Idempotency-Key', 'X-Api-Key', 'Anthropic-Version', 'Anthropic-Beta', 'Anthropic-Dangerous-Direct-Browser-Access', 'X-Gateway-Cache'],
      exposedHeaders: ['X-Request-ID', 'Retry-After', 'X-RateLimit-Limit-Requests', 'X-RateLimit-Remaining-Requests', 'X-RateLimit-Reset-Requests', 'X-Gateway-Cache', 'Idempotent-Replayed'],
      maxAge: 600
    })
  }
  // Safe JSON parsing with the raw bytes kept for forwarding.
  await app.register(jsonBody)
  await app.register(redis)
  await app.register(budgets)
  // 7. account: metrics, the key's token and spend charge, one log line, once each response has
  //    closed. Registered before the routes so it sees every answer, errors of early stages included.
  await app.register(accounting)
  // 6. relay: undici pools per upstream, response affinity.
  await app.register(upstream)
  await app.register(health)

  await app.register(async function v1 (api) {
    // 2. auth: gateway key → identity.
    await api.register(auth)
    // 3. limits: requests, tokens and spend per key, shared in Redis.
    await api.register(limits)
    // 4.–6. every surface's routes (surfaces/index.ts): validate (route schemas), route (model →
    //      targets, relay-job.ts), relay (relay/relay.ts).
    await api.register(surfaces)
    await api.register(models)
  }, { prefix: '/v1' })

  return app
}
