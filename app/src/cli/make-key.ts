// `make key [ID=name]`: prints a new gateway key and the GATEWAY_KEYS entry that holds only its hash.
import { generateKey, hashKey } from '../lib/keys.js'

const id = process.argv[2] !== undefined && process.argv[2] !== '' ? process.argv[2] : `key-${Date.now().toString(36)}`
if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(id)) {
  process.stderr.write('key id must be 1-64 characters of letters, digits, _ . -\n')
  process.exit(2)
}
const key = generateKey()
process.stdout.write([
  `New gateway key for "${id}" (shown once; give it to the client):`,
  '',
  `  ${key}`,
  '',
  'Add this entry to GATEWAY_KEYS in .env (comma-separated), or as a line of GATEWAY_KEYS_FILE:',
  '',
  `  ${id}:${hashKey(key)}`,
  '',
  'Options after the entry, separated by spaces: rpm=<requests/min> tpm=<tokens/min> budget=<USD/day> models=<model>|<model>',
  ''
].join('\n'))
