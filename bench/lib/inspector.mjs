// Asks a process started with --inspect=127.0.0.1:PORT for a full garbage collection, so memory
// left after a test can be told apart from garbage that was simply not collected yet.
import WebSocket from 'ws'

export async function collectGarbage (inspectPort) {
  const res = await fetch(`http://127.0.0.1:${inspectPort}/json/list`)
  const [{ webSocketDebuggerUrl }] = await res.json()
  const ws = new WebSocket(webSocketDebuggerUrl)
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('HeapProfiler.collectGarbage timed out')), 30000)
      ws.on('message', (data) => {
        const msg = JSON.parse(data.toString())
        if (msg.id === 1) { clearTimeout(timer); msg.error ? reject(new Error(msg.error.message)) : resolve() }
      })
      ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }))
    })
  } finally {
    ws.close()
  }
}
