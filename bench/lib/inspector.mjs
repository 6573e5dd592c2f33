// @ts-check
// Asks a process started with --inspect=127.0.0.1:PORT for a full garbage collection, so memory
// left after a test can be told apart from garbage that was simply not collected yet.
import WebSocket from 'ws'

/** @param {number} inspectPort */
export async function collectGarbage (inspectPort) {
  const res = await fetch(`http://127.0.0.1:${inspectPort}/json/list`)
  const targets = /** @type {Array<{ webSocketDebuggerUrl: string }>} */ (await res.json())
  const webSocketDebuggerUrl = targets[0]?.webSocketDebuggerUrl
  if (webSocketDebuggerUrl === undefined) throw new Error(`no inspector target on port ${inspectPort}`)
  const ws = new WebSocket(webSocketDebuggerUrl)
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  try {
    await /** @type {Promise<void>} */ (new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('HeapProfiler.collectGarbage timed out')), 30000)
      ws.on('message', (/** @type {Buffer} */ data) => {
        /** @type {{ id?: number, error?: { message: string } }} */
        const msg = JSON.parse(data.toString())
        if (msg.id !== 1) return
        clearTimeout(timer)
        if (msg.error !== undefined) reject(new Error(msg.error.message))
        else resolve()
      })
      ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }))
    }))
  } finally {
    ws.close()
  }
}
