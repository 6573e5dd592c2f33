// What the mock saw and sent, for tests to assert on (`GET /_mock/stats`).
import type { IncomingHttpHeaders } from 'node:http'
import type { FilePart } from './multipart.js'
import type { Usage } from './usage.js'

export interface RecentRequest {
  path: string
  method: string
  /** every request header as received (lower-case names) */
  headers: IncomingHttpHeaders
  /** the body's `mock` override, when it had one */
  body_mock?: unknown
  /** the `model` of the body, when it had one */
  model?: string
  stream: boolean
  /** response status, once headers were sent */
  status?: number
  /** the fault applied to this request, if any */
  fault?: string
  /** the client went away before the response was complete */
  aborted: boolean
  /** the response was sent completely */
  completed: boolean
  /** bytes of the request body as received (set once the body was read to its end) */
  body_bytes?: number
  /** sha256 (hex) of those bytes: proves a relay passed the body through unchanged */
  body_sha256?: string
  /** the `anthropic-version` and `anthropic-beta` headers, on the Messages routes */
  anthropic_version?: string
  anthropic_beta?: string
  /** a multipart body's file parts (name, filename, bytes, sha256) and text fields */
  files?: FilePart[]
  fields?: Record<string, string>
  /** a binary answer's size and sha256 (speech), when it was sent whole */
  response_bytes?: number
  response_sha256?: string
  /** the id of the response a Responses request created, and the one it chained on */
  response_id?: string
  previous_response_id?: string
}

export interface MockStats {
  /** requests to `/v1/*` and unknown routes; `/healthz` and `/_mock/*` are not counted */
  requests: number
  by_path: Record<string, number>
  in_flight: number
  completed: number
  /** the client closed the connection before the response was complete (hung requests included) */
  aborted: number
  /** the mock destroyed the connection on purpose (`reset`, `cut`) */
  destroyed: number
  /** requests per path that the client left before their response was complete */
  aborted_by_path: Record<string, number>
  /**
   * usage the mock actually sent: non-stream responses, and streams that emitted their usage;
   * in OpenAI's convention (prompt includes cached tokens, completion includes reasoning tokens)
   */
  usage_reported: { prompt_tokens: number, completion_tokens: number }
  /** the detail counts of that same usage */
  usage_details_reported: { cached_tokens: number, reasoning_tokens: number, cache_write_tokens: number }
  /** the last 100 requests, oldest first */
  recent: RecentRequest[]
}

const RECENT_MAX = 100

export class StatsRecorder {
  private s: MockStats = StatsRecorder.empty()

  private static empty (): MockStats {
    return {
      requests: 0,
      by_path: {},
      in_flight: 0,
      completed: 0,
      aborted: 0,
      destroyed: 0,
      aborted_by_path: {},
      usage_reported: { prompt_tokens: 0, completion_tokens: 0 },
      usage_details_reported: { cached_tokens: 0, reasoning_tokens: 0, cache_write_tokens: 0 },
      recent: []
    }
  }

  begin (entry: RecentRequest): void {
    const s = this.s
    s.requests++
    s.by_path[entry.path] = (s.by_path[entry.path] ?? 0) + 1
    s.in_flight++
    s.recent.push(entry)
    if (s.recent.length > RECENT_MAX) s.recent.shift()
  }

  /** Called once per request when its response ended one way or another. */
  end (entry: RecentRequest, how: 'completed' | 'aborted' | 'destroyed'): void {
    const s = this.s
    s.in_flight--
    s[how]++
    if (how === 'completed') entry.completed = true
    if (how === 'aborted') {
      entry.aborted = true
      s.aborted_by_path[entry.path] = (s.aborted_by_path[entry.path] ?? 0) + 1
    }
  }

  usage (u: Usage): void {
    const s = this.s
    s.usage_reported.prompt_tokens += u.prompt_tokens
    s.usage_reported.completion_tokens += u.completion_tokens
    s.usage_details_reported.cached_tokens += u.cached_tokens
    s.usage_details_reported.reasoning_tokens += u.reasoning_tokens
    s.usage_details_reported.cache_write_tokens += u.cache_write_tokens
  }

  /** Zeroes everything except requests still in flight. */
  reset (): void {
    const inFlight = this.s.in_flight
    this.s = StatsRecorder.empty()
    this.s.in_flight = inFlight
  }

  /** A copy, so later requests do not change what a caller holds. */
  snapshot (): MockStats {
    return structuredClone(this.s)
  }
}
