// @ts-check
// A bare pass-through proxy (node:http in, undici Pool out): the ceiling for any Node proxy.
// Env: PORT, UPSTREAM_ORIGIN (e.g. http://127.0.0.1:8090), UPSTREAM_MAX_CONNECTIONS.
import { createServer } from 'node:http'
import { Pool } from 'undici'

const port = Number(process.env.PORT ?? 8081)
const pool = new Pool(process.env.UPSTREAM_ORIGIN ?? 'http://127.0.0.1:8090', {
  connections: Number(process.env.UPSTREAM_MAX_CONNECTIONS ?? 256),
  pipelining: 1
})
// undici refuses these in a request; a proxy must drop them anyway (hop-by-hop)
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'host', 'proxy-connection', 'te', 'trailer'])

const server = createServer((req, res) => {
  /** @type {Record<string, string | string[]>} */
  const headers = {}
  for (const [name, value] of Object.entries(req.headers)) if (!HOP.has(name) && value !== undefined) headers[name] = value
  const method = /** @type {import('undici').Dispatcher.HttpMethod} */ (req.method ?? 'GET')
  const hasBody = method !== 'GET' && method !== 'HEAD'
  pool.stream({
    method,
    path: req.url ?? '/',
    headers,
    body: hasBody ? req : undefined
  }, ({ statusCode, headers: upstreamHeaders }) => {
    /** @type {Record<string, string | string[]>} */
    const out = {}
    for (const [name, value] of Object.entries(upstreamHeaders)) if (!HOP.has(name) && value !== undefined) out[name] = value
    res.writeHead(statusCode, out)
    return res
  }, (err) => {
    if (err === null) return
    if (!res.headersSent) {
      res.writeHead(502, { 'content-type': 'application/json' })
      res.end('{"error":{"message":"upstream error","type":"api_error","param":null,"code":"upstream_error"}}')
    } else {
      res.destroy(err)
    }
  })
  // a client that goes away takes its upstream request with it
  res.on('close', () => { if (!res.writableFinished) req.destroy() })
})
server.keepAliveTimeout = 65_000
server.listen(port, '127.0.0.1')

const stop = () => { server.close(); server.closeAllConnections(); pool.close().finally(() => process.exit(0)) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
