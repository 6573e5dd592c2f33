// @ts-check
// The native stack's two files in its directory: options.json (what `up` was asked for, read by
// the supervisor) and state.json (what runs where, kept current by the supervisor), and their shapes.
import { readFileSync, renameSync, writeFileSync } from 'node:fs'

/**
 * A gateway key of the stack: its plaintext (for clients and tests), its options, its entry.
 * @typedef {{ id: string, key: string, options: string, entry: string }} StackKey
 */

/**
 * @typedef {object} StackOptions
 * @property {number} replicas
 * @property {number} timeoutMs
 * @property {boolean} prometheus
 * @property {string | undefined} scrapeInterval
 * @property {string} rpm
 * @property {StackKey[]} keys
 * @property {string} bodyLimit
 * @property {string} corsOrigins
 * @property {{ rate: string, burst: string, conn: string }} edge
 * @property {string} nginxWorkers
 * @property {string} logLevel
 * @property {Record<string, string>} gatewayEnv
 * @property {Record<string, string>} mockEnv
 * @property {number | undefined} ownerPid
 */

/**
 * @typedef {object} GatewayReplica
 * @property {number} index
 * @property {number | null} pid
 * @property {number} restarts
 * @property {number} port
 * @property {string} url
 * @property {number} metricsPort
 * @property {string} metricsUrl
 * @property {string} log
 */

/**
 * @typedef {object} StackState
 * @property {'starting' | 'ready' | 'stopped' | 'failed'} status
 * @property {string} dir
 * @property {number} supervisorPid
 * @property {string} startedAt
 * @property {string} [readyAt]
 * @property {string} [stoppedAt]
 * @property {string} [error]
 * @property {string} ca
 * @property {{ replicas: number, rpm: number, bodyLimit: number, corsOrigins: string, edge: StackOptions['edge'] }} options
 * @property {{ pid: number | null, port: number, url: string }} redis
 * @property {{ pid: number | null, port: number, url: string }} mock
 * @property {GatewayReplica[]} gateways
 * @property {{ pid: number | null, generation: number, httpPort: number, httpsPort: number, statusPort: number, httpUrl: string, httpsUrl: string, statusUrl: string, conf: string, prefix: string, acmeRoot: string, accessLog: string, errorLog: string, reloadError?: string }} nginx
 * @property {{ pid: number | null, port: number, url: string } | null} prometheus
 * @property {Array<{ id: string, key: string, options: string }>} keys
 */

/**
 * Writes JSON readable only by its owner, atomically (readers never see half a file).
 * @param {string} path
 * @param {unknown} value
 */
export function writeJsonAtomic (path, value) {
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n', { mode: 0o600 })
  renameSync(tmp, path)
}

/**
 * A JSON file's content, or undefined when it is missing or unreadable.
 * @param {string} path
 * @returns {unknown}
 */
export function readJson (path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'))
  } catch {
    return undefined
  }
}
