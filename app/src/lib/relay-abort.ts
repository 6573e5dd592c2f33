// A light abort handle for one relay: undici accepts an EventEmitter as `signal`, which costs far
// less per request than an AbortController (an EventTarget) on the hot path.
import { EventEmitter } from 'node:events'

export class RelayAbort extends EventEmitter {
  aborted = false
  /** why it was aborted; undefined when the client went away */
  reason: unknown = undefined

  abort (reason?: unknown): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = reason
    this.emit('abort')
  }
}
