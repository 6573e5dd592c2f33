// What a request is charged in advance against its key's token and spend limits, before the upstream
// has said what it used: an upper estimate of the prompt plus the most it may generate.
import type { Price } from './models.js'
import { costUsd, plainUsage, promptText } from './usage.js'

/** Surfaces whose answers are generated text (the others: embeddings, uploads, pass-through). */
const GENERATES = new Set(['chat', 'completions', 'responses', 'messages'])

/**
 * Prompt tokens, estimated without the tokenizer (which costs ~65 MiB and a pass over the text):
 * one token per 3 UTF-8 bytes. English runs ~4 bytes a token and CJK ~3, so this is rarely below
 * the real count; the difference is given back when the request settles.
 */
export function promptReserve (body: Record<string, unknown> | undefined): number {
  if (body === undefined) return 0
  return Math.ceil(Buffer.byteLength(promptText(body)) / 3)
}

const positiveInt = (v: unknown): number | undefined => typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined

/**
 * The most a request may generate: its own `max_completion_tokens`, `max_tokens` (chat,
 * completions, Messages) or `max_output_tokens` (Responses), times `n` choices; without one,
 * `fallback` (LIMITS_RESERVE_OUTPUT_TOKENS). Surfaces that generate no text reserve none.
 */
export function outputReserve (surface: string, body: Record<string, unknown> | undefined, fallback: number): number {
  if (!GENERATES.has(surface)) return 0
  const max = positiveInt(body?.max_completion_tokens) ?? positiveInt(body?.max_tokens) ?? positiveInt(body?.max_output_tokens) ?? fallback
  const n = positiveInt(body?.n) ?? 1
  return max * n
}

export interface ReserveAmount { tokens: number, microUsd: number }

/** Tokens and micro-USD to reserve; `price` is the model's (none: a model outside the catalogue costs nothing). */
export function reserveAmount (surface: string, body: Record<string, unknown> | undefined, price: Price | undefined, fallbackOutput: number): ReserveAmount {
  const prompt = promptReserve(body)
  const output = outputReserve(surface, body, fallbackOutput)
  const usd = price === undefined ? 0 : costUsd(price, plainUsage(prompt, output, 'estimated'))
  return { tokens: prompt + output, microUsd: Math.ceil(usd * 1e6) }
}
