// Shared by the mock upstream's tests: start a mock for one test, POST JSON, read typed SSE events.
import type { Test } from 'tap'
import { createMockUpstream, type MockConfigInput, type MockUpstream } from '../../src/mock-upstream/app.js'
import type { Json } from '../support/http.js'

export async function start (t: Test, options: MockConfigInput = {}): Promise<{ url: string, mock: MockUpstream }> {
  const mock = createMockUpstream(options)
  const { url } = await mock.listen()
  t.teardown(() => mock.close())
  return { url, mock }
}

export async function post (url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body)
  })
}

/** Typed events (`event:` + `data:` lines), as the Responses and Messages APIs send them. */
export function typedEvents (text: string): Array<{ event: string, data: Json }> {
  return text.split('\n\n').filter((e) => e.trim() !== '').map((block) => {
    const event = /^event: (.*)$/m.exec(block)?.[1] ?? ''
    const data = /^data: (.*)$/m.exec(block)?.[1] ?? 'null'
    return { event, data: JSON.parse(data) as Json }
  })
}

/** Reads a body to its end or its failure: the text that arrived, and the error if the read failed. */
export async function readAll (res: Response): Promise<{ text: string, error?: Error }> {
  const reader = res.body!.getReader()
  let text = ''
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return { text }
      text += Buffer.from(value).toString()
    }
  } catch (err) {
    return { text, error: err as Error }
  }
}

export const chat = { model: 'gpt-4.1', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: [{ type: 'text', text: 'hello there world' }] }] }

/** The `usage` chat answers carry when no usage knob is set. */
export function chatUsage (prompt: number, completion: number): Json {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } }
}
