// What the surface tests share: a listening gateway torn down with the test, and the mock's record of one path.
import type { Test } from 'tap'
import type { MockUpstream, RecentRequest } from '../../src/mock-upstream/app.js'
import { startTestGateway, type TestGateway, type TestGatewayOptions } from '../support/gateway.js'

/** A gateway listening on loopback, closed in the test's teardown; `url` is its base (no /v1). */
export async function listeningGateway (t: Test, opts: TestGatewayOptions = {}): Promise<{ gw: TestGateway, url: string }> {
  const gw = await startTestGateway(opts)
  t.teardown(() => gw.close())
  return { gw, url: await gw.listen() }
}

/** The requests an upstream received on `path` (method optional), oldest first. */
export function received (mock: MockUpstream, path: string, method?: string): RecentRequest[] {
  return mock.stats().recent.filter((r) => r.path === path && (method === undefined || r.method === method))
}

/** The last request an upstream received on `path`; throws when it received none (a test failure, with a reason). */
export function lastReceived (mock: MockUpstream, path: string): RecentRequest {
  const r = received(mock, path).at(-1)
  if (r === undefined) throw new Error(`the upstream received no request on ${path}`)
  return r
}

/** Runs `fn` and returns what it threw; fails the test when it did not throw. */
export async function caught (t: Test, fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn()
  } catch (err) {
    return err
  }
  t.fail('expected the call to throw')
  return undefined
}
