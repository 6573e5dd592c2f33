// JSON bodies: parsed safely (no prototype poisoning, bounded depth) with the raw bytes kept for forwarding.
import fp from 'fastify-plugin'
import sjson from 'secure-json-parse'
import { GatewayError } from '../errors.js'

export const MAX_JSON_DEPTH = 64

declare module 'fastify' {
  interface FastifyRequest { rawBody: Buffer | undefined }
}

/** Deepest nesting of objects/arrays, counted on bytes so a hostile body never reaches a recursive walk. */
export function jsonDepth (buf: Buffer, limit: number): number {
  let depth = 0
  let max = 0
  let inString = false
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]
    if (inString) {
      if (c === 0x5c) i++ // backslash: skip the escaped byte
      else if (c === 0x22) inString = false
    } else if (c === 0x22) {
      inString = true
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) { max = depth; if (max > limit) return max }
    } else if (c === 0x7d || c === 0x5d) {
      depth--
    }
  }
  return max
}

/** True when the body has at most `limit` opening brackets in all: then it cannot nest deeper. */
function fewBrackets (buf: Buffer, limit: number): boolean {
  let n = 0
  for (const b of [0x5b, 0x7b]) {
    for (let i = buf.indexOf(b); i >= 0; i = buf.indexOf(b, i + 1)) {
      if (++n > limit) return false
    }
  }
  return true
}

/**
 * Parses a JSON body. The common case is one native JSON.parse: the slower safe parser (which
 * rejects `__proto__` and `constructor.prototype` keys, also when spelled with \u escapes) runs only
 * when the bytes could hold such a key.
 */
export function parseJsonBody (buf: Buffer): unknown {
  if (buf.indexOf('__proto__') < 0 && buf.indexOf('constructor') < 0 && buf.indexOf('\\u') < 0) {
    return JSON.parse(buf.toString('utf8'))
  }
  return sjson.parse(buf, undefined, { protoAction: 'error', constructorAction: 'error' })
}

export default fp(async function jsonBody (app) {
  app.decorateRequest('rawBody', undefined)
  // JSON only: any other content type is a 415, not a string that fails the schema later.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser(['application/json'], { parseAs: 'buffer', bodyLimit: app.gatewayConfig.bodyLimitBytes }, (request, body, done) => {
    const buf = body as Buffer
    if (buf.length === 0) { done(new GatewayError('invalid_json', { message: 'The request body is empty; send a JSON object.' }), undefined); return }
    if (!fewBrackets(buf, MAX_JSON_DEPTH) && jsonDepth(buf, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) { done(new GatewayError('body_too_deep', { message: `The request body is nested deeper than ${MAX_JSON_DEPTH} levels.` }), undefined); return }
    let parsed: unknown
    try {
      parsed = parseJsonBody(buf)
    } catch (err) {
      const poisoned = (err as Error).message.includes('prototype')
      done(new GatewayError('invalid_json', { message: poisoned ? 'The request body contains a forbidden "__proto__" or "constructor.prototype" key.' : 'The request body is not valid JSON.' }), undefined)
      return
    }
    request.rawBody = buf
    done(null, parsed)
  })
}, { name: 'json-body', decorators: { fastify: ['gatewayConfig'] }, fastify: '5.x' })
