// Token usage and cost: from the upstream's usage when it gave one, else a tokenizer estimate.
import type { Price } from './models.js'

export interface Usage {
  promptTokens: number
  completionTokens: number
  source: 'upstream' | 'estimated'
}

export function costUsd (price: Price, usage: Usage): number {
  return (usage.promptTokens * price.inputPer1M + usage.completionTokens * price.outputPer1M) / 1_000_000
}

type CountTokens = (text: string) => number
let counter: CountTokens | undefined
let loading: Promise<CountTokens> | undefined

/** Loads the tokenizer once, lazily: most requests carry upstream usage and never need it. */
async function tokenCounter (): Promise<CountTokens> {
  if (counter !== undefined) return counter
  loading ??= import('gpt-tokenizer').then((m) => { counter = m.countTokens; return counter })
  return await loading
}

/** Starts loading the tokenizer in the background so the first estimate does not wait for it. */
export function preloadTokenizer (): void {
  tokenCounter().catch(() => {})
}

export async function estimateTokens (text: string): Promise<number> {
  if (text === '') return 0
  const count = await tokenCounter()
  return count(text)
}

/** The prompt text of a chat, completion or embeddings body, for estimates. */
export function promptText (body: Record<string, unknown>): string {
  const parts: string[] = []
  const add = (v: unknown): void => {
    if (typeof v === 'string') parts.push(v)
    else if (Array.isArray(v)) for (const x of v) add(x)
    else if (typeof v === 'object' && v !== null) {
      const o = v as Record<string, unknown>
      if (typeof o.text === 'string') parts.push(o.text)
      else if (o.content !== undefined) add(o.content)
    }
  }
  if (Array.isArray(body.messages)) for (const m of body.messages) add((m as Record<string, unknown>)?.content)
  add(body.prompt)
  add(body.input)
  return parts.join('\n')
}
