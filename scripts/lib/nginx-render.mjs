// @ts-check
// Renders nginx/templates the way the official nginx image does, for the native stack: the
// list-shaped values come from nginx/entrypoint/15-llm-gateway.envsh (run with sh, exactly as the
// image's entrypoint sources it), then every ${NGINX_*} placeholder is replaced. nginx's own
// lower-case $variables are left alone, like envsubst with NGINX_ENVSUBST_FILTER=^NGINX_.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'

const PLACEHOLDER = /\$\{(NGINX_[A-Z0-9_]+)\}/g
const DERIVED = ['NGINX_UPSTREAM_SERVERS', 'NGINX_CORS_ORIGIN_MAP', 'NGINX_HTTPS_PORT_SUFFIX', 'NGINX_LISTEN_HTTP2', 'NGINX_HTTP2']

/**
 * Runs the entrypoint helper with `env` and returns the variables it derives.
 * @param {string} envshPath
 * @param {Record<string, string>} env
 * @returns {Record<string, string>}
 */
export function deriveNginxEnv (envshPath, env) {
  const script = 'set -e; . "$0"; ' + DERIVED.map((name) => `printf '%s\\0' "$${name}"`).join('; ')
  let out
  try {
    out = execFileSync('sh', ['-c', script, envshPath], {
      // The helper asks `nginx -v` which HTTP/2 syntax to render; Debian keeps nginx in /usr/sbin.
      env: { PATH: `${process.env.PATH ?? '/usr/bin:/bin'}:/usr/sbin:/sbin`, ...env },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe']
    })
  } catch (err) {
    const e = /** @type {Error & { stderr?: string }} */ (err)
    throw new Error(`${envshPath} rejected the settings: ${String(e.stderr ?? e.message).trim()}`)
  }
  const values = out.split('\0')
  return Object.fromEntries(DERIVED.map((name, i) => [name, values[i] ?? '']))
}

/**
 * @param {string} dir
 * @returns {string[]}
 */
function templateFiles (dir) {
  /** @type {string[]} */
  const files = []
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) files.push(...templateFiles(path))
    else if (name.endsWith('.template')) files.push(path)
  }
  return files
}

/**
 * Replaces ${NGINX_*} placeholders; a placeholder with no value is an error, not an empty string.
 * @param {string} text
 * @param {Record<string, string | undefined>} env
 */
export function substitute (text, env, where = 'template') {
  return text.replace(PLACEHOLDER, (_, /** @type {string} */ name) => {
    const value = env[name]
    if (value === undefined) throw new Error(`${where}: ${name} is not set`)
    return value
  })
}

/**
 * Renders every `*.template` under `templatesDir` into `outDir` (same relative paths, suffix
 * dropped). Returns the rendered files' paths and the full variable set used.
 * @param {{ templatesDir: string, envshPath: string, outDir: string, env: Record<string, string> }} opts
 * @returns {{ files: string[], env: Record<string, string> }}
 */
export function renderNginxTemplates ({ templatesDir, envshPath, outDir, env }) {
  const full = { ...env, ...deriveNginxEnv(envshPath, env) }
  /** @type {string[]} */
  const written = []
  for (const file of templateFiles(templatesDir)) {
    const rel = relative(templatesDir, file).replace(/\.template$/, '')
    const target = join(outDir, rel)
    mkdirSync(dirname(target), { recursive: true })
    writeFileSync(target, substitute(readFileSync(file, 'utf8'), full, rel))
    written.push(target)
  }
  return { files: written, env: full }
}
