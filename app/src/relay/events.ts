// Replica-to-replica notices through Redis pub/sub (a cooldown started or ended, a cached answer or an
// idempotent result is ready): one subscriber connection per process, opened on first use.
import type { Redis } from 'ioredis'

type Handler = (message: string) => void

export class ReplicaEvents {
  private sub: Redis | undefined
  private readonly handlers = new Map<string, Set<Handler>>()
  private readonly readyHandlers: Array<() => void> = []

  constructor (private readonly redis: Redis, private readonly onError: (err: Error) => void) {}

  /** Calls `handler` with every message on `channel`, from any replica (this one included). */
  on (channel: string, handler: Handler): void {
    let set = this.handlers.get(channel)
    if (set === undefined) {
      set = new Set()
      this.handlers.set(channel, set)
      this.connection().subscribe(channel).catch(this.onError)
    }
    set.add(handler)
  }

  /** Called each time the subscription is (re)established: messages sent meanwhile were missed. */
  onReady (handler: () => void): void {
    this.readyHandlers.push(handler)
    this.connection()
  }

  publish (channel: string, message: string): void {
    this.redis.publish(channel, message).catch(this.onError)
  }

  close (): void {
    this.sub?.disconnect()
    this.sub = undefined
  }

  private connection (): Redis {
    if (this.sub !== undefined) return this.sub
    // A subscriber connection carries nothing else. Its subscribe waits for the connection (the
    // shared client fails fast instead), and ioredis subscribes again after each reconnect.
    const sub = this.redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, commandTimeout: undefined })
    sub.on('error', this.onError)
    sub.on('message', (channel: string, message: string) => {
      for (const h of this.handlers.get(channel) ?? []) h(message)
    })
    sub.on('ready', () => { for (const h of this.readyHandlers) h() })
    this.sub = sub
    return sub
  }
}
