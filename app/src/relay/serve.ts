// The relay stage's front door: an Idempotency-Key's earlier answer, a response-cache hit (or a wait
// behind the identical request another replica is already sending), else the relay itself, recording
// the answer for the next identical request. Without the header or the cache, this is one function call.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { GatewayError } from '../errors.js'
import type { CachePlan, ResponseCache } from './cache.js'
import { fingerprint, idempotencyKey, type Claim, type Idempotency } from './idempotency.js'
import type { RelayJob } from './job.js'
import type { Relay } from './relay.js'
import { replay } from './replay.js'
import { AnswerRecorder, type StoredAnswer } from './stored-answer.js'

export type GovernedFeature = 'cache' | 'idempotency'

export interface ServeDeps {
  relay: Relay
  cache: ResponseCache
  idempotency: Idempotency
  chargeHits: boolean
  metrics: FastifyRequest['server']['metrics']
  /** a Redis failure (or no Redis) made a feature step aside for this request: counted, logged once */
  failed: (feature: GovernedFeature, err: Error) => void
}

/** Feeds an answer sent from storage to a recorder, so an Idempotency-Key keeps what the client got. */
function feed (recorder: AnswerRecorder | undefined, answer: StoredAnswer): void {
  if (recorder === undefined) return
  recorder.head(answer.status, answer.headers, answer.stream)
  recorder.bytes(answer.body)
  recorder.end(true)
}

const NO_REDIS = new Error('REDIS_URL is not set or Redis is not connected')

export async function serve (request: FastifyRequest, reply: FastifyReply, job: RelayJob, deps: ServeDeps): Promise<FastifyReply> {
  const key = request.ctx.key
  const idemKey = job.method === 'POST' && job.upload === undefined && key !== undefined ? idempotencyKey(request) : undefined
  const plan = deps.cache.plan(request, job)
  // The hot path: nothing asked for, nothing recorded, Redis untouched.
  if (idemKey === undefined && plan === undefined) return await deps.relay.forward(request, reply, job)

  let claim: Claim | undefined
  if (idemKey !== undefined && key !== undefined) {
    if (!deps.idempotency.available) {
      deps.failed('idempotency', NO_REDIS)
    } else {
      try {
        claim = await deps.idempotency.claim(key.id, idemKey, fingerprint(job))
      } catch (err) {
        if (err instanceof GatewayError) throw err
        deps.failed('idempotency', err as Error)
      }
    }
    if (claim !== undefined && !claim.run) {
      request.ctx.idempotentReplay = true
      return replay(reply, claim.answer, { 'idempotent-replayed': 'true' })
    }
  }
  const cap = Math.max(claim !== undefined ? deps.idempotency.maxBytes : 0, plan?.use === true ? deps.cache.maxEntryBytes : 0)
  const recorder = cap > 0 ? new AnswerRecorder(cap) : undefined
  try {
    return await cached(request, reply, job, plan, recorder, deps)
  } finally {
    if (claim?.run === true) {
      const ctx = request.ctx
      await claim.finish(recorder?.answer(ctx.usage, ctx.costUsd)).catch((err: Error) => { deps.failed('idempotency', err) })
    }
  }
}

/** What the cache decided before the relay: serve a stored answer, lead (holding the lock), or just relay. */
type Step = { hit: StoredAnswer } | { lead: string | undefined }

async function cached (request: FastifyRequest, reply: FastifyReply, job: RelayJob, plan: CachePlan | undefined, recorder: AnswerRecorder | undefined, deps: ServeDeps): Promise<FastifyReply> {
  const ctx = request.ctx
  if (plan === undefined) return await deps.relay.forward(request, reply, job, recorder)
  if (!plan.use) {
    if (plan.why === 'unavailable') deps.failed('cache', NO_REDIS)
    ctx.cache = 'bypass'
    deps.metrics.cacheRequest('bypass')
    reply.header('x-gateway-cache', 'BYPASS')
    return await deps.relay.forward(request, reply, job, recorder)
  }
  let step: Step | undefined
  try {
    step = await lookup(plan, deps.cache)
  } catch (err) {
    deps.failed('cache', err as Error)
  }
  if (step === undefined) {
    // Redis failed on the way: served uncached, as if the cache were off.
    ctx.cache = 'bypass'
    deps.metrics.cacheRequest('bypass')
    reply.header('x-gateway-cache', 'BYPASS')
    return await deps.relay.forward(request, reply, job, recorder)
  }
  if ('hit' in step) {
    const hit = step.hit
    ctx.cache = 'hit'
    deps.metrics.cacheRequest('hit')
    deps.metrics.cacheSaved(ctx.model, hit.usage, hit.costUsd ?? 0)
    // By default a hit costs the key nothing: no usage on the context, so nothing is charged.
    if (deps.chargeHits && hit.usage !== undefined) {
      ctx.usage = hit.usage
      ctx.costUsd = hit.costUsd
    }
    feed(recorder, hit)
    return replay(reply, hit, { 'x-gateway-cache': 'HIT' })
  }
  ctx.cache = 'miss'
  deps.metrics.cacheRequest('miss')
  reply.header('x-gateway-cache', 'MISS')
  const rec = recorder as AnswerRecorder
  try {
    return await deps.relay.forward(request, reply, job, rec)
  } finally {
    await store(plan, step.lead, rec.answer(ctx.usage, ctx.costUsd), deps).catch((err: Error) => { deps.failed('cache', err) })
  }
}

/** A stored answer; else the leader's lock; else the leader's answer after waiting for it; else relay alone. */
async function lookup (plan: Extract<CachePlan, { use: true }>, cache: ResponseCache): Promise<Step> {
  if (!plan.refresh) {
    const hit = await cache.get(plan.key)
    if (hit !== undefined) return { hit }
  }
  const token = await cache.lock(plan.key)
  if (token !== undefined) return { lead: token }
  const hit = await cache.follow(plan.key)
  // The leader failed, was cut, or took longer than the wait: this request goes upstream itself.
  return hit !== undefined ? { hit } : { lead: undefined }
}

async function store (plan: Extract<CachePlan, { use: true }>, token: string | undefined, answer: StoredAnswer | undefined, deps: ServeDeps): Promise<void> {
  try {
    if (answer !== undefined) await deps.cache.put(plan.key, answer, plan.ttlS)
  } finally {
    if (token !== undefined) await deps.cache.unlock(plan.key, token)
  }
}
