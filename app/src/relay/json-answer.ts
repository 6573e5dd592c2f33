// A 2xx JSON answer: read whole (bounded), sent as the upstream's bytes; only its usage object is parsed.
import type { Dispatcher } from 'undici'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { clientResponseHeaders } from '../lib/headers.js'
import { BodyTooLarge, readBounded } from '../lib/read-body.js'
import { invalidResponse, type UpstreamFailure } from '../lib/upstream-errors.js'
import { looksLikeJsonObject, usageValue } from '../lib/usage-bytes.js'
import { accountUsage } from './account-usage.js'
import type { RelayJob } from './job.js'
import type { AnswerRecorder } from './stored-answer.js'

const MAX_JSON_BODY = 64 * 1024 * 1024

/** A JSON object from bytes, or undefined when they are not one. */
function parseObject (buf: Buffer): Record<string, unknown> | undefined {
  try {
    const doc = JSON.parse(buf.toString('utf8')) as unknown
    return typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? doc as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

export interface JsonAnswerEnv {
  clientGone: () => boolean
  failureOf: (err: unknown) => UpstreamFailure
  /** counts a failed upstream read (metrics) */
  upstreamFailed: (failure: UpstreamFailure) => void
  /** the id of the object the answer created, for affinity */
  created: (id: string) => void
  /** told the whole answer, to keep it (cache, Idempotency-Key) */
  recorder?: AnswerRecorder
}

export async function jsonAnswer (request: FastifyRequest, reply: FastifyReply, job: RelayJob, res: Dispatcher.ResponseData, env: JsonAnswerEnv): Promise<FastifyReply> {
  let buf: Buffer
  try {
    buf = await readBounded(res.body, MAX_JSON_BODY)
  } catch (err) {
    if (env.clientGone()) return reply.hijack()
    const failure = err instanceof BodyTooLarge ? invalidResponse('body too large') : env.failureOf(err)
    if (failure.byGateway !== true) env.upstreamFailed(failure)
    throw failure.error
  }
  // The whole answer is parsed only without usage, to check it and to estimate the completion.
  const surface = job.surface
  const usage = looksLikeJsonObject(buf) ? surface.jsonUsage(usageValue(buf)) : undefined
  const doc = usage === undefined ? parseObject(buf) : undefined
  if (usage === undefined && doc === undefined) {
    const failure = invalidResponse('not JSON')
    env.upstreamFailed(failure)
    throw failure.error
  }
  if (surface.createdId !== undefined) {
    const id = surface.createdId.exec(buf.toString('latin1', 0, Math.min(buf.length, 512)))?.[1]
    if (id !== undefined) env.created(id)
  }
  const headers = clientResponseHeaders(res.headers)
  reply.code(res.statusCode).headers(headers).send(buf)
  if (env.recorder !== undefined) {
    env.recorder.head(res.statusCode, headers, false)
    env.recorder.bytes(buf)
    env.recorder.end(true)
  }
  await accountUsage(request, job, usage, () => surface.jsonText(doc ?? {}))
  return reply
}
