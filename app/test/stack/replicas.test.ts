// Three gateway replicas behind the native stack's nginx, as a client sees them: traffic spread
// over all, one per-key limit shared through Redis, a replica stopped or killed under load.
import t from 'tap'
import https from 'node:https'
import { setTimeout as sleep } from 'node:timers/promises'
import { assertOpenAIError, type Json } from '../support/http.js'
import { scrapedValue } from '../support/metrics.js'
import {
  accessLogLines, edgeRequest, pool, readStackState, startNativeStack, stackKey,
  type EdgeAnswer, type EdgeRequestOptions, type StackState
} from '../support/native-stack.js'
import { pidAlive } from '../support/procs.js'
import { waitFor } from '../support/wait.js'

const state = await startNativeStack(t, [
  '--replicas', '3',
  '--key', 'limited rpm=10',
  '--key', 'load rpm=1000000',
  // The load below comes from one address: the edge's per-address limits must not be what refuses it.
  '--edge-rate', '5000r/s', '--edge-burst', '5000', '--edge-conn', '1000',
  '--log-level', 'warn'
])
const limitedKey = stackKey(state, 'limited')
const loadKey = stackKey(state, 'load')

const request = async (method: string, path: string, opts: EdgeRequestOptions = {}): Promise<EdgeAnswer> => await edgeRequest(state, method, path, opts)
const chat = (extra: Record<string, unknown> = {}): string => JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'Hello' }], ...extra })
const authHeaders = (k: string): Record<string, string> => ({ authorization: `Bearer ${k}`, 'content-type': 'application/json' })
const requestsTotal = async (metricsUrl: string): Promise<number> => await scrapedValue(metricsUrl, 'llm_gateway_requests_total')

t.test('requests spread over all replicas', async (t) => {
  const before = await Promise.all(state.gateways.map(async (g) => await requestsTotal(g.metricsUrl)))
  const agent = new https.Agent({ keepAlive: true, maxSockets: 6 })
  t.teardown(() => agent.destroy())
  const results = await pool(60, 6, async () => await request('POST', '/v1/chat/completions', { agent, headers: authHeaders(loadKey), body: chat() }))
  t.same(results.filter((r) => r.status !== 200).map((r) => r.status), [], 'every request succeeded')
  const after = await Promise.all(state.gateways.map(async (g) => await requestsTotal(g.metricsUrl)))
  for (const [i, g] of state.gateways.entries()) {
    t.ok((after[i] ?? 0) > (before[i] ?? 0), `gateway-${g.index} served requests (${before[i]} → ${after[i]})`)
  }
})

t.test('a per-key limit holds in total across the three replicas', async (t) => {
  const results = await Promise.all(Array.from({ length: 30 }, async (_, i) => await request('POST', '/v1/chat/completions', {
    headers: { ...authHeaders(limitedKey), 'x-request-id': `limited-${i}` },
    body: chat()
  })))
  const ok = results.filter((r) => r.status === 200)
  const limited = results.filter((r) => r.status === 429)
  t.equal(ok.length, 10, 'exactly the key\'s 10 requests per minute succeed')
  t.equal(limited.length, 20, 'the other 20 are rate limited')
  for (const r of limited.slice(0, 3)) {
    assertOpenAIError(t, r, 429, 'rate_limit_error', 'rate_limit_exceeded')
    t.match(String(r.headers['retry-after']), /^\d+$/, 'Retry-After in seconds')
  }
  // The 30 requests were spread over the replicas, so the limit really was shared.
  t.ok(await waitFor(() => accessLogLines(state, '"limited-').length === 30, 10_000), 'nginx logged the 30 requests')
  const replicas = new Set(accessLogLines(state, '"limited-').map((l) => (JSON.parse(l) as { upstream_addr: string }).upstream_addr))
  t.ok(replicas.size >= 2, `limited key's requests reached ${replicas.size} replicas`)
})

/** Waits until the supervisor has restarted replica `index` (new pid, ready) and returns it. */
async function restartedReplica (index: number, oldPid: number): Promise<StackState['gateways'][number] | undefined> {
  let replica: StackState['gateways'][number] | undefined
  await waitFor(async () => {
    const g = readStackState(state.dir).gateways[index]
    if (g?.pid == null || g.pid === oldPid) return false
    replica = g
    return await fetch(`${g.url}/readyz`).then((r) => r.status === 200, () => false)
  }, 20_000, 100)
  return replica
}

/** The `error` member of a JSON error body (`{}` when the body is not one). */
function errorOf (body: string | undefined): Json {
  try { return ((JSON.parse(body ?? '') as Json).error ?? {}) as Json } catch { return {} }
}

