// A stored answer: its encoding round-trips bytes exactly, and the recorder keeps only whole 2xx answers under its cap.
import t from 'tap'
import { AnswerRecorder, decodeAnswer, encodeAnswer } from '../../src/relay/stored-answer.js'

t.test('encode / decode keep the body bytes and the metadata', async (t) => {
  const body = Buffer.from('data: {"x":"\n\u00e9"}\n\ndata: [DONE]\n\n')
  const answer = { status: 200, headers: { 'content-type': 'text/event-stream' }, body, stream: true, usage: undefined, costUsd: 0.5, storedAt: 1 }
  const back = decodeAnswer(encodeAnswer(answer))
  t.ok(back !== undefined)
  t.ok(back?.body.equals(body))
  t.same([back?.status, back?.headers, back?.stream, back?.usage, back?.costUsd, back?.storedAt], [200, { 'content-type': 'text/event-stream' }, true, undefined, 0.5, 1])
  t.equal(decodeAnswer(Buffer.from('not json\nbody')), undefined)
  t.equal(decodeAnswer(Buffer.from('no newline')), undefined)
})

t.test('the recorder keeps a whole 2xx answer, never a cut one, an error or one over its cap', async (t) => {
  const whole = new AnswerRecorder(100)
  whole.head(200, { 'content-type': 'application/json' }, false)
  whole.bytes(Buffer.from('{"a":'))
  whole.bytes(Buffer.from('1}'))
  whole.end(true)
  t.equal(whole.answer(undefined, undefined)?.body.toString(), '{"a":1}')

  const cut = new AnswerRecorder(100)
  cut.head(200, {}, true)
  cut.bytes(Buffer.from('data: x\n\n'))
  cut.end(false)
  t.equal(cut.answer(undefined, undefined), undefined)

  const error = new AnswerRecorder(100)
  error.head(500, {}, false)
  error.bytes(Buffer.from('{}'))
  error.end(true)
  t.equal(error.answer(undefined, undefined), undefined)

  const big = new AnswerRecorder(4)
  big.head(200, {}, false)
  big.bytes(Buffer.from('12345'))
  big.end(true)
  t.equal(big.answer(undefined, undefined), undefined)
  t.ok(big.overflow)
})
