// Reads the mock's settings from environment variables; a bad value names its variable.
import { MockConfigError, parseConfig, type MockOptions } from './config.js'

export interface MockEnv {
  port: number
  host: string
  options: Partial<MockOptions>
}

/** Variable → knob. Values go through the same validator as `/_mock/config`. */
const KNOB_VARS: Record<string, string> = {
  MOCK_API_KEY: 'api_key',
  MOCK_LATENCY_MS: 'latency_ms',
  MOCK_CHUNKS: 'chunks',
  MOCK_CHUNK_DELAY_MS: 'chunk_delay_ms',
  MOCK_FIRST_CHUNK_DELAY_MS: 'first_chunk_delay_ms',
  MOCK_EMBEDDING_DIMS: 'embedding_dims',
  MOCK_MODELS: 'models',
  MOCK_FAULT: 'fault',
  MOCK_FAULT_RATE: 'fault_rate',
  MOCK_RETRY_AFTER: 'retry_after',
  MOCK_CUT_AFTER: 'cut_after',
  MOCK_REJECT_STREAM_OPTIONS: 'reject_stream_options',
  MOCK_PROMPT_TOKENS: 'prompt_tokens',
  MOCK_COMPLETION_TOKENS: 'completion_tokens',
  MOCK_CACHED_TOKENS: 'cached_tokens',
  MOCK_REASONING_TOKENS: 'reasoning_tokens',
  MOCK_CACHE_WRITE_TOKENS: 'cache_write_tokens',
  MOCK_DEEPSEEK_USAGE: 'deepseek_usage'
}

export class MockEnvError extends Error {
  constructor (readonly variable: string, message: string) {
    super(message)
    this.name = 'MockEnvError'
  }
}

export function readMockEnv (env: NodeJS.ProcessEnv = process.env): MockEnv {
  const rawPort = env.MOCK_PORT ?? '8090'
  const port = /^\d+$/.test(rawPort) ? Number(rawPort) : NaN
  if (!(port >= 0 && port <= 65_535)) {
    throw new MockEnvError('MOCK_PORT', `MOCK_PORT must be a port number from 0 to 65535, got ${JSON.stringify(rawPort)}`)
  }
  const host = env.MOCK_HOST ?? '0.0.0.0'
  if (host === '') throw new MockEnvError('MOCK_HOST', 'MOCK_HOST must not be empty')

  const options: Partial<MockOptions> = {}
  for (const [variable, knob] of Object.entries(KNOB_VARS)) {
    const value = env[variable]
    if (value === undefined || (value === '' && knob !== 'api_key')) continue
    try {
      Object.assign(options, parseConfig({ [knob]: value }))
    } catch (err) {
      if (!(err instanceof MockConfigError)) throw err
      throw new MockEnvError(variable, `${variable}: ${err.message.replace(knob, 'value')}`)
    }
  }
  return { port, host, options }
}
