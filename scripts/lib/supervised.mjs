// @ts-check
// A supervised child of the native stack: output appended to a log file, restarted after an
// unexpected exit (like compose's `restart: unless-stopped`).
import { startProcess, waitUntil } from './procs.mjs'

/**
 * @typedef {object} SupervisedOptions
 * @property {string} name
 * @property {string} command
 * @property {string[]} args
 * @property {Record<string, string | undefined>} env
 * @property {string} [cwd]
 * @property {string} logFile
 * @property {() => unknown} ready a probe (see waitUntil): true once the process serves
 * @property {boolean} [restart]
 * @property {number} [restartDelayMs]
 * @property {() => void} [onChange] runs after every (re)start and exit, to publish the current pid
 * @property {(msg: string) => void} [log]
 */

/**
 * One child process, restarted `restartDelayMs` after an unexpected exit (backing off up to 5 s
 * while it keeps dying young).
 */
export class Supervised {
  /** @param {SupervisedOptions} opts */
  constructor ({ restart = true, restartDelayMs = 500, onChange = () => {}, log = () => {}, ...opts }) {
    this.opts = { ...opts, restart, restartDelayMs, onChange, log }
    this.name = opts.name
    /** @type {import('./procs.mjs').Proc | null} */
    this.proc = null
    /** @type {number | null} */
    this.pid = null
    this.restarts = 0
    this.stopping = false
    this.exits = 0
    this.startedAt = 0
    this.fastDeaths = 0
    /** @type {NodeJS.Timeout | null} */
    this.timer = null
  }

  spawnOnce () {
    const { name, command, args, env, cwd, logFile, log } = this.opts
    const proc = startProcess(command, args, { name, env, cwd, logFile })
    this.proc = proc
    this.pid = proc.pid
    this.startedAt = Date.now()
    proc.exited.then((how) => this.exitedWith(proc, how), () => {})
    proc.child.on('error', (err) => log(`${name}: ${err.message}`))
  }

  /**
   * @param {import('./procs.mjs').Proc} proc
   * @param {number | string | null} how
   */
  exitedWith (proc, how) {
    if (this.proc !== proc) return
    const { name, restart, restartDelayMs, onChange, log } = this.opts
    this.exits += 1
    this.proc = null
    this.pid = null
    onChange()
    if (this.stopping || !restart) return
    // A process that keeps dying young is restarted less and less often, up to every 5 s.
    this.fastDeaths = Date.now() - this.startedAt < 2000 ? this.fastDeaths + 1 : 0
    const wait = Math.min(restartDelayMs * 2 ** Math.max(0, this.fastDeaths - 1), 5000)
    log(`${name} exited (${typeof how === 'string' ? how : `code ${how}`}); restarting in ${wait} ms`)
    this.timer = setTimeout(() => {
      this.timer = null
      if (this.stopping) return
      this.restarts += 1
      try {
        this.spawnOnce()
      } catch (err) {
        log(`${name}: ${/** @type {Error} */ (err).message}`)
      }
      onChange()
    }, wait)
  }

  /**
   * Starts the process and waits until `ready()` says so (or the process exits).
   * @param {number} timeoutMs
   */
  async start (timeoutMs) {
    this.spawnOnce()
    this.opts.onChange()
    const startExits = this.exits
    await waitUntil(this.name, () => this.opts.ready(), {
      timeoutMs,
      abort: () => this.exits !== startExits ? `exited during start-up (see ${this.opts.logFile})` : undefined
    })
  }

  /**
   * `signal`, SIGKILL after `graceMs`; resolves once the process is gone.
   * @param {NodeJS.Signals} [signal]
   * @param {number} [graceMs]
   */
  async stop (signal = 'SIGTERM', graceMs = 10000) {
    this.stopping = true
    if (this.timer !== null) clearTimeout(this.timer)
    await this.proc?.stop(signal, graceMs)
  }
}
