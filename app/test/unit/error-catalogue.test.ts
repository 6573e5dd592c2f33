// The error catalogue is one list in three places: ERRORS in src/errors.ts, the README's error table
// and the nginx edge's JSON error pages. A code added, removed or changed in one place only fails here.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { ERRORS, type ErrorCode } from '../../src/errors.js'

const root = new URL('../../../', import.meta.url)
const readme = readFileSync(new URL('README.md', root), 'utf8')
const nginxErrors = readFileSync(new URL('nginx/templates/snippets/json-errors.conf.template', root), 'utf8')

type Entry = [code: string, status: number]
const sorted = (entries: Entry[]): string[] => entries.map(([code, status]) => `${status} ${code}`).sort()

/** The README's error table: `| status | `code`, `code` | when |` rows, between its header and the first non-row line. */
function readmeTable (): Entry[] {
  const start = readme.indexOf('| status | code | when |')
  if (start < 0) throw new Error('README has no "| status | code | when |" table')
  const rows: Entry[] = []
  for (const line of readme.slice(start).split('\n').slice(2)) {
    const row = /^\s*\|\s*(\d{3})\s*\|([^|]*)\|/.exec(line)
    if (row === null) break
    for (const m of (row[2] as string).matchAll(/`([a-z_]+)`/g)) rows.push([m[1] as string, Number(row[1])])
  }
  return rows
}

/** The bodies nginx returns itself: `return <status> '{"error":{…}}'`. */
function nginxBodies (): Array<{ status: number, type: string, code: string }> {
  return [...nginxErrors.matchAll(/return (\d{3}) '(\{.*\})\\n';/g)].map((m) => {
    const body = JSON.parse(m[2] as string) as { error: { type: string, code: string } }
    return { status: Number(m[1]), type: body.error.type, code: body.error.code }
  })
}

const catalogue = Object.entries(ERRORS) as Array<[ErrorCode, (typeof ERRORS)[ErrorCode]]>

t.test('the README error table lists exactly the catalogue, with the same statuses', async (t) => {
  const documented = readmeTable()
  t.ok(documented.length > 0, 'the table was found and read')
  t.same(sorted(documented), sorted(catalogue.map(([code, spec]) => [code, spec.status])))
})

t.test('every error page of the nginx edge is in the catalogue with the same status and type', async (t) => {
  const pages = nginxBodies()
  t.ok(pages.length >= 19, `nginx answers every status it can raise (${pages.length} pages)`)
  for (const page of pages) {
    const spec = (ERRORS as Record<string, { status: number, type: string } | undefined>)[page.code]
    t.ok(spec !== undefined, `${page.code} is in ERRORS`)
    t.equal(spec?.status, page.status, `${page.code}: status`)
    t.equal(spec?.type, page.type, `${page.code}: type`)
  }
})

t.test('every edge-only code is one nginx actually answers', async (t) => {
  const edgeCodes = new Set(nginxBodies().map((p) => p.code))
  const edgeOnly = catalogue.filter(([, spec]) => 'edgeOnly' in spec).map(([code]) => code)
  t.ok(edgeOnly.length > 0)
  for (const code of edgeOnly) t.ok(edgeCodes.has(code), `${code} has an nginx error page`)
})

t.test('the insufficient_quota default message names the key\'s own budget', async (t) => {
  t.match(ERRORS.insufficient_quota.message, /budget/)
  t.notMatch(ERRORS.insufficient_quota.message, /upstream/i)
})
