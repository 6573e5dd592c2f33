// Summarises a V8 .cpuprofile: self time per function and per owner (package, gateway, Node),
// the JS callers of native leaf time, and inclusive time of the gateway's own functions.
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'

/** Shortens a script URL to what a reader recognises: app/dist/…, node_modules/<pkg>/…, node:… */
export function shortUrl (url) {
  if (url === '') return '(native)'
  if (url.startsWith('node:')) return url
  const path = url.replace(/^file:\/\//, '')
  const nm = path.lastIndexOf('/node_modules/')
  if (nm >= 0) return path.slice(nm + 1)
  const app = path.indexOf('/app/dist/')
  if (app >= 0) return path.slice(app + 1)
  return path
}

/** Groups a file under its owner: a package, the gateway, or Node itself. */
export function owner (url) {
  const s = shortUrl(url)
  if (s.startsWith('node_modules/')) {
    const parts = s.split('/')
    return parts[1].startsWith('@') ? `${parts[1]}/${parts[2]}` : parts[1]
  }
  if (s.startsWith('app/dist/')) return 'gateway (app/dist)'
  if (s.startsWith('node:')) return 'node core (JS)'
  if (s.startsWith('wasm://')) return 'wasm (undici llhttp)'
  return s
}

const label = (f) => `${f.functionName || '(anonymous)'}\t${shortUrl(f.url)}${f.url === '' ? '' : `:${f.lineNumber + 1}`}`
const split = (k) => { const [fn, where] = k.split('\t'); return { function: fn, where } }

/**
 * `window` ({ fromUs, toUs } on the monotonic clock, as process.hrtime) keeps only the samples
 * taken under load; `(idle)` samples never count, so shares are of busy time.
 */
export function summarizeProfile (file, { top = 25, window } = {}) {
  const profile = JSON.parse(readFileSync(file, 'utf8'))
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)

  const self = new Map()
  const owners = new Map()
  const nativeCallers = new Map()
  const inclusiveApp = new Map()
  let total = 0
  let t = profile.startTime
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0
    t += dt
    if (window !== undefined && (t < window.fromUs || t > window.toUs)) continue
    const node = byId.get(profile.samples[i])
    const f = node.callFrame
    if (f.functionName === '(idle)') continue
    total += dt
    const key = label(f)
    self.set(key, (self.get(key) ?? 0) + dt)
    const o = f.url === '' ? `native: ${f.functionName}` : owner(f.url)
    owners.set(o, (owners.get(o) ?? 0) + dt)
    // native leaf (writev, writeUtf8String, …): charge it to the nearest frame outside Node's
    // own JS, i.e. the library or gateway code that asked for the write
    let id = node.id
    if (f.url === '' && !f.functionName.startsWith('(')) {
      let p = parent.get(id)
      while (p !== undefined && (byId.get(p).callFrame.url === '' || byId.get(p).callFrame.url.startsWith('node:'))) p = parent.get(p)
      const k = `${f.functionName} ← ${p === undefined ? '(node core)' : label(byId.get(p).callFrame).replace('\t', ' ')}`
      nativeCallers.set(k, (nativeCallers.get(k) ?? 0) + dt)
    }
    // inclusive time of the gateway's own functions (each counted once per sample)
    const seen = new Set()
    while (id !== undefined) {
      const cf = byId.get(id).callFrame
      if (cf.url.includes('/app/dist/')) {
        const k = label(cf)
        if (!seen.has(k)) { seen.add(k); inclusiveApp.set(k, (inclusiveApp.get(k) ?? 0) + dt) }
      }
      id = parent.get(id)
    }
  }
  const rank = (m, n = top) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n)
  const ms = (us) => Math.round(us) / 1000
  return {
    busy_ms: ms(total),
    functions: rank(self).map(([k, us]) => ({ ...split(k), self_ms: ms(us), share: us / total })),
    owners: rank(owners, 15).map(([o, us]) => ({ owner: o, self_ms: ms(us), share: us / total })),
    native_by_js_caller: rank(nativeCallers, 12).map(([k, us]) => ({ call: k, self_ms: ms(us), share: us / total })),
    gateway_inclusive: rank(inclusiveApp, 15).map(([k, us]) => ({ ...split(k), inclusive_ms: ms(us), share: us / total }))
  }
}

// `node bench/lib/cpuprofile.mjs FILE [TOP]` prints the summary as JSON
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(summarizeProfile(process.argv[2], { top: Number(process.argv[3] ?? 25) }), null, 2))
}
