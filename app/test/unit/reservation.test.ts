// Reservations: what a request holds against its key's limits before the upstream answers, and the
// in-memory store's admit / settle rules (the Redis script follows the same ones; see test/governance).
import t from 'tap'
import { MemoryBudgetStore } from '../../src/lib/budget-store.js'
import { outputReserve, promptReserve, reserveAmount } from '../../src/lib/reservation.js'

const chat = { model: 'gpt-4.1', messages: [{ role: 'user', content: 'hello there gateway' }] }

t.test('the prompt is reserved at one token per 3 bytes, never below the words', async (t) => {
  t.equal(promptReserve(chat), 7)
  t.equal(promptReserve(undefined), 0)
  t.equal(promptReserve({ input: '你好世界' }), 4, 'CJK: a token a character')
})

t.test('the output: the request\'s own maximum, times n, or the fallback', async (t) => {
  t.equal(outputReserve('chat', { max_tokens: 20 }, 1024), 20)
  t.equal(outputReserve('chat', { max_completion_tokens: 30, max_tokens: 20 }, 1024), 30)
  t.equal(outputReserve('responses', { max_output_tokens: 40 }, 1024), 40)
  t.equal(outputReserve('chat', { max_tokens: 10, n: 3 }, 1024), 30)
  t.equal(outputReserve('chat', {}, 1024), 1024)
  t.equal(outputReserve('embeddings', { max_tokens: 10 }, 1024), 0, 'no generated text')
  t.equal(outputReserve('none', {}, 1024), 0)
})

t.test('spend is priced like the bill', async (t) => {
  const price = { inputPer1M: 2, outputPer1M: 8, cachedInputPer1M: 0.5, cacheWritePer1M: 2 }
  t.same(reserveAmount('chat', { ...chat, max_tokens: 20 }, price, 1024), { tokens: 27, microUsd: 174 })
  t.same(reserveAmount('chat', chat, undefined, 0), { tokens: 7, microUsd: 0 })
})

t.test('admitted while below the limit, reservations included; settle replaces, refund gives back', async (t) => {
  const store = new MemoryBudgetStore()
  const limits = { tpm: 50, microUsdPerDay: 0 }
  const now = Date.UTC(2026, 0, 1, 0, 0, 10)
  const a = await store.reserve('k', 27, 0, limits, now)
  const b = await store.reserve('k', 27, 0, limits, now)
  const c = await store.reserve('k', 27, 0, limits, now)
  t.ok(a.admitted && b.admitted)
  t.match(c, { admitted: false, scope: 'tokens', use: { tokens: 54 } }, 'the third waits: 54 reserved ≥ 50')
  if (!a.admitted || !b.admitted) return
  await store.settle(a.reservation, 23, 0)
  await store.settle(b.reservation, 0, 0)
  const d = await store.reserve('k', 0, 0, limits, now)
  t.match(d, { admitted: true, use: { tokens: 23 } }, 'settled to 23 used, the refund is back')
  const spend = await store.reserve('k', 0, 100, { tpm: 0, microUsdPerDay: 100 }, now)
  t.ok(spend.admitted)
  t.match(await store.reserve('k', 0, 1, { tpm: 0, microUsdPerDay: 100 }, now), { admitted: false, scope: 'budget' })
})
