// Polling instead of sleeping: tests wait for a condition, with a generous bound, never for a time.
import { setTimeout as sleep } from 'node:timers/promises'

/** Polls `check()` until it is true; false when `timeoutMs` passed first (assert on the result). */
export async function waitFor (check: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 20): Promise<boolean> {
  const until = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return true
    if (Date.now() > until) return false
    await sleep(intervalMs)
  }
}

/** Like waitFor, for top-level setup that cannot assert: throws, naming what never happened. */
export async function waitOrThrow (check: () => boolean | Promise<boolean>, timeoutMs: number, what: string, intervalMs = 20): Promise<void> {
  if (!await waitFor(check, timeoutMs, intervalMs)) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`)
}
