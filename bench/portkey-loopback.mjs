// @ts-check
// Preloaded into Portkey (`node --import`): it listens on every interface with no option to
// change that, so every listen() with a port and no host is pinned to 127.0.0.1 instead.
import net from 'node:net'

const listen = net.Server.prototype.listen
// the arguments are listen()'s many overloads, passed on as they came
/** @type {(this: net.Server, ...args: any[]) => net.Server} */
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\d+$/.test(args[0]))) {
    const port = Number(args[0])
    const callback = args.find((a) => typeof a === 'function')
    const backlog = typeof args[1] === 'number' ? args[1] : typeof args[2] === 'number' ? args[2] : undefined
    return listen.call(this, { port, host: '127.0.0.1', backlog }, callback)
  }
  if (args[0] !== null && typeof args[0] === 'object' && args[0].port !== undefined && args[0].path === undefined) {
    args[0] = { ...args[0], host: '127.0.0.1' }
  }
  return listen.apply(this, /** @type {Parameters<typeof listen>} */ (/** @type {unknown} */ (args)))
}
