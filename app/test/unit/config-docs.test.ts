// The declared variables (src/config-vars.ts) against their documentation: .env.example documents
// each with its default and nothing that nothing reads, the README's configuration table lists
// exactly them, and docker-compose.yml passes each to the gateways.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { CONFIG_VARS, defaultText, type VarSpec } from '../../src/config-vars.js'
import { appDir, repoDir } from '../support/procs.js'

const read = (file: string): string => readFileSync(join(repoDir, file), 'utf8')
const envExample = read('.env.example')
const readme = read('README.md')
const declared = Object.entries(CONFIG_VARS) as Array<[string, VarSpec]>
const names = new Set(declared.map(([name]) => name))

/** Each `NAME=value` or `# NAME=value` line of .env.example, with the comment lines above it. */
function envExampleLines (): Map<string, Array<{ commented: boolean, value: string, comment: string }>> {
  const found = new Map<string, Array<{ commented: boolean, value: string, comment: string }>>()
  let comment: string[] = []
  for (const line of envExample.split('\n')) {
    const m = /^(# )?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line)
    if (m === null) {
      comment = line.startsWith('#') ? [...comment, line] : []
      continue
    }
    const name = m[2] as string
    found.set(name, [...(found.get(name) ?? []), { commented: m[1] !== undefined, value: m[3] as string, comment: comment.join('\n') }])
  }
  return found
}

t.test('.env.example documents every declared variable once, with its default', async (t) => {
  const lines = envExampleLines()
  for (const [name, spec] of declared) {
    const entries = lines.get(name) ?? []
    t.equal(entries.length, 1, `${name} is in .env.example once`)
    const entry = entries[0]
    if (entry === undefined) continue
    const def = defaultText(spec)
    if (entry.commented || entry.value === def) {
      // "Commented-out lines show the built-in default."
      t.equal(entry.value, def, `# ${name}= shows its default`)
    } else {
      t.match(entry.comment, new RegExp(`default ${def.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`), `${name}=${entry.value} is set, and its comment gives the default (${def})`)
    }
  }
})

t.test('.env.example documents nothing that nothing reads', async (t) => {
  // What is not the gateway's is read by compose (${NAME}), `make up`, or the mock upstream.
  const readers = ['docker-compose.yml', 'docker-compose.mock.yml', 'scripts/up.sh'].map(read).join('\n') +
    readFileSync(join(appDir, 'src', 'mock-upstream', 'env.ts'), 'utf8')
  const documented = [...envExampleLines().keys()]
  t.ok(documented.length > names.size, 'read the documented names')
  for (const name of documented) {
    if (names.has(name)) continue
    t.match(readers, new RegExp(`\\b${name}\\b`), `${name} is read by the stack, make up or the mock`)
  }
})

/** The README row of one variable, as the declaration renders it. */
function readmeRow (name: string, spec: VarSpec): string {
  const def = defaultText(spec)
  const range = spec.type === 'int' ? `${spec.min}–${spec.max}`
    : spec.type === 'number' ? `≥ ${spec.min}`
      : spec.type === 'bool' ? 'true, false'
        : spec.type === 'enum' ? spec.values.join(', ')
          : ''
  return `| \`${name}\` | ${def === '' ? '' : `\`${def}\``} | ${range} | ${spec.doc} |`
}

t.test('the README configuration table lists exactly the declared variables, as declared', async (t) => {
  const start = readme.indexOf('| variable | default | values | meaning |')
  t.ok(start >= 0, 'README has the "| variable | default | values | meaning |" table')
  const rows = readme.slice(start).split('\n').slice(2)
  const table = rows.slice(0, rows.findIndex((r) => !r.startsWith('|')))
  t.same(table, declared.map(([name, spec]) => readmeRow(name, spec)), 'one row a variable, in declaration order')
})

t.test('docker-compose.yml passes every declared variable to the gateways, and nothing else', async (t) => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, { environment?: Record<string, unknown> }> }
  const passed = Object.keys(compose.services.gateway?.environment ?? {})
  t.same(passed.filter((n) => !names.has(n)), [], 'every variable compose passes is declared')
  t.same([...names].filter((n) => !passed.includes(n)), [], 'every declared variable is passed')
})
