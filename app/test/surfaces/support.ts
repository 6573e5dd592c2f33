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

const BOUNDARY = '----gw-test-boundary-7MA4YWxkTrZu0gW'
/** The content type of a body built by `multipart()`. */
export const FORM_TYPE = `multipart/form-data; boundary=${BOUNDARY}`

/** A multipart body: text fields first (as the SDKs send the model), then the file parts. */
export function multipart (fields: Record<string, string>, files: Array<{ name: string, filename: string, type: string, bytes: Buffer }>): Buffer {
  const parts: Buffer[] = []
  for (const [name, value] of Object.entries(fields)) {
    parts.push(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`))
  }
  for (const f of files) {
    parts.push(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${f.name}"; filename="${f.filename}"\r\nContent-Type: ${f.type}\r\n\r\n`), f.bytes, Buffer.from('\r\n'))
  }
  parts.push(Buffer.from(`--${BOUNDARY}--\r\n`))
  return Buffer.concat(parts)
}
