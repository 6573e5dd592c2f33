// A finished answer's usage on the request context: the upstream's figures, or a tokenizer estimate
// labelled as such, and the cost from the model's prices. Accounting reads it at the end.
import type { FastifyRequest } from 'fastify'
import { costUsd, estimateTokens, plainUsage, promptText, type Usage } from '../lib/usage.js'
import type { RelayJob } from './job.js'

/** Tokens of the generated text; `scale` extrapolates when only the start of a long stream was kept. */
async function estimateCompletion (seen: string | { text: string, scale: number }): Promise<number> {
  if (typeof seen === 'string') return await estimateTokens(seen)
  return Math.round((await estimateTokens(seen.text)) * seen.scale)
}

export async function accountUsage (request: FastifyRequest, job: RelayJob, upstream: Usage | undefined, completion: () => string | { text: string, scale: number }): Promise<void> {
  const ctx = request.ctx
  let usage = upstream
  if (usage === undefined) {
    if (!job.surface.estimates || job.body === undefined) return
    usage = plainUsage(await estimateTokens(promptText(job.body)), await estimateCompletion(completion()), 'estimated')
  }
  ctx.usage = usage
  ctx.costUsd = job.entry === undefined ? 0 : costUsd(job.entry.price, usage)
}
