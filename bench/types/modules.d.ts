// The bench's own dependencies that are installed only for a run (`npm ci --prefix bench`):
// just the parts the bench calls, so the typecheck of `make test` needs no install.
declare module 'vega' {
  export function parse (spec: unknown): unknown
  export class View {
    constructor (runtime: unknown, opts?: { renderer?: 'none' | 'svg' | 'canvas' })
    toSVG (): Promise<string>
    finalize (): void
  }
}

declare module 'vega-lite' {
  export function compile (spec: Record<string, unknown>): { spec: unknown }
}

declare module 'ws' {
  import type { EventEmitter } from 'node:events'
  export default class WebSocket extends EventEmitter {
    constructor (url: string)
    send (data: string): void
    close (): void
  }
}
