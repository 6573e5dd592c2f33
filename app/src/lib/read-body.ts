// Reads an upstream body into memory with a size cap (for JSON answers and error bodies only, never streams).
import type { Readable } from 'node:stream'

export class BodyTooLarge extends Error {
  constructor (readonly limit: number) { super(`upstream body exceeds ${limit} bytes`); this.name = 'BodyTooLarge' }
}

// Plain 'data'/'end' listeners: cheaper per response than an async iterator.
export async function readBounded (body: Readable, limit: number): Promise<Buffer> {
  return await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    body.on('data', (buf: Buffer) => {
      size += buf.length
      if (size > limit) {
        body.destroy(new BodyTooLarge(limit))
        return
      }
      chunks.push(buf)
    })
    body.once('error', reject)
    body.once('end', () => { resolve(chunks.length === 1 ? chunks[0] as Buffer : Buffer.concat(chunks, size)) })
  })
}