t.test('a replica stopped gracefully (SIGTERM) under load', async (t) => {
  const victim = readStackState(state.dir).gateways[1]
  if (victim?.pid == null) throw new Error('no replica to stop')
  const victimPid = victim.pid
  const agent = new https.Agent({ keepAlive: true, maxSockets: 50 })
  t.teardown(() => agent.destroy())
  let done = 0
  const results = await pool(2000, 50, async (): Promise<{ status?: number, body?: string, error?: string }> => {
    try {
      const res = await request('POST', '/v1/chat/completions', { agent, headers: authHeaders(loadKey), body: chat({ mock: { latency_ms: 30 } }), timeoutMs: 20_000 })
      return { status: res.status, body: res.body }
    } catch (err) {
      return { error: (err as Error).message }
    } finally {
      if (++done === 400) process.kill(victimPid, 'SIGTERM')
    }
  })
  t.same(results.filter((r) => r.error !== undefined).map((r) => r.error), [], 'no request failed at the connection level or timed out')
  // nginx never re-sends a POST: a request it writes into a keep-alive connection while the
  // replica stops must be served (the replica drains longer than nginx keeps idle connections).
  t.same(results.filter((r) => r.status !== 200).map((r) => `${r.status} ${String(errorOf(r.body).code)}`), [], 'no request failed during the graceful stop')
  const back = await restartedReplica(1, victimPid)
  t.ok(back !== undefined && back.pid !== victimPid, `restarted as pid ${back?.pid}`)
})

t.test('a replica killed under load: no connection errors, clean JSON errors, restarted', async (t) => {
  const victim = readStackState(state.dir).gateways[0]
  if (victim?.pid == null) throw new Error('no replica to kill')
  const victimPid = victim.pid
  const agent = new https.Agent({ keepAlive: true, maxSockets: 50 })
  t.teardown(() => agent.destroy())
  interface Outcome { start: number, end: number, status?: number, body?: string, error?: string }
  let done = 0
  let killedAt = Infinity
  let goneAt = Infinity
  const results = await pool(2000, 50, async (): Promise<Outcome> => {
    const start = Date.now()
    try {
      // 30 ms of upstream latency keeps requests in flight on the replica when it dies.
      const res = await request('POST', '/v1/chat/completions', { agent, headers: authHeaders(loadKey), body: chat({ mock: { latency_ms: 30 } }), timeoutMs: 20_000 })
      return { start, end: Date.now(), status: res.status, body: res.body }
    } catch (err) {
      return { start, end: Date.now(), error: (err as Error).message }
    } finally {
      if (++done === 400) {
        process.kill(victimPid, 'SIGKILL')
        killedAt = Date.now()
        // The kernel keeps accepting connections for a dying process until it is gone.
        void (async () => {
          while (pidAlive(victimPid)) await sleep(2)
          goneAt = Date.now()
        })()
      }
    }
  })
  // nginx notices the dead replica's keep-alive connections a few milliseconds after the kernel
  // closed them; a POST it wrote into one in that window is answered 502, never re-sent.
  const SETTLE_MS = 500
  t.ok(Number.isFinite(killedAt), 'the replica was killed mid-run')
  t.ok(Number.isFinite(goneAt), `the replica was gone ${goneAt - killedAt} ms after SIGKILL`)
  const errors = results.filter((r) => r.error !== undefined)
  t.same(errors.map((r) => r.error), [], 'no request failed at the connection level or timed out')
  const failed = results.filter((r) => r.status !== undefined && r.status !== 200)
  for (const r of failed) {
    t.ok(r.status === 502 || r.status === 503, `failed request status ${r.status}`)
    t.ok(r.start <= goneAt + SETTLE_MS, `failed request started before the replica was gone, or just after (${r.start - goneAt} ms)`)
    t.equal(errorOf(r.body).type, 'api_error', 'failed request has an OpenAI error body')
  }
  t.ok(failed.length <= 50, `only requests in flight at the kill failed (${failed.length})`)
  const afterKill = results.filter((r) => r.start > goneAt + SETTLE_MS)
  t.ok(afterKill.length > 50, `${afterKill.length} requests started after the replica was gone`)
  t.same(afterKill.filter((r) => r.status !== 200).map((r) => `${r.status} at +${r.start - goneAt} ms`), [], 'every request started after the replica was gone succeeded')
  t.comment(`2000 requests: ${results.length - failed.length} ok, ${failed.length} failed with 502/503 at the kill`)

  // The supervisor restarts the replica, and nginx sends it traffic again.
  const restarted = await restartedReplica(0, victimPid)
  t.ok(restarted !== undefined, `restarted as pid ${restarted?.pid}`)
  t.ok((restarted?.restarts ?? 0) >= 1, 'restart counted')
  let served = 0
  await waitFor(async () => {
    await pool(30, 6, async () => await request('POST', '/v1/chat/completions', { agent, headers: authHeaders(loadKey), body: chat() }))
    served = await requestsTotal(restarted?.metricsUrl ?? '').catch(() => 0)
    return served > 0
  }, 20_000, 250)
  t.ok(served > 0, `the restarted replica serves traffic again (${served} requests)`)
})
