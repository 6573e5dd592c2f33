// Token usage of one answer from the knobs, and how each API spells it (OpenAI chat, Responses, Anthropic).
import type { MockKnobs } from './config.js'

/**
 * One answer's usage in OpenAI's convention: `prompt_tokens` includes the cached (and cache-write)
 * tokens, `completion_tokens` includes the reasoning tokens.
 */
export interface Usage {
  prompt_tokens: number
  completion_tokens: number
  cached_tokens: number
  reasoning_tokens: number
  cache_write_tokens: number
}

/**
 * Usage for a request whose input counts `computedPrompt` tokens and whose visible answer has
 * `chunks` words. Knobs replace the counts; the parts are capped by their wholes, so a knob set
 * for a large prompt never makes a small one report negative uncached tokens.
 */
export function usageFor (knobs: Pick<MockKnobs, 'prompt_tokens' | 'completion_tokens' | 'cached_tokens' | 'reasoning_tokens' | 'cache_write_tokens' | 'chunks'>, computedPrompt: number): Usage {
  const prompt = knobs.prompt_tokens ?? computedPrompt
  const completion = knobs.completion_tokens ?? knobs.chunks
  const cached = Math.min(knobs.cached_tokens, prompt)
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    cached_tokens: cached,
    reasoning_tokens: Math.min(knobs.reasoning_tokens, completion),
    cache_write_tokens: Math.min(knobs.cache_write_tokens, prompt - cached)
  }
}

/** Usage of an answer with no completion (embeddings, moderations). */
export function promptOnly (prompt: number): Usage {
  return { prompt_tokens: prompt, completion_tokens: 0, cached_tokens: 0, reasoning_tokens: 0, cache_write_tokens: 0 }
}

/** Chat and legacy completions `usage`, with DeepSeek's cache fields when asked for. */
export function chatUsageJson (u: Usage, deepseek: boolean): string {
  const ds = deepseek ? `,"prompt_cache_hit_tokens":${u.cached_tokens},"prompt_cache_miss_tokens":${u.prompt_tokens - u.cached_tokens}` : ''
  return `{"prompt_tokens":${u.prompt_tokens},"completion_tokens":${u.completion_tokens},"total_tokens":${u.prompt_tokens + u.completion_tokens},` +
    `"prompt_tokens_details":{"cached_tokens":${u.cached_tokens}},"completion_tokens_details":{"reasoning_tokens":${u.reasoning_tokens}}${ds}}`
}

/** The Responses API's `usage` (same convention as chat, other names). */
export function responsesUsage (u: Usage): Record<string, unknown> {
  return {
    input_tokens: u.prompt_tokens,
    input_tokens_details: { cached_tokens: u.cached_tokens },
    output_tokens: u.completion_tokens,
    output_tokens_details: { reasoning_tokens: u.reasoning_tokens },
    total_tokens: u.prompt_tokens + u.completion_tokens
  }
}

/** Anthropic's input fields: `input_tokens` EXCLUDES cache reads and cache writes. */
export function anthropicInput (u: Usage): { input_tokens: number, cache_creation_input_tokens: number, cache_read_input_tokens: number } {
  return {
    input_tokens: u.prompt_tokens - u.cached_tokens - u.cache_write_tokens,
    cache_creation_input_tokens: u.cache_write_tokens,
    cache_read_input_tokens: u.cached_tokens
  }
}
