// Performance guard by counts: a streamed answer costs the gateway no extra bytes and no extra
// writes per chunk. What the upstream sent is recorded on the wire (a TCP relay in between) and
// compared with what the gateway wrote to its client, framing included.
import t, { type Test } from 'tap'
import { chatBody, startTestGateway, type TestGateway } from '../support/gateway.js'
import { RecordingRelay, parseResponses, rawExchange, type WireResponse } from './support.js'
import { sseData } from '../support/http.js'

const CHUNKS = 20
// 1 ms apart, so the upstream writes its events one by one; how they group on arrival does not
// matter (the assertions hold for any grouping), so the test does not depend on machine speed
const PACING = { chunks: CHUNKS, chunk_delay_ms: 1 }

async function setup (t: Test): Promise<{ gw: TestGateway, relay: RecordingRelay, base: string }> {
  const relay = new RecordingRelay()
  let mockPort = 0
  const relayUrl = await relay.listen(() => mockPort)
  const gw = await startTestGateway({ env: { UPSTREAM_BASE_URL: `${relayUrl}/v1` } })
  const addr = gw.mock.server.address()
  mockPort = typeof addr === 'object' && addr !== null ? addr.port : 0
  const base = await gw.listen()
  t.teardown(async () => { await gw.close(); await relay.close() })
  return { gw, relay, base }
}

/** One streamed exchange: the client's answer and the upstream's, both as framed on the wire. */
async function exchange (gw: TestGateway, relay: RecordingRelay, base: string, extra: Record<string, unknown>): Promise<{ client: WireResponse, upstream: WireResponse }> {
  const upstreamBefore = relay.bytes().length
  const wire = await rawExchange(base, '/v1/chat/completions', gw.auth(), JSON.stringify(chatBody({ stream: true, mock: PACING, ...extra })))
  const [client] = parseResponses(wire)
  // the relay has every upstream byte once the client's answer has ended (the gateway relays
  // the upstream's end before it ends its own answer)
  const upstreamAll = parseResponses(relay.bytes().subarray(upstreamBefore))
  const upstream = upstreamAll.at(-1)
  if (client === undefined || upstream === undefined) throw new Error('no response parsed')
  return { client, upstream }
}

t.test('a client that asked for usage gets the upstream\'s bytes unchanged, in no more writes', async (t) => {
  const { gw, relay, base } = await setup(t)
  const { client, upstream } = await exchange(gw, relay, base, { stream_options: { include_usage: true } })
  t.equal(client.status, 200)
  t.equal(upstream.status, 200)
  const events = sseData(upstream.payload.toString('utf8')).length
  t.ok(events >= CHUNKS + 3, `the upstream sent the whole stream (${events} events)`)
  t.ok(client.payload.equals(upstream.payload), 'the payload is byte for byte the upstream\'s')
  t.ok(client.chunks <= upstream.chunks, `${client.chunks} writes to the client for ${upstream.chunks} from the upstream: no chunk split in two`)
  const perChunk = (client.bodyWireBytes - upstream.bodyWireBytes) / events
  t.ok(perChunk <= 0, `${perChunk.toFixed(2)} bytes added per event on the wire, framing included (today: ≤ 0)`)
})

t.test('a client that did not ask for usage gets fewer bytes per event than the upstream sent, in no more writes', async (t) => {
  const { gw, relay, base } = await setup(t)
  const { client, upstream } = await exchange(gw, relay, base, {})
  t.equal(client.status, 200)
  const up = sseData(upstream.payload.toString('utf8'))
  const down = sseData(client.payload.toString('utf8'))
  t.equal(down.length, up.length - 1, 'only the usage event the gateway asked for is left out')
  t.ok(up.some((e) => e.includes('"usage":{')), 'the gateway asked the upstream for usage')
  t.ok(client.chunks <= upstream.chunks, `${client.chunks} writes to the client for ${upstream.chunks} from the upstream: no chunk split in two`)
  const perEvent = (client.payload.length / down.length) - (upstream.payload.length / up.length)
  t.ok(perEvent <= 0, `${perEvent.toFixed(2)} payload bytes added per event (today: < 0, the upstream's "usage":null is dropped)`)
  t.ok(client.bodyWireBytes <= upstream.bodyWireBytes, `the client got ${client.bodyWireBytes} body bytes on the wire for the upstream's ${upstream.bodyWireBytes}`)
})
