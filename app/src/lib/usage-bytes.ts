// A JSON answer's usage read from its bytes: the gateway passes the answer through untouched and
// only needs the small `usage` object, so it parses that object instead of the whole answer.

const USAGE_KEY = Buffer.from('"usage"')
const BACKSLASH = 0x5c
const QUOTE = 0x22
const OPEN = 0x7b
const CLOSE = 0x7d

const isSpace = (c: number | undefined): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09

/** Index of the first / last byte that is not JSON whitespace (-1 / length when there is none). */
function firstNonSpace (buf: Buffer, from: number): number {
  let i = from
  while (i < buf.length && isSpace(buf[i])) i++
  return i
}

function lastNonSpace (buf: Buffer): number {
  let i = buf.length - 1
  while (i >= 0 && isSpace(buf[i])) i--
  return i
}

/**
 * Does the body look like one whole JSON object? Truncation (the usual way an answer arrives
 * damaged) loses the closing brace; the full parse is left to the client.
 */
export function looksLikeJsonObject (buf: Buffer): boolean {
  const first = firstNonSpace(buf, 0)
  const last = lastNonSpace(buf)
  return first < last && buf[first] === OPEN && buf[last] === CLOSE
}

/** Index of the `}` closing the object that opens at `start`, or -1. Braces inside strings are skipped. */
function objectEnd (buf: Buffer, start: number): number {
  let depth = 0
  let inString = false
  for (let i = start; i < buf.length; i++) {
    const c = buf[i]
    if (inString) {
      if (c === BACKSLASH) i++
      else if (c === QUOTE) inString = false
    } else if (c === QUOTE) {
      inString = true
    } else if (c === OPEN) {
      depth++
    } else if (c === CLOSE && --depth === 0) {
      return i
    }
  }
  return -1
}

const PROMPT_KEY = Buffer.from('"prompt_tokens"')
const COMPLETION_KEY = Buffer.from('"completion_tokens"')
const DETAILS = Buffer.from('_details"')
const CACHE = Buffer.from('cache')

/** The non-negative integer after the key found at `at` and a colon, before `to`, or undefined. */
function intAfter (buf: Buffer, key: Buffer, at: number, to: number): number | undefined {
  if (at < 0 || at >= to) return undefined
  let i = firstNonSpace(buf, at + key.length)
  if (buf[i] !== 0x3a) return undefined
  i = firstNonSpace(buf, i + 1)
  let n = 0
  const start = i
  for (let c = buf[i]; i < to && c !== undefined && c >= 0x30 && c <= 0x39; c = buf[++i]) n = n * 10 + c - 0x30
  // a fraction or exponent is left to JSON.parse
  if (i === start || i - start > 15 || buf[i] === 0x2e || buf[i] === 0x65 || buf[i] === 0x45) return undefined
  return n
}

/**
 * The value of the answer's `"usage"` key: an object, `null`, or `undefined` when the answer has
 * none or it cannot be read. OpenAI puts usage last, so the last unescaped occurrence is the one
 * (inside a string value the key's quotes would be escaped). For a plain OpenAI usage object only
 * `prompt_tokens` and `completion_tokens` are read, from the bytes; anything else (details of
 * cached or reasoning tokens, other surfaces' shapes) is parsed.
 */
export function usageValue (buf: Buffer): unknown {
  let at = buf.lastIndexOf(USAGE_KEY)
  while (at > 0 && buf[at - 1] === BACKSLASH) at = buf.lastIndexOf(USAGE_KEY, at - 1)
  if (at < 0) return undefined
  let i = firstNonSpace(buf, at + USAGE_KEY.length)
  if (buf[i] !== 0x3a) return undefined // ':'
  i = firstNonSpace(buf, i + 1)
  if (buf[i] === 0x6e) return buf.toString('latin1', i, i + 4) === 'null' ? null : undefined
  if (buf[i] !== OPEN) return undefined
  const end = objectEnd(buf, i)
  if (end < 0) return undefined
  // Details (cached, reasoning tokens) or cache fields: parse the small object whole.
  const details = buf.indexOf(DETAILS, i)
  const cache = buf.indexOf(CACHE, i)
  if ((details >= 0 && details < end) || (cache >= 0 && cache < end)) return parseSlice(buf, i, end)
  const prompt = intAfter(buf, PROMPT_KEY, buf.indexOf(PROMPT_KEY, i), end)
  const completionAt = buf.indexOf(COMPLETION_KEY, i)
  const completion = intAfter(buf, COMPLETION_KEY, completionAt, end)
  if (prompt !== undefined && completion !== undefined) return { prompt_tokens: prompt, completion_tokens: completion }
  // embeddings: no completion tokens at all
  if (prompt !== undefined && (completionAt < 0 || completionAt > end)) return { prompt_tokens: prompt }
  return parseSlice(buf, i, end)
}

function parseSlice (buf: Buffer, start: number, end: number): unknown {
  try {
    return JSON.parse(buf.toString('utf8', start, end + 1)) as unknown
  } catch {
    return undefined
  }
}
