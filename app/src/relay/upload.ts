// A streamed request body (multipart form or raw bytes) on its way to the upstream: never held
// whole, capped by the body limit, and for multipart forms the `model` field read (and, for an
// alias, rewritten) on the way, so the same model rules apply as on JSON routes.
import type { IncomingMessage } from 'node:http'
import { GatewayError } from '../errors.js'

const MODEL_HEADER = Buffer.from('name="model"')
const HEADER_END = Buffer.from('\r\n\r\n')
/** How far back a search must look so a pattern split between two chunks is still found. */
const OVERLAP = 256
const MAX_MODEL_BYTES = 256

export interface Upload {
  contentType: string
  /** the form's `model` field, when it has one */
  model: string | undefined
  /** the client's declared length, adjusted for a rewritten model; undefined: sent chunked */
  length: number | undefined
  /** the bytes to send, once; throws request_too_large past the limit */
  body: () => AsyncIterable<Buffer>
  /** replaces the model field's value (an alias resolved to the upstream's model name) */
  rewriteModel: (model: string) => void
}

/** At least this much of an abandoned upload is read and dropped before its connection is closed instead. */
const DISCARD_MIN = 1024 * 1024

/**
 * Reads and drops what is left of an upload the gateway stopped reading (refused, over the limit,
 * or cut short by the upstream). Left unread, the client could never finish sending: it would not
 * see the error, and its connection would hang until the keep-alive timeout. Closing at once would
 * not do either: a close with unread bytes resets the connection, often before the client read
 * the error. Past `limit` (or 1 MiB) more bytes the connection is closed all the same.
 */
export function discardUnread (raw: IncomingMessage, limit: number): void {
  const cap = Math.max(limit, DISCARD_MIN)
  if (raw.complete || raw.destroyed) return
  // The upload read the body through an async iterator, which listens for 'readable': without
  // that listener, the 'data' listener below puts the stream back into flowing mode.
  raw.removeAllListeners('readable')
  let dropped = 0
  raw.on('data', (chunk: Buffer) => {
    dropped += chunk.length
    if (dropped > cap) raw.socket?.destroy()
  })
  raw.resume()
}

function boundaryOf (contentType: string): Buffer | undefined {
  const m = /boundary=(?:"([^"]{1,70})"|([^;\s]{1,70}))/i.exec(contentType)
  const b = m?.[1] ?? m?.[2]
  return b === undefined ? undefined : Buffer.from(`\r\n--${b}`)
}

/**
 * Reads the start of the body until the multipart `model` field is complete (SDKs send it before
 * the file, so usually only a few hundred bytes are held), then streams the rest as it comes.
 */
export async function openUpload (raw: IncomingMessage, limit: number): Promise<Upload> {
  const contentType = String(raw.headers['content-type'] ?? 'application/octet-stream')
  const declared = raw.headers['content-length'] === undefined ? undefined : Number(raw.headers['content-length'])
  if (declared !== undefined && declared > limit) throw new GatewayError('request_too_large')
  const iterator = raw[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  const held: Buffer[] = []
  let heldBytes = 0
  let ended = false
  let model: string | undefined
  let valueAt = -1
  let valueEnd = -1
  const boundary = /^multipart\/form-data/i.test(contentType) ? boundaryOf(contentType) : undefined
  if (boundary !== undefined) {
    let headerAt = -1
    // Small searches over the held bytes: only the window around the newest chunk is scanned.
    let joined = Buffer.alloc(0)
    while (valueEnd < 0) {
      const next = await iterator.next()
      if (next.done === true) { ended = true; break }
      const chunk = next.value
      held.push(chunk)
      heldBytes += chunk.length
      if (heldBytes > limit) throw new GatewayError('request_too_large')
      if (headerAt < 0) {
        const tail = joined.subarray(Math.max(0, joined.length - OVERLAP))
        const windowStart = heldBytes - chunk.length - tail.length
        joined = Buffer.concat([tail, chunk])
        const at = joined.indexOf(MODEL_HEADER)
        if (at < 0) continue
        headerAt = windowStart + at
        joined = joined.subarray(at)
      } else {
        joined = Buffer.concat([joined, chunk])
      }
      const rel = joined.indexOf(HEADER_END)
      if (rel < 0) continue
      const end = joined.indexOf(boundary, rel + HEADER_END.length)
      if (end < 0) {
        if (joined.length - rel > MAX_MODEL_BYTES + 64) throw new GatewayError('invalid_request', { param: 'model', message: 'The model field of the form is too long.' })
        continue
      }
      valueAt = headerAt + rel + HEADER_END.length
      valueEnd = headerAt + end
      model = joined.toString('utf8', rel + HEADER_END.length, end).trim()
    }
  }
  let replacement: Buffer | undefined
  let used = false
  const upload: Upload = {
    contentType,
    model,
    length: declared,
    rewriteModel (to) {
      if (valueAt < 0 || to === model) return
      replacement = Buffer.from(to)
      if (declared !== undefined) upload.length = declared - (valueEnd - valueAt) + replacement.length
    },
    body () {
      if (used) throw new Error('an upload is sent once')
      used = true
      return (async function * () {
        let first = Buffer.concat(held, heldBytes)
        if (replacement !== undefined) first = Buffer.concat([first.subarray(0, valueAt), replacement, first.subarray(valueEnd)])
        if (first.length > 0) yield first
        let total = heldBytes
        while (!ended) {
          const next = await iterator.next()
          if (next.done === true) break
          total += next.value.length
          if (total > limit) throw new GatewayError('request_too_large')
          yield next.value
        }
      })()
    }
  }
  return upload
}
