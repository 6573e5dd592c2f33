// Responses this mock created, kept in memory (the newest ones only) for the Responses API's `{id}` routes.

export interface StoredResponse {
  /** the response object as last sent (status may change on cancel) */
  response: Record<string, unknown>
  /** the request's input as the input_items list shows it, oldest first */
  inputItems: Array<Record<string, unknown>>
  /** 1 for a response without `previous_response_id`, the previous one's turn + 1 otherwise */
  turn: number
  /** input plus output tokens of this turn and all before it: what a chained request carries */
  contextTokens: number
}

/** Enough for any test or benchmark to chain on recent responses; old ones fall out first. */
export const STORE_MAX = 1000

export class ResponseStore {
  private readonly byId = new Map<string, StoredResponse>()

  get (id: string): StoredResponse | undefined {
    return this.byId.get(id)
  }

  put (id: string, stored: StoredResponse): void {
    this.byId.delete(id)
    this.byId.set(id, stored)
    if (this.byId.size > STORE_MAX) {
      const oldest = this.byId.keys().next().value
      if (oldest !== undefined) this.byId.delete(oldest)
    }
  }

  delete (id: string): boolean {
    return this.byId.delete(id)
  }

  get size (): number {
    return this.byId.size
  }

  clear (): void {
    this.byId.clear()
  }
}
