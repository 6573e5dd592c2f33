// The one error handler: every error, ours or Fastify's, leaves as an error object in the format the
// route's clients parse (OpenAI's, or Anthropic's on the Messages routes).
import fp from 'fastify-plugin'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { GatewayError, renderError } from '../errors.js'

interface ValidationIssue { instancePath?: string, keyword?: string, message?: string, params?: Record<string, unknown> }

function paramOf (issue: ValidationIssue): string | null {
  const base = (issue.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.').replace(/\.(\d+)(?=\.|$)/g, '[$1]')
  const missing = issue.params?.missingProperty
  if (typeof missing === 'string') return base === '' ? missing : `${base}.${missing}`
  return base === '' ? null : base
}

/** Turns anything thrown inside the app into a GatewayError. */
export function toGatewayError (err: FastifyError | GatewayError | Error): GatewayError {
  if (err instanceof GatewayError) return err
  const e = err as FastifyError & { validation?: ValidationIssue[] }
  if (Array.isArray(e.validation) && e.validation.length > 0) {
    const issue = e.validation[0] as ValidationIssue
    const param = paramOf(issue)
    if (issue.keyword === 'required') {
      return new GatewayError('missing_required_parameter', { param, message: `Missing required parameter: '${param ?? ''}'.` })
    }
    const what = issue.message ?? 'is invalid'
    return new GatewayError('invalid_request', { param, message: param === null ? `The request body ${what}.` : `Invalid value for '${param}': ${what}.` })
  }
  switch (e.code) {
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new GatewayError('invalid_json', { message: 'The request body is empty; send a JSON object.' })
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GatewayError('request_too_large')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return new GatewayError('unsupported_media_type')
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new GatewayError('invalid_request', { message: 'The Content-Length header does not match the body.' })
  }
  if (e instanceof SyntaxError || e.code === 'FST_ERR_CTP_INVALID_JSON_BODY') return new GatewayError('invalid_json')
  const status = e.statusCode ?? 500
  if (status >= 400 && status < 500) {
    return new GatewayError(status === 404 ? 'not_found' : 'invalid_request', { status, message: e.message })
  }
  return new GatewayError('internal_error', { cause: err })
}

export function sendError (request: FastifyRequest, reply: FastifyReply, error: GatewayError): FastifyReply {
  const ctx = request.ctx as typeof request.ctx | null
  if (ctx !== null) ctx.errorCode = error.code
  return reply.code(error.statusCode).headers(error.headers).type('application/json; charset=utf-8').send(renderError(ctx?.errorFormat ?? 'openai', error))
}

export default fp(async function errorHandler (app) {
  app.setErrorHandler((err: FastifyError | GatewayError, request, reply) => {
    const error = toGatewayError(err)
    if (error.code === 'internal_error') request.log.error({ reqId: request.id, err: { type: err.name, message: err.message, stack: err.stack } }, 'unhandled error')
    return sendError(request, reply, error)
  })
  app.setNotFoundHandler((request, reply) => {
    return sendError(request, reply, new GatewayError('not_found', { message: `Unknown route: ${request.method} ${request.url.split('?')[0]?.slice(0, 200) ?? ''}` }))
  })
}, { name: 'error-handler', fastify: '5.x' })
