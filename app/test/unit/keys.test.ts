import t from 'tap'
import { KeyRing, generateKey, hashKey, parseKeyEntry, parseKeyList } from '../../src/lib/keys.js'

const hash = hashKey('sk-gw-example')

t.test('hashes with SHA-256 hex', async (t) => {
  t.equal(hashKey('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  t.match(generateKey(), /^sk-gw-[A-Za-z0-9_-]{32}$/)
  t.not(generateKey(), generateKey())
})

t.test('parses entries with options', async (t) => {
  t.same(parseKeyEntry(`app:${hash}`), { id: 'app', hash })
  const k = parseKeyEntry(`app:${hash.toUpperCase()} rpm=60 models=gpt-4.1|deepseek-v3.2`)
  t.equal(k.hash, hash)
  t.equal(k.rpm, 60)
  t.same([...(k.models ?? [])], ['gpt-4.1', 'deepseek-v3.2'])
})

t.test('rejects bad entries with a reason and without echoing the hash', async (t) => {
  for (const [entry, reason] of [
    ['nocolon', /id:sha256hex/],
    ['app:1234', /64-character/],
    [`bad id:${hash}`, /64-character|id/],
    [`app:${hash} rpm=0`, /rpm/],
    [`app:${hash} rpm=abc`, /rpm/],
    [`app:${hash} models=`, /models/],
    [`app:${hash} colour=red`, /unknown option/]
  ] as const) {
    let message = ''
    try { parseKeyEntry(entry) } catch (err) { message = (err as Error).message }
    t.match(message, reason, `${entry}: refused`)
    t.notMatch(message, hash, 'hash not echoed')
  }
})

t.test('lists: comma or line separated, comments, duplicates refused', async (t) => {
  const other = hashKey('other')
  t.equal(parseKeyList(`a:${hash}, b:${other}`, 'comma').length, 2)
  t.equal(parseKeyList(`# keys\na:${hash} rpm=5 # team a\n\nb:${other}\n`, 'line').length, 2)
  t.throws(() => parseKeyList(`a:${hash},a:${other}`, 'comma'), /twice/)
  t.throws(() => parseKeyList(`a:${hash},b:${hash}`, 'comma'), /same hash/)
})

t.test('the key ring authenticates only known Bearer keys', async (t) => {
  const ring = new KeyRing([parseKeyEntry(`app:${hash}`)])
  t.equal(ring.authenticate('Bearer sk-gw-example')?.id, 'app')
  t.equal(ring.authenticate('bearer sk-gw-example')?.id, 'app', 'scheme is case-insensitive')
  t.equal(ring.authenticate('Bearer sk-gw-other'), undefined)
  t.equal(ring.authenticate('Basic c2stZ3ctZXhhbXBsZQ=='), undefined)
  t.equal(ring.authenticate('sk-gw-example'), undefined)
  t.equal(ring.authenticate(undefined), undefined)
  t.equal(ring.authenticate(`Bearer ${'x'.repeat(600)}`), undefined)
})
