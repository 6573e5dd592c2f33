// Idempotency-Key: a POST with the header runs once per key id and idempotency key within a TTL. A
// duplicate sent while the first runs waits for it (or gets 409), one sent after it finished gets the
// same answer again (JSON, or the stream replayed), never billed twice; the same key with another
// body or route is refused (422). Only complete 2xx answers are kept: after a failure a retry runs.
import { hash } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { Redis } from 'ioredis'
import type { Config } from '../config.js'
import { GatewayError } from '../errors.js'
import { canonicalHash } from '../lib/canonical-json.js'
import { Notices, type NoticeWait, type ReplicaEvents } from './events.js'
import type { RelayJob } from './job.js'
import { decodeAnswer, encodeAnswer, type StoredAnswer } from './stored-answer.js'

const PREFIX = 'llm-gw:idem:'
const CHANNEL = 'llm-gw:idem-done'
const KEY_RE = /^[\x21-\x7e]{1,255}$/
/** How long a running request's marker lives: a replica that dies mid-request frees the key after it. */
const RUNNING_MIN_MS = 10 * 60_000

/** The request's Idempotency-Key, undefined when absent; a key that is not 1-255 visible ASCII characters is refused. */
export function idempotencyKey (request: FastifyRequest): string | undefined {
  const raw = request.headers['idempotency-key']
  if (raw === undefined) return undefined
  const v = Array.isArray(raw) ? raw[0] ?? '' : raw
  if (!KEY_RE.test(v)) throw new GatewayError('invalid_request', { message: 'The Idempotency-Key header must be 1 to 255 visible ASCII characters.' })
  return v
}

/** What the request was: its route and body, in canonical form (the same request in another key order matches). */
export function fingerprint (job: RelayJob): string {
  return canonicalHash(job.method, job.path, job.body ?? null)
}

/** One record: `{"state":"running"|"done","fp":…}`, a newline, then the stored answer when done. */
interface Head { state: 'running' | 'done', fp: string, token?: string }

function encode (head: Head, answer?: StoredAnswer): Buffer {
  const line = Buffer.from(JSON.stringify(head) + '\n')
  return answer === undefined ? line : Buffer.concat([line, encodeAnswer(answer)])
}

function decode (buf: Buffer): { head: Head, answer: StoredAnswer | undefined } | undefined {
  const nl = buf.indexOf(0x0a)
  if (nl < 0) return undefined
  try {
    const head = JSON.parse(buf.toString('utf8', 0, nl)) as Head
    return { head, answer: head.state === 'done' ? decodeAnswer(buf.subarray(nl + 1)) : undefined }
  } catch {
    return undefined
  }
}

export type Claim =
  /** this request runs; `finish` keeps its answer (or frees the key when there is none) */
  | { run: true, finish: (answer: StoredAnswer | undefined) => Promise<void> }
  /** the first request's answer, to send again */
  | { run: false, answer: StoredAnswer }

/** Deletes the running marker only if it is still this request's own. */
const RELEASE_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if v and string.find(v, ARGV[1], 1, true) then return redis.call('DEL', KEYS[1]) end
return 0
`

export class Idempotency {
  private readonly notices: Notices

  constructor (private readonly redis: Redis | undefined, events: ReplicaEvents | undefined, private readonly opts: Config['idempotency']) {
    this.notices = new Notices(events, CHANNEL)
  }

  get available (): boolean {
    return this.redis?.status === 'ready'
  }

  get maxBytes (): number { return this.opts.maxBytes }

  /**
   * Runs the request or hands back the first one's answer. Throws 422 (another body) or 409 (the first
   * still runs and the duplicate may not wait, or the wait ran out). Redis errors propagate: the caller
   * then runs the request without idempotency (fail open).
   */
  async claim (keyId: string, idemKey: string, fp: string): Promise<Claim> {
    const redis = this.redis as Redis
    const key = PREFIX + keyId + ':' + hash('sha256', idemKey, 'hex')
    const deadline = Date.now() + this.opts.waitMs
    const token = hash('sha256', `${process.pid}:${Math.random()}:${Date.now()}`, 'hex').slice(0, 16)
    let wait: NoticeWait | undefined
    try {
      for (let round = 0; ; round++) {
        wait?.arm()
        const won = await redis.set(key, encode({ state: 'running', fp, token }), 'PX', Math.max(RUNNING_MIN_MS, this.opts.waitMs), 'NX')
        if (won !== null) return { run: true, finish: async (answer) => { await this.finish(key, token, fp, answer) } }
        const buf = await redis.getBuffer(key)
        // Gone between the two commands (the first failed and freed it): try to take it again.
        if (buf === null) continue
        const rec = decode(buf)
        if (rec === undefined) continue
        if (rec.head.fp !== fp) throw new GatewayError('idempotency_key_mismatch')
        if (rec.head.state === 'done' && rec.answer !== undefined) return { run: false, answer: rec.answer }
        if (this.opts.inFlight === 'conflict' || Date.now() >= deadline) throw new GatewayError('idempotency_key_in_use')
        if (wait === undefined) {
          wait = this.notices.listen(key)
          continue // look again now that a notice can no longer be missed
        }
        await wait.pause(round, deadline)
      }
    } finally {
      wait?.close()
    }
  }

  private async finish (key: string, token: string, fp: string, answer: StoredAnswer | undefined): Promise<void> {
    const redis = this.redis as Redis
    const value = answer === undefined ? undefined : encode({ state: 'done', fp }, answer)
    if (value !== undefined && value.length <= this.opts.maxBytes) {
      await redis.set(key, value, 'PX', this.opts.ttlS * 1000)
    } else {
      // Nothing to replay (failed, cut, or too large to keep): a retry runs again.
      await redis.eval(RELEASE_SCRIPT, 1, key, `"token":"${token}"`)
    }
    await redis.publish(CHANNEL, key)
  }
}
