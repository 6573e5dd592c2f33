// Request bodies: every body's size and sha256 for the stats, JSON bodies parsed, multipart bodies streamed.
import { createHash } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { Exchange } from './exchange.js'
import type { ErrorSpec } from './faults.js'
import { MultipartReader, multipartBoundary, type MultipartResult } from './multipart.js'
import type { RecentRequest } from './stats.js'

const MAX_BODY_BYTES = 64 * 1024 * 1024

export function badRequest (message: string, param: string | null = null): ErrorSpec {
  return { status: 400, type: 'invalid_request_error', param, code: null, message }
}

/** Records the body's byte length and sha256 once it was read to its end, whatever else reads it. */
export function digestBody (req: IncomingMessage, entry: RecentRequest): void {
  const hash = createHash('sha256')
  let bytes = 0
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length
    hash.update(chunk)
  })
  req.on('end', () => {
    entry.body_bytes = bytes
    entry.body_sha256 = hash.digest('hex')
  })
}

/** Reads a JSON object body; answers 413 or 400 itself when it is too large or not an object. */
export function readJson (ex: Exchange, then: (body: Record<string, unknown>) => void): void {
  const chunks: Buffer[] = []
  let size = 0
  ex.req.on('data', (chunk: Buffer) => {
    size += chunk.length
    if (size <= MAX_BODY_BYTES) chunks.push(chunk)
  })
  ex.req.on('end', () => {
    if (size > MAX_BODY_BYTES) {
      ex.sendError({ status: 413, type: 'invalid_request_error', param: null, code: 'request_too_large', message: 'Request body too large.' })
      return
    }
    let body: unknown
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    } catch {
      ex.sendError(badRequest('We could not parse the JSON body of your request. (HINT: This likely means you aren\'t using your HTTP library correctly. The OpenAI API expects a JSON payload.)'))
      return
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      ex.sendError(badRequest('The request body must be a JSON object.'))
      return
    }
    then(body as Record<string, unknown>)
  })
}

/** Streams a multipart/form-data body through the reader; answers 400 itself when it is not one. */
export function readMultipart (ex: Exchange, then: (result: MultipartResult) => void): void {
  const contentType = ex.req.headers['content-type']
  const boundary = multipartBoundary(contentType)
  if (boundary === undefined) {
    ex.req.resume()
    ex.sendError(badRequest(`Invalid Content-Type header (${contentType ?? 'none'}), expected multipart/form-data (with a boundary).`))
    return
  }
  const reader = new MultipartReader(boundary)
  ex.req.on('data', (chunk: Buffer) => reader.write(chunk))
  ex.req.on('end', () => {
    const result = reader.end()
    if (result.error !== undefined) {
      ex.sendError(badRequest(`Malformed multipart body: ${result.error}.`))
      return
    }
    then(result)
  })
}
