// POST /v1/audio/speech (JSON in, binary out in several chunks) and /v1/audio/transcriptions and /translations (multipart in).
import { createHash } from 'node:crypto'
import { completionText } from './content.js'
import { invalid, missing, sendBody, type Handler, type RouteContext } from './route.js'

const SPEECH_TYPES: Record<string, string> = {
  mp3: 'audio/mpeg',
  opus: 'audio/opus',
  aac: 'audio/aac',
  flac: 'audio/flac',
  wav: 'audio/wav',
  pcm: 'audio/pcm'
}

/** Bytes per written chunk of a speech answer; several chunks, so a relay's streaming shows. */
export const SPEECH_CHUNK_BYTES = 1024

/**
 * The "audio" for a text: 2 KiB plus 64 bytes a character (at most 64 KiB), each 32-byte block
 * the sha256 of the format, the text and the block's number. Equal requests give equal bytes, so
 * a test can compare what came through a relay with what the mock sends directly.
 */
export function speechBytes (input: string, format: string): Buffer {
  const size = Math.min(64 * 1024, 2048 + 64 * input.length)
  const out = Buffer.alloc(size)
  for (let off = 0, i = 0; off < size; off += 32, i++) {
    createHash('sha256').update(`${format}\n${input}\n${i}`).digest().copy(out, off)
  }
  return out
}

function sendBinary (c: RouteContext, bytes: Buffer, contentType: string): void {
  const { ex, knobs } = c
  const chunks: Buffer[] = []
  for (let off = 0; off < bytes.length; off += SPEECH_CHUNK_BYTES) chunks.push(bytes.subarray(off, off + SPEECH_CHUNK_BYTES))
  // a damaged answer stops after `cut_after` chunks (at least one, so a client sees the body start)
  const damaged = c.mode !== 'normal'
  const limit = damaged ? Math.max(1, Math.min(knobs.cut_after, chunks.length - 1)) : chunks.length
  // chunked, like OpenAI's speech answers, which start before the audio is complete
  ex.writeHead(200, { 'content-type': contentType, 'transfer-encoding': 'chunked' })
  c.entry.response_bytes = damaged ? undefined : bytes.length
  c.entry.response_sha256 = damaged ? undefined : createHash('sha256').update(bytes).digest('hex')
  ex.res.flushHeaders()
  let i = 0
  const next = (): void => {
    const chunk = chunks[i++]!
    if (i < limit) {
      ex.write(chunk)
      ex.later(knobs.chunk_delay_ms, next)
      return
    }
    // cut: the connection drops once the last kept chunk reached the socket
    if (c.mode === 'cut') ex.destroy(chunk)
    // stall: silence until the client leaves
    else if (c.mode === 'stall') ex.write(chunk)
    // invalid_json: a short body that ends cleanly
    else ex.end(chunk)
  }
  ex.later(knobs.first_chunk_delay_ms, next)
}

export const speech: Handler = (c) => {
  const { model, input, voice } = c.body
  if (model === undefined) return missing('model')
  if (typeof model !== 'string' || model === '') return invalid('model', 'model must be a non-empty string.')
  if (input === undefined) return missing('input')
  if (typeof input !== 'string' || input === '' || input.length > 4096) return invalid('input', 'input must be a string of 1 to 4096 characters.')
  if (voice === undefined) return missing('voice')
  if (typeof voice !== 'string' && (typeof voice !== 'object' || voice === null)) return invalid('voice', 'voice must be a voice name or a custom voice object.')
  const format = c.body.response_format ?? 'mp3'
  const contentType = typeof format === 'string' ? SPEECH_TYPES[format] : undefined
  if (contentType === undefined) return invalid('response_format', `response_format must be one of ${Object.keys(SPEECH_TYPES).join(', ')}.`)
  sendBinary(c, speechBytes(input, format as string), contentType)
  return undefined
}

const TEXT_FORMATS = new Set(['json', 'text', 'srt', 'verbose_json', 'vtt'])

function transcribe (task: 'transcription' | 'translation'): Handler {
  return (c) => {
    const model = c.body.model
    if (model === undefined) return missing('model')
    if (typeof model !== 'string' || model === '') return invalid('model', 'model must be a non-empty string.')
    const file = c.files.find((f) => f.name === 'file')
    if (file === undefined) return missing('file')
    const format = c.body.response_format ?? 'json'
    if (typeof format !== 'string' || !TEXT_FORMATS.has(format)) return invalid('response_format', `response_format must be one of ${[...TEXT_FORMATS].join(', ')}.`)
    // the file's size in the text lets a test see the upload arrived whole
    const text = `mock ${task} of ${file.filename} (${file.bytes} bytes): ${completionText(c.knobs.chunks)}`
    const seconds = Math.max(1, Math.round(file.bytes / 16_000))
    switch (format) {
      case 'text':
        return sendText(c, `${text}\n`, 'text/plain; charset=utf-8')
      case 'srt':
        return sendText(c, `1\n00:00:00,000 --> 00:00:${String(seconds).padStart(2, '0')},000\n${text}\n\n`, 'text/plain; charset=utf-8')
      case 'vtt':
        return sendText(c, `WEBVTT\n\n00:00:00.000 --> 00:00:${String(seconds).padStart(2, '0')}.000\n${text}\n\n`, 'text/vtt; charset=utf-8')
      case 'verbose_json':
        sendBody(c, JSON.stringify({ task: task === 'transcription' ? 'transcribe' : 'translate', language: 'english', duration: seconds, text, segments: [] }))
        return undefined
      default:
        sendBody(c, JSON.stringify({ text }))
        return undefined
    }
  }
}

function sendText (c: RouteContext, text: string, contentType: string): undefined {
  if (c.mode === 'normal') c.ex.sendJson(200, text, { 'content-type': contentType })
  else sendBody(c, text)
  return undefined
}

export const transcriptions = transcribe('transcription')
export const translations = transcribe('translation')
