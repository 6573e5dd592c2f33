// Deterministic content: completion words, prompt token counts of every API, embedding vectors.

/**
 * Completion text is `chunks` words `tok0 tok1 …` separated by single spaces. Streams send word
 * i as its own delta, with a leading space for every word but the first (`"tok0"`, `" tok1"`),
 * so the deltas joined give exactly the non-stream text.
 */
export function completionDeltas (chunks: number): readonly string[] {
  let cached = deltaCache.get(chunks)
  if (cached === undefined) {
    cached = Array.from({ length: chunks }, (_, i) => (i === 0 ? 'tok0' : ` tok${i}`))
    if (deltaCache.size < 64) deltaCache.set(chunks, cached)
  }
  return cached
}
const deltaCache = new Map<number, string[]>()

export function completionText (chunks: number): string {
  return completionDeltas(chunks).join('')
}

function countWords (text: string): number {
  let n = 0
  let inWord = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    // space, \t \n \v \f \r, NBSP; enough for a mock's notion of "whitespace-separated"
    const space = c === 32 || (c >= 9 && c <= 13) || c === 160
    if (!space && !inWord) n++
    inWord = !space
  }
  return n
}

/** Words in a message `content`: a string, or the `text` of each part of an array. */
function contentWords (content: unknown): number {
  if (typeof content === 'string') return countWords(content)
  if (!Array.isArray(content)) return 0
  let n = 0
  for (const part of content) {
    if (typeof part === 'string') n += countWords(part)
    else if (typeof part === 'object' && part !== null && typeof (part as { text?: unknown }).text === 'string') {
      n += countWords((part as { text: string }).text)
    }
  }
  return n
}

/**
 * Words in a Responses `input` (a string, or items whose `content` is a string or parts with
 * `text`; tool results count their `output`, tool calls their `arguments`) plus `instructions`.
 */
export function responsesInputTokens (input: unknown, instructions: unknown): number {
  let n = typeof instructions === 'string' ? countWords(instructions) : 0
  if (typeof input === 'string') n += countWords(input)
  else if (Array.isArray(input)) {
    for (const item of input) {
      if (typeof item === 'string') { n += countWords(item); continue }
      if (typeof item !== 'object' || item === null) continue
      const { content, output, arguments: args } = item as { content?: unknown, output?: unknown, arguments?: unknown }
      n += contentWords(content) + contentWords(output) + contentWords(args)
    }
  }
  return Math.max(1, n)
}

/** Input tokens of an Anthropic request: words in `system` (a string or text blocks) and in every message's content. */
export function anthropicInputTokens (system: unknown, messages: unknown): number {
  return Math.max(1, contentWords(system) + messagesWords(messages))
}

function messagesWords (messages: unknown): number {
  let n = 0
  if (Array.isArray(messages)) {
    for (const m of messages) {
      if (typeof m === 'object' && m !== null) n += contentWords((m as { content?: unknown }).content)
    }
  }
  return n
}

/** prompt_tokens of a chat request: words in all message contents, at least 1. */
export function chatPromptTokens (messages: unknown): number {
  return Math.max(1, messagesWords(messages))
}

/**
 * prompt_tokens of a completions prompt or embeddings input: words of a string or of each string
 * in an array; an array of token ids counts its length, an array of such arrays their lengths.
 */
export function inputTokens (input: unknown): number {
  let n = 0
  if (typeof input === 'string') n = countWords(input)
  else if (Array.isArray(input)) {
    for (const item of input) {
      if (typeof item === 'string') n += countWords(item)
      else if (typeof item === 'number') n += 1
      else if (Array.isArray(item)) n += item.length
    }
  }
  return Math.max(1, n)
}

/** The inputs of an embeddings request, one per vector; undefined when the shape is wrong. */
export function embeddingInputs (input: unknown): Array<string | number[]> | undefined {
  if (typeof input === 'string') return [input]
  if (!Array.isArray(input) || input.length === 0) return undefined
  if (input.every((x) => typeof x === 'number')) return [input as number[]]
  if (input.every((x) => typeof x === 'string' || (Array.isArray(x) && x.every((y) => typeof y === 'number')))) {
    return input as Array<string | number[]>
  }
  return undefined
}

export function hashOf (input: string | number[]): number {
  // FNV-1a over the text (or the token ids), so equal inputs give equal vectors
  let h = 0x811c9dc5
  const s = typeof input === 'string' ? input : input.join(',')
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/**
 * A deterministic vector for `input`. Components are multiples of 1/1024 in [-1, 1], exactly
 * representable as float32, so the `float` and `base64` encodings decode to the same numbers.
 */
export function embeddingVector (input: string | number[], dims: number): Float32Array {
  const v = new Float32Array(dims)
  let x = hashOf(input) || 1
  for (let i = 0; i < dims; i++) {
    // xorshift32
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    v[i] = (((x >>> 0) % 2049) - 1024) / 1024
  }
  return v
}

/** Little-endian float32 bytes, base64-encoded, as OpenAI sends for `encoding_format: "base64"`. */
export function vectorBase64 (v: Float32Array): string {
  const buf = Buffer.alloc(v.length * 4)
  for (let i = 0; i < v.length; i++) buf.writeFloatLE(v[i]!, i * 4)
  return buf.toString('base64')
}
