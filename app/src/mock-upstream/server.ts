// Runs the mock upstream as a process: settings from the environment, clean exit on SIGTERM/SIGINT.
import { createMockUpstream } from './app.js'
import { MockEnvError, readMockEnv } from './env.js'

function main (): void {
  let env
  try {
    env = readMockEnv()
  } catch (err) {
    if (!(err instanceof MockEnvError)) throw err
    console.error(`mock upstream: ${err.message}`)
    process.exit(1)
  }
  const mock = createMockUpstream(env.options)
  mock.listen(env.port, env.host).then(({ port, url }) => {
    const auth = env.options.api_key !== undefined ? 'API key required' : 'no auth'
    console.log(`mock upstream listening on ${env.host}:${port} (${url}, ${auth})`)
  }, (err: Error) => {
    console.error(`mock upstream: cannot listen on ${env.host}:${env.port}: ${err.message}`)
    process.exit(1)
  })

  let closing = false
  const stop = (signal: NodeJS.Signals): void => {
    if (closing) return
    closing = true
    console.log(`mock upstream: ${signal}, closing`)
    mock.close().then(() => process.exit(0), () => process.exit(0))
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main()
