// Pipes an upstream SSE body to the client as it arrives: whole events, backpressure, keep-alive pings,
// and a final error event in the surface's format (never a completion) when the upstream fails after
// the stream started.
import type { ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import type { GatewayError } from '../errors.js'
import type { SseScanner } from './sse-scanner.js'
import { fromTransportError, type UpstreamFailure } from './upstream-errors.js'

const PING = Buffer.from(': ping\n\n')

/** Who ended a stream early: the client, the upstream, or the gateway itself (shutdown). */
export type AbortSide = 'client' | 'upstream' | 'gateway'

export interface StreamOutcome {
  /** who ended the stream early, if anyone */
  abortedBy?: AbortSide
  failure?: UpstreamFailure
}

export interface StreamRelayOptions {
  body: Readable
  res: ServerResponse
  scanner: SseScanner
  /** ms between `: ping` comments while the upstream is quiet; 0 = never */
  pingIntervalMs: number
  /** true once the client went away (the caller aborts the upstream request) */
  clientGone: () => boolean
  /** classifies an upstream body error (the caller knows its own abort reasons) */
  failureOf?: (err: unknown) => UpstreamFailure
  /** the event that ends a failed stream, in the format the client's SDK raises on */
  errorEvent: (err: GatewayError) => string
  /** sees every event byte the client is sent (pings and the error event excepted) */
  sent?: (bytes: Buffer) => void
}

export async function relayStream (opts: StreamRelayOptions): Promise<StreamOutcome> {
  const { body, res, scanner } = opts
  return await new Promise<StreamOutcome>((resolve) => {
    let done = false
    let ping: NodeJS.Timeout | undefined
    const armPing = (): void => {
      if (opts.pingIntervalMs <= 0) return
      if (ping === undefined) {
        ping = setInterval(() => { if (!res.writableEnded) res.write(PING) }, opts.pingIntervalMs)
        ping.unref()
      } else {
        ping.refresh()
      }
    }
    const finish = (outcome: StreamOutcome): void => {
      if (done) return
      done = true
      if (ping !== undefined) clearInterval(ping)
      body.off('data', onData)
      res.off('drain', onDrain)
      resolve(outcome)
    }
    const onDrain = (): void => { body.resume() }
    const onData = (chunk: Buffer): void => {
      armPing()
      const out = scanner.push(chunk)
      if (out.length === 0) return
      opts.sent?.(out)
      if (!res.write(out)) body.pause()
    }
    body.on('data', onData)
    res.on('drain', onDrain)
    body.once('end', () => {
      const rest = scanner.flush()
      if (rest.length > 0) {
        opts.sent?.(rest)
        res.write(rest)
      }
      res.end()
      finish({})
    })
    body.once('error', (err: Error) => {
      if (opts.clientGone()) {
        finish({ abortedBy: 'client' })
        return
      }
      const failure = (opts.failureOf ?? fromTransportError)(err)
      // A half-received event is dropped: the client gets whole events, then the error event.
      if (!res.writableEnded && !res.destroyed) res.end(opts.errorEvent(failure.error))
      finish({ abortedBy: failure.byGateway === true ? 'gateway' : 'upstream', failure })
    })
    armPing()
  })
}
