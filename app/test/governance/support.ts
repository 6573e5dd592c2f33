// Helpers of the governance tests: an upstream that holds streams until the test releases them,
// plain JSON requests, and a replica's config_info.
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { GatewayProc } from '../support/procs.js'

export interface HeldUpstream {
  url: string
  /** streams that have sent their first chunk and wait for `release()` */
  held: () => number
  /** requests this upstream received */
  requests: () => number
  release: () => void
  close: () => Promise<void>
}

/**
 * An OpenAI-compatible chat upstream whose streams send one chunk, then wait until the test calls
 * `release()`, then finish with usage (`promptTokens` / `completionTokens`) and [DONE].
 */
export async function startHeldUpstream (usage: { promptTokens: number, completionTokens: number }): Promise<HeldUpstream> {
  let released = false
  let requests = 0
  const waiting = new Set<() => void>()
  const chunk = (delta: Record<string, unknown>, extra: Record<string, unknown> = {}): string =>
    `data: ${JSON.stringify({ id: 'chatcmpl-held', object: 'chat.completion.chunk', created: 1, model: 'held', choices: [{ index: 0, delta, finish_reason: null }], ...extra })}\n\n`
  const finish = (res: ServerResponse): void => {
    res.write(chunk({ content: ' world' }))
    res.write(`data: ${JSON.stringify({ id: 'chatcmpl-held', object: 'chat.completion.chunk', created: 1, model: 'held', choices: [], usage: { prompt_tokens: usage.promptTokens, completion_tokens: usage.completionTokens, total_tokens: usage.promptTokens + usage.completionTokens } })}\n\n`)
    res.end('data: [DONE]\n\n')
  }
  const server: Server = createServer((req, res) => {
    requests++
    req.resume()
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(chunk({ role: 'assistant', content: 'hello' }))
      if (released) { finish(res); return }
      const go = (): void => { waiting.delete(go); finish(res) }
      waiting.add(go)
      res.on('close', () => { waiting.delete(go) })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const addr = server.address()
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0
  return {
    url: `http://127.0.0.1:${port}`,
    held: () => waiting.size,
    requests: () => requests,
    release: () => {
      released = true
      for (const go of [...waiting]) go()
    },
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

export interface JsonAnswer { status: number, headers: Headers, body: Record<string, unknown> }

/** POST a JSON body; the answer's status, headers and parsed body (text kept as `text` when not JSON). */
export async function postJson (url: string, key: string, body: unknown, signal?: AbortSignal): Promise<JsonAnswer> {
  const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body), signal: signal ?? AbortSignal.timeout(60_000) })
  const text = await res.text()
  let parsed: Record<string, unknown>
  try { parsed = JSON.parse(text) as Record<string, unknown> } catch { parsed = { text } }
  return { status: res.status, headers: res.headers, body: parsed }
}

/** `llm_gateway_config_info`'s labels on a replica's /metrics. */
export async function configInfo (r: GatewayProc): Promise<{ keys_hash: string, models_hash: string } | undefined> {
  const text = await (await fetch(r.metricsUrl, { signal: AbortSignal.timeout(5000) })).text()
  const m = /^llm_gateway_config_info\{keys_hash="([0-9a-f]+)",models_hash="([0-9a-f]+)"\} 1$/m.exec(text)
  return m === null ? undefined : { keys_hash: m[1] as string, models_hash: m[2] as string }
}
