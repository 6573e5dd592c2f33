// Token usage and its exact cost: cached input, cache writes and reasoning priced as the provider bills them.
import type { Price } from './models.js'

/**
 * One request's tokens in one convention, whatever the surface reported (OpenAI's: input totals
 * include the cached part, output totals include reasoning).
 */
export interface Usage {
  /** every input token: uncached + cache reads + cache writes */
  promptTokens: number
  /** input tokens read from a prompt cache (part of promptTokens) */
  cachedPromptTokens: number
  /** input tokens written to a prompt cache, Anthropic's cache_creation (part of promptTokens) */
  cacheWriteTokens: number
  /** every output token, reasoning included */
  completionTokens: number
  /** reasoning tokens (part of completionTokens, never billed twice) */
  reasoningTokens: number
  source: 'upstream' | 'estimated'
}

/** Usage with only the two totals known (estimates, and answers without details). */
export function plainUsage (promptTokens: number, completionTokens: number, source: Usage['source']): Usage {
  return { promptTokens, cachedPromptTokens: 0, cacheWriteTokens: 0, completionTokens, reasoningTokens: 0, source }
}

/**
 * USD for one request: uncached input at the input price, cache reads and writes at their own
 * prices, output (reasoning included, once) at the output price.
 */
export function costUsd (price: Price, u: Usage): number {
  const uncached = Math.max(0, u.promptTokens - u.cachedPromptTokens - u.cacheWriteTokens)
  return (uncached * price.inputPer1M +
    u.cachedPromptTokens * price.cachedInputPer1M +
    u.cacheWriteTokens * price.cacheWritePer1M +
    u.completionTokens * price.outputPer1M) / 1_000_000
}

const int = (v: unknown): number | undefined => typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.round(v) : undefined

type Json = Record<string, unknown>
const obj = (v: unknown): Json | undefined => typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Json : undefined

/**
 * An OpenAI-style usage object: chat and completions (`prompt_tokens`, `completion_tokens` with
 * `*_details`), DeepSeek's `prompt_cache_hit_tokens`, and the Responses / images shape
 * (`input_tokens`, `output_tokens`, `input_tokens_details.cached_tokens`). Both include cached
 * input in the input total.
 */
export function openAIUsage (value: unknown): Usage | undefined {
  const u = obj(value)
  if (u === undefined) return undefined
  const prompt = int(u.prompt_tokens) ?? int(u.input_tokens)
  if (prompt === undefined) return undefined
  const completion = int(u.completion_tokens) ?? int(u.output_tokens) ?? 0
  const inDetails = obj(u.prompt_tokens_details) ?? obj(u.input_tokens_details)
  const outDetails = obj(u.completion_tokens_details) ?? obj(u.output_tokens_details)
  const cached = int(inDetails?.cached_tokens) ?? int(u.prompt_cache_hit_tokens) ?? 0
  return {
    promptTokens: prompt,
    cachedPromptTokens: Math.min(cached, prompt),
    cacheWriteTokens: 0,
    completionTokens: completion,
    reasoningTokens: Math.min(int(outDetails?.reasoning_tokens) ?? 0, completion),
    source: 'upstream'
  }
}

/**
 * Anthropic's usage object: `input_tokens` EXCLUDES cache reads and writes, which come as
 * `cache_read_input_tokens` and `cache_creation_input_tokens`. `prev` is what earlier events of
 * the same stream said: `message_delta` repeats cumulative counts, so a later value replaces an
 * earlier one and nothing is added twice.
 */
export function anthropicUsage (value: unknown, prev?: Usage): Usage | undefined {
  const u = obj(value)
  if (u === undefined) return prev
  const uncachedBefore = prev === undefined ? undefined : prev.promptTokens - prev.cachedPromptTokens - prev.cacheWriteTokens
  const input = int(u.input_tokens) ?? uncachedBefore
  const read = int(u.cache_read_input_tokens) ?? prev?.cachedPromptTokens ?? 0
  const write = int(u.cache_creation_input_tokens) ?? prev?.cacheWriteTokens ?? 0
  const output = int(u.output_tokens) ?? prev?.completionTokens ?? 0
  if (input === undefined) return prev
  return { promptTokens: input + read + write, cachedPromptTokens: read, cacheWriteTokens: write, completionTokens: output, reasoningTokens: 0, source: 'upstream' }
}

type CountTokens = (text: string) => number
let counter: CountTokens | undefined
let loading: Promise<CountTokens> | undefined

/**
 * Loads the tokenizer on the first estimate, not at start: it adds ~65 MiB to a process and most
 * answers carry the upstream's usage, so an idle or well-served replica never loads it.
 */
async function tokenCounter (): Promise<CountTokens> {
  if (counter !== undefined) return counter
  loading ??= import('gpt-tokenizer').then((m) => { counter = m.countTokens; return counter })
  return await loading
}

export async function estimateTokens (text: string): Promise<number> {
  if (text === '') return 0
  const count = await tokenCounter()
  return count(text)
}

/** The prompt text of a chat, completion, embeddings, Responses or Messages body, for estimates. */
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
  add(body.system)
  add(body.instructions)
  add(body.prompt)
  add(body.input)
  return parts.join('\n')
}
