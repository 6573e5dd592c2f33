// POST /v1/moderations: one result per input, deterministic scores, flagged only when the text asks for it.
import { hashOf } from './content.js'
import { invalid, missing, sendBody, type Handler } from './route.js'

const CATEGORIES = [
  'harassment', 'harassment/threatening', 'hate', 'hate/threatening', 'illicit', 'illicit/violent',
  'self-harm', 'self-harm/intent', 'self-harm/instructions', 'sexual', 'sexual/minors', 'violence', 'violence/graphic'
] as const

/** The word that makes the mock flag an input (under `violence`), so a test can see both outcomes. */
export const FLAG_WORD = 'mockflag'

type Input = { kind: 'text', text: string } | { kind: 'image', url: string }

function readInputs (input: unknown): Input[] | undefined {
  if (typeof input === 'string') return [{ kind: 'text', text: input }]
  if (!Array.isArray(input) || input.length === 0) return undefined
  const out: Input[] = []
  for (const item of input) {
    if (typeof item === 'string') out.push({ kind: 'text', text: item })
    else if (typeof item === 'object' && item !== null) {
      const o = item as { type?: unknown, text?: unknown, image_url?: { url?: unknown } }
      if (o.type === 'text' && typeof o.text === 'string') out.push({ kind: 'text', text: o.text })
      else if (o.type === 'image_url' && typeof o.image_url?.url === 'string') out.push({ kind: 'image', url: o.image_url.url })
      else return undefined
    } else return undefined
  }
  return out
}

function result (input: Input): Record<string, unknown> {
  const source = input.kind === 'text' ? input.text : input.url
  const flagged = input.kind === 'text' && input.text.toLowerCase().includes(FLAG_WORD)
  let h = hashOf(source) || 1
  const categories: Record<string, boolean> = {}
  const scores: Record<string, number> = {}
  const applied: Record<string, string[]> = {}
  for (const c of CATEGORIES) {
    h ^= h << 13; h ^= h >>> 17; h ^= h << 5
    const hit = flagged && c === 'violence'
    categories[c] = hit
    // small scores for a clean input, as a real classifier gives
    scores[c] = hit ? 0.97 : ((h >>> 0) % 1000) / 1_000_000
    applied[c] = input.kind === 'image' && !c.startsWith('violence') && !c.startsWith('self-harm') && c !== 'sexual' ? [] : [input.kind]
  }
  return { flagged, categories, category_scores: scores, category_applied_input_types: applied }
}

export const moderations: Handler = (c) => {
  if (c.body.input === undefined) return missing('input')
  const inputs = readInputs(c.body.input)
  if (inputs === undefined) return invalid('input', 'input must be a string, an array of strings, or an array of text and image_url objects.')
  const model = c.body.model ?? 'omni-moderation-latest'
  if (typeof model !== 'string' || model === '') return invalid('model', 'model must be a non-empty string.')
  sendBody(c, JSON.stringify({ id: `modr-mock-${c.ex.n}`, model, results: inputs.map(result) }))
  return undefined
}
