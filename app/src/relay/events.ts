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

/** A follower looks again this often even without a notice (a notice can be lost with a connection). */
const POLL_MS = [100, 250, 500, 1000] as const

/** One wait for notices about one name: `arm()` before each look, then `pause()` until a notice or the next look. */
export interface NoticeWait {
  arm: () => void
  /** sleeps until a notice came (since `arm()`), the round's poll interval passed, or the deadline */
  pause: (round: number, deadline: number) => Promise<void>
  close: () => void
}

/**
 * Waiters of one channel (an answer is ready), across replicas: the cache's followers and
 * Idempotency-Key duplicates wait for the first request's end this way.
 */
export class Notices {
  private readonly waiters = new Map<string, Set<() => void>>()

  constructor (events: ReplicaEvents | undefined, channel: string) {
    events?.on(channel, (name) => {
      for (const wake of this.waiters.get(name) ?? []) wake()
    })
  }

  /** Starts listening for `name`; registered before the caller looks, so no notice is missed. */
  listen (name: string): NoticeWait {
    let wake: () => void = () => {}
    let woken = Promise.resolve()
    const notice = (): void => { wake() }
    const set = this.waiters.get(name) ?? new Set()
    this.waiters.set(name, set)
    set.add(notice)
    return {
      arm: () => { woken = new Promise<void>((resolve) => { wake = resolve }) },
      pause: async (round, deadline) => {
        const ms = Math.min(POLL_MS[Math.min(round, POLL_MS.length - 1)] as number, deadline - Date.now())
        let timer: NodeJS.Timeout | undefined
        await Promise.race([woken, new Promise<void>((resolve) => { timer = setTimeout(resolve, ms) })])
        clearTimeout(timer)
      },
      close: () => {
        set.delete(notice)
        if (set.size === 0) this.waiters.delete(name)
      }
    }
  }
}
