// The mock's `reject_stream_options` knob: an older OpenAI-compatible server that does not know the option.
import t from 'tap'
import { createMockUpstream } from '../src/mock-upstream/app.js'
import { parseConfig } from '../src/mock-upstream/config.js'
import { readMockEnv } from '../src/mock-upstream/env.js'

const chat = { model: 'gpt-4.1', stream: true, messages: [{ role: 'user', content: 'hi' }] }

t.test('400 for chat and completions carrying stream_options; everything else as usual', async (t) => {
  const mock = createMockUpstream({ reject_stream_options: true })
  const { url } = await mock.listen()
  t.teardown(() => mock.close())
  const post = async (path: string, body: unknown): Promise<Response> =>
    await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  for (const [path, body] of [['/v1/chat/completions', chat], ['/v1/completions', { model: 'gpt-4.1', stream: true, prompt: 'hi' }]] as const) {
    const refused = await post(path, { ...body, stream_options: { include_usage: true } })
    t.equal(refused.status, 400, `${path} with stream_options`)
    const err = (await refused.json() as { error: { param: string, type: string, message: string } }).error
    t.equal(err.param, 'stream_options')
    t.equal(err.type, 'invalid_request_error')
    t.match(err.message, /Unrecognized request argument/)
    const ok = await post(path, body)
    t.equal(ok.status, 200, `${path} without it`)
    t.match(await ok.text(), /data: \[DONE\]/)
  }
  const perRequest = createMockUpstream()
  const other = await perRequest.listen()
  t.teardown(() => perRequest.close())
  const res = await fetch(`${other.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ ...chat, stream_options: { include_usage: true }, mock: { reject_stream_options: true } }) })
  t.equal(res.status, 400, 'also as a per-request knob')
  await res.arrayBuffer()
})

t.test('the knob is validated, from config and from the environment', async (t) => {
  t.same(parseConfig({ rejectStreamOptions: 'true' }), { reject_stream_options: true })
  t.same(parseConfig({ reject_stream_options: false }), { reject_stream_options: false })
  t.throws(() => parseConfig({ reject_stream_options: 'yes' }), /reject_stream_options must be true or false/)
  t.equal(readMockEnv({ MOCK_REJECT_STREAM_OPTIONS: 'true' }).options.reject_stream_options, true)
  t.throws(() => readMockEnv({ MOCK_REJECT_STREAM_OPTIONS: '1' }), /MOCK_REJECT_STREAM_OPTIONS/)
})
