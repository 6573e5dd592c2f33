// Which upstream created a stored object (a Responses id): `previous_response_id` and the `{id}`
// routes must reach it. Shared in Redis so every replica agrees; a bounded in-process map without it.
import type { Redis } from 'ioredis'

const PREFIX = 'llm-gw:resp:'
const MEMORY_MAX = 10_000

export class Affinity {
  private readonly memory = new Map<string, { upstream: string, until: number }>()

  constructor (private readonly redis: Redis | undefined, private readonly ttlS: number, private readonly onError: (err: Error) => void) {}

  remember (id: string, upstream: string): void {
    if (this.redis !== undefined) {
      this.redis.set(PREFIX + id, upstream, 'EX', this.ttlS).catch(this.onError)
      return
    }
    if (this.memory.size >= MEMORY_MAX) {
      const oldest = this.memory.keys().next().value
      if (oldest !== undefined) this.memory.delete(oldest)
    }
    this.memory.set(id, { upstream, until: Date.now() + this.ttlS * 1000 })
  }

  /** The upstream that created `id`, or undefined when unknown (expired, or never seen here). */
  async lookup (id: string): Promise<string | undefined> {
    if (this.redis !== undefined) {
      try {
        return (await this.redis.get(PREFIX + id)) ?? undefined
      } catch (err) {
        this.onError(err as Error)
        return undefined
      }
    }
    const hit = this.memory.get(id)
    if (hit === undefined || hit.until < Date.now()) return undefined
    return hit.upstream
  }
}
