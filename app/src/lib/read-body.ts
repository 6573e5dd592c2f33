// Reads an upstream body into memory with a size cap (for JSON answers and error bodies only, never streams).
import type { Readable } from 'node:stream'

export class BodyTooLarge extends Error {
  constructor (readonly limit: number) { super(`upstream body exceeds ${limit} bytes`); this.name = 'BodyTooLarge' }
}

export async function readBounded (body: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    const buf = chunk as Buffer
    size += buf.length
    if (size > limit) {
      body.destroy()
      throw new BodyTooLarge(limit)
    }
    chunks.push(buf)
  }
  return chunks.length === 1 ? chunks[0] as Buffer : Buffer.concat(chunks, size)
}
