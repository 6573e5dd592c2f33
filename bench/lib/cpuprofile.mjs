// @ts-check
// Summarises a V8 .cpuprofile: self time per function and per owner (package, gateway, Node),
// the JS callers of native leaf time, and inclusive time of the gateway's own functions.
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'

/** @typedef {{ functionName: string, url: string, lineNumber: number }} CallFrame */
/** @typedef {{ id: number, callFrame: CallFrame, children?: number[] }} ProfileNode */
/** @typedef {{ nodes: ProfileNode[], startTime: number, samples: number[], timeDeltas: number[] }} CpuProfile */

/**
 * Shortens a script URL to what a reader recognises: app/dist/…, node_modules/<pkg>/…, node:…
 * @param {string} url
 */
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

/**
 * Groups a file under its owner: a package, the gateway, or Node itself.
 * @param {string} url
 */
export function owner (url) {
  const s = shortUrl(url)
  if (s.startsWith('node_modules/')) {
    const parts = s.split('/')
    const pkg = parts[1] ?? ''
    return pkg.startsWith('@') ? `${pkg}/${parts[2] ?? ''}` : pkg
  }
  if (s.startsWith('app/dist/')) return 'gateway (app/dist)'
  if (s.startsWith('node:')) return 'node core (JS)'
  if (s.startsWith('wasm://')) return 'wasm (undici llhttp)'
  return s
}

const label = (/** @type {CallFrame} */ f) => `${f.functionName || '(anonymous)'}\t${shortUrl(f.url)}${f.url === '' ? '' : `:${f.lineNumber + 1}`}`
const split = (/** @type {string} */ k) => { const [fn = '', where = ''] = k.split('\t'); return { function: fn, where } }

/**
 * `window` ({ fromUs, toUs } on the monotonic clock, as process.hrtime) keeps only the samples
 * taken under load; `(idle)` samples never count, so shares are of busy time.
 * @param {string} file
 * @param {{ top?: number, window?: { fromUs: number, toUs: number } }} [opts]
 */
export function summarizeProfile (file, { top = 25, window } = {}) {
  /** @type {CpuProfile} */
  const profile = JSON.parse(readFileSync(file, 'utf8'))
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  /** @param {number} id */
  const nodeOf = (id) => {
    const n = byId.get(id)
    if (n === undefined) throw new Error(`${file}: no profile node ${id}`)
    return n
  }
  /** @type {Map<number, number>} */
  const parent = new Map()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)

  /** @type {Map<string, number>} */
  const self = new Map()
  /** @type {Map<string, number>} */
  const owners = new Map()
  /** @type {Map<string, number>} */
  const nativeCallers = new Map()
  /** @type {Map<string, number>} */
  const inclusiveApp = new Map()
  let total = 0
  let t = profile.startTime
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0
    t += dt
    if (window !== undefined && (t < window.fromUs || t > window.toUs)) continue
    const node = nodeOf(profile.samples[i] ?? -1)
    const f = node.callFrame
    if (f.functionName === '(idle)') continue
    total += dt
    const key = label(f)
    self.set(key, (self.get(key) ?? 0) + dt)
    const o = f.url === '' ? `native: ${f.functionName}` : owner(f.url)
    owners.set(o, (owners.get(o) ?? 0) + dt)
    // native leaf (writev, writeUtf8String, …): charge it to the nearest frame outside Node's
    // own JS, i.e. the library or gateway code that asked for the write
    /** @type {number | undefined} */
    let id = node.id
    if (f.url === '' && !f.functionName.startsWith('(')) {
      let p = parent.get(id)
      while (p !== undefined && (nodeOf(p).callFrame.url === '' || nodeOf(p).callFrame.url.startsWith('node:'))) p = parent.get(p)
      const k = `${f.functionName} ← ${p === undefined ? '(node core)' : label(nodeOf(p).callFrame).replace('\t', ' ')}`
      nativeCallers.set(k, (nativeCallers.get(k) ?? 0) + dt)
    }
    // inclusive time of the gateway's own functions (each counted once per sample)
    const seen = new Set()
    while (id !== undefined) {
      const cf = nodeOf(id).callFrame
      if (cf.url.includes('/app/dist/')) {
        const k = label(cf)
        if (!seen.has(k)) { seen.add(k); inclusiveApp.set(k, (inclusiveApp.get(k) ?? 0) + dt) }
      }
      id = parent.get(id)
    }
  }
  const rank = (/** @type {Map<string, number>} */ m, n = top) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n)
  const ms = (/** @type {number} */ us) => Math.round(us) / 1000
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
  console.log(JSON.stringify(summarizeProfile(process.argv[2] ?? '', { top: Number(process.argv[3] ?? 25) }), null, 2))
}
