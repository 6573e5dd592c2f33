// A minimal streaming multipart/form-data reader: keeps the small text fields, only counts and hashes file parts.
import { createHash, type Hash } from 'node:crypto'

export interface FilePart {
  /** the form field name (`file`, `image`, `image[]`, …) */
  name: string
  filename: string
  content_type?: string
  bytes: number
  sha256: string
}

export interface MultipartResult {
  fields: Record<string, string>
  files: FilePart[]
  /** set when the body was not well-formed multipart */
  error?: string
}

/** The boundary of a `multipart/form-data` content type, or undefined for any other type. */
export function multipartBoundary (contentType: string | undefined): string | undefined {
  if (contentType === undefined || !/^multipart\/form-data\b/i.test(contentType)) return undefined
  const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType)
  const boundary = m?.[1] ?? m?.[2]
  return boundary !== undefined && boundary.length <= 200 ? boundary : undefined
}

/** Text fields are model names and options; anything longer is kept only up to this size. */
const FIELD_MAX = 64 * 1024
const HEADERS_MAX = 16 * 1024
const CRLF2 = Buffer.from('\r\n\r\n')

interface OpenPart { name: string, filename?: string, contentType?: string, bytes: number, hash?: Hash, text?: Buffer[] }

/**
 * Feed it the body as it arrives (`write`), then `end()`. Memory stays bounded: file bytes are
 * hashed and dropped, and at most one delimiter's length of bytes is held back between chunks,
 * since a delimiter may be split across two of them.
 */
export class MultipartReader {
  private readonly delimiter: Buffer
  // the first delimiter has no CRLF before it; starting with one makes every delimiter look alike
  private pending: Buffer = Buffer.from('\r\n')
  private state: 'preamble' | 'after-delimiter' | 'headers' | 'body' | 'done' | 'error' = 'preamble'
  private part: OpenPart | undefined
  private readonly result: MultipartResult = { fields: {}, files: [] }

  constructor (boundary: string) {
    this.delimiter = Buffer.from(`\r\n--${boundary}`)
  }

  write (chunk: Buffer): void {
    if (this.state === 'done' || this.state === 'error') return
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk])
    while (this.step());
  }

  end (): MultipartResult {
    if (this.state !== 'done' && this.state !== 'error') this.fail('the body ended before the closing boundary')
    return this.result
  }

  private fail (message: string): false {
    this.state = 'error'
    this.result.error = message
    this.pending = Buffer.alloc(0)
    return false
  }

  /** Handles what `pending` allows; true when it should be called again. */
  private step (): boolean {
    const buf = this.pending
    switch (this.state) {
      case 'preamble':
      case 'body': {
        const at = buf.indexOf(this.delimiter)
        if (at === -1) {
          const keep = this.delimiter.length - 1
          if (buf.length > keep) {
            this.data(buf.subarray(0, buf.length - keep))
            this.pending = buf.subarray(buf.length - keep)
          }
          return false
        }
        this.data(buf.subarray(0, at))
        this.closePart()
        this.pending = buf.subarray(at + this.delimiter.length)
        this.state = 'after-delimiter'
        return true
      }
      case 'after-delimiter': {
        if (buf.length < 2) return false
        const two = buf.toString('latin1', 0, 2)
        if (two === '--') {
          this.state = 'done'
          this.pending = Buffer.alloc(0)
          return false
        }
        if (two !== '\r\n') return this.fail('a boundary was not followed by CRLF')
        this.pending = buf.subarray(2)
        this.state = 'headers'
        return true
      }
      case 'headers': {
        const at = buf.indexOf(CRLF2)
        if (at === -1) return buf.length > HEADERS_MAX ? this.fail('part headers too long') : false
        const opened = this.openPart(buf.toString('utf8', 0, at))
        if (!opened) return this.fail('a part has no Content-Disposition name')
        this.pending = buf.subarray(at + 4)
        this.state = 'body'
        return true
      }
      default:
        return false
    }
  }

  private openPart (headerText: string): boolean {
    let name: string | undefined
    let filename: string | undefined
    let contentType: string | undefined
    for (const line of headerText.split('\r\n')) {
      const colon = line.indexOf(':')
      if (colon === -1) continue
      const key = line.slice(0, colon).trim().toLowerCase()
      const value = line.slice(colon + 1).trim()
      if (key === 'content-disposition') {
        name = /(?:^|;)\s*name="([^"]*)"/i.exec(value)?.[1]
        filename = /;\s*filename="([^"]*)"/i.exec(value)?.[1]
      } else if (key === 'content-type') contentType = value
    }
    if (name === undefined) return false
    this.part = filename === undefined
      ? { name, bytes: 0, text: [] }
      : { name, filename, contentType, bytes: 0, hash: createHash('sha256') }
    return true
  }

  private data (bytes: Buffer): void {
    const part = this.part
    if (part === undefined || bytes.length === 0) return
    if (part.hash !== undefined) part.hash.update(bytes)
    else if (part.text !== undefined && part.bytes < FIELD_MAX) part.text.push(bytes.subarray(0, FIELD_MAX - part.bytes))
    part.bytes += bytes.length
  }

  private closePart (): void {
    const part = this.part
    this.part = undefined
    if (part === undefined) return
    if (part.hash !== undefined) {
      this.result.files.push({
        name: part.name,
        filename: part.filename ?? '',
        ...(part.contentType !== undefined ? { content_type: part.contentType } : {}),
        bytes: part.bytes,
        sha256: part.hash.digest('hex')
      })
    } else {
      this.result.fields[part.name] = Buffer.concat(part.text ?? []).toString('utf8')
    }
  }
}
