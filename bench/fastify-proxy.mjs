// @ts-check
// The framework's floor: the gateway's own Fastify and undici (from app/node_modules) with nothing
// of the gateway on top. One route; the body read whole as a buffer (the gateway needs it whole to
// read the model) and parsed with JSON.parse; the upstream answer read whole and sent with
// reply.send, as the gateway sends a JSON answer; an SSE answer piped. What the gateway costs above
// this is its own work.
// Env: PORT, UPSTREAM_ORIGIN (e.g. http://127.0.0.1:8090), UPSTREAM_MAX_CONNECTIONS.
import Fastify from '../app/node_modules/fastify/fastify.js'
import { Pool } from '../app/node_modules/undici/index.js'

const port = Number(process.env.PORT ?? 8082)
const pool = new Pool(process.env.UPSTREAM_ORIGIN ?? 'http://127.0.0.1:8090', {
  connections: Number(process.env.UPSTREAM_MAX_CONNECTIONS ?? 256),
  pipelining: 1
})
// hop-by-hop headers, and the length reply.send sets itself
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'host', 'proxy-connection', 'te', 'trailer', 'content-length'])

const app = Fastify({ logger: false })
app.removeAllContentTypeParsers()
app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
  try {
    done(null, { raw: body, parsed: JSON.parse(body.toString('utf8')) })
  } catch (err) {
    done(/** @type {Error} */ (err), undefined)
  }
})
app.get('/healthz', async () => 'ok')
app.post('/v1/chat/completions', async (request, reply) => {
  const { raw } = /** @type {{ raw: Buffer }} */ (request.body)
  /** @type {Record<string, string>} */
  const headers = { 'content-type': 'application/json' }
  const auth = request.headers.authorization
  if (auth !== undefined) headers.authorization = auth
  const res = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers, body: raw })
  /** @type {Record<string, string | string[]>} */
  const out = {}
  for (const [name, value] of Object.entries(res.headers)) if (!HOP.has(name) && value !== undefined) out[name] = value
  reply.code(res.statusCode).headers(out)
  // an SSE answer is piped as it arrives, as the gateway pipes it
  if (String(res.headers['content-type'] ?? '').startsWith('text/event-stream')) return await reply.send(res.body)
  /** @type {Buffer[]} */
  const chunks = []
  for await (const chunk of res.body) chunks.push(chunk)
  return await reply.send(Buffer.concat(chunks))
})

await app.listen({ port, host: '127.0.0.1' })
const stop = () => { app.close().then(async () => { await pool.close() }).finally(() => process.exit(0)) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
