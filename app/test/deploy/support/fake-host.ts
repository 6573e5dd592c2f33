// A throwaway copy of the repository's deployment files and a fake `docker` first on PATH that
// records every call (arguments, and stdin for `exec`), for walking the real shell scripts the
// way a user on a VPS runs them.
import { spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { repoDir } from '../../support/procs.js'

const FAKE_DOCKER = `#!/bin/sh
# Fake docker: records its arguments; answers the few questions the scripts ask.
printf '%s\\n' "$*" >> "$FAKE_DOCKER_LOG"
case "$*" in
    "compose version"*) echo "Docker Compose version v2.29.7" ;;
    "compose ps"*) [ ! -f "$FAKE_DOCKER_RUNNING" ] || cat "$FAKE_DOCKER_RUNNING" ;;
    "image inspect"*) [ ! -f "$FAKE_DOCKER_NO_IMAGE" ] || exit 1 ;;
    "compose exec"*) cat > "$FAKE_DOCKER_STDIN" ;;
    "run "*make-key.js*) echo "New gateway key (from the image)" ;;
esac
[ ! -f "$FAKE_DOCKER_FAIL" ] || exit 1
exit 0
`

export interface FakeHost {
  dir: string
  bin: string
  /** Runs a repository script with sh, the fake docker first on PATH. */
  run: (script: string, args?: string[], extraEnv?: Record<string, string>) => { status: number | null, out: string, err: string, calls: string[] }
  env: () => string
  value: (name: string) => string | undefined
  setValue: (name: string, value: string) => void
  /** Every docker call so far, one line each. */
  calls: () => string[]
  running: (services: string[]) => void
  stdin: () => string
  flag: (name: 'no-image' | 'fail', on: boolean) => void
}

/** Copies `files` (repository-relative) into `dir` and puts the fake docker in `dir`/.fakebin. */
export function fakeHost (dir: string, files: string[], pathDirs = `${process.env.PATH ?? '/usr/bin:/bin'}:/usr/sbin:/sbin`): FakeHost {
  for (const f of files) {
    mkdirSync(dirname(join(dir, f)), { recursive: true })
    copyFileSync(join(repoDir, f), join(dir, f))
  }
  const bin = join(dir, '.fakebin')
  mkdirSync(bin, { recursive: true })
  writeFileSync(join(bin, 'docker'), FAKE_DOCKER)
  chmodSync(join(bin, 'docker'), 0o755)
  const log = join(dir, '.docker-calls')
  writeFileSync(log, '')
  const envFile = join(dir, '.env')
  const read = (): string => existsSync(envFile) ? readFileSync(envFile, 'utf8') : ''
  const calls = (): string[] => readFileSync(log, 'utf8').split('\n').filter((l) => l !== '')
  return {
    dir,
    bin,
    run: (script, args = [], extraEnv = {}) => {
      const before = calls().length
      const r = spawnSync('sh', [join(dir, script), ...args], {
        cwd: dir,
        env: {
          PATH: `${bin}:${pathDirs}`,
          HOME: dir,
          CERTS_OWNER: '',
          FAKE_DOCKER_LOG: log,
          FAKE_DOCKER_RUNNING: join(dir, '.docker-running'),
          FAKE_DOCKER_STDIN: join(dir, '.docker-stdin'),
          FAKE_DOCKER_NO_IMAGE: join(dir, '.docker-no-image'),
          FAKE_DOCKER_FAIL: join(dir, '.docker-fail'),
          ...extraEnv
        },
        encoding: 'utf8'
      })
      return { status: r.status, out: r.stdout, err: r.stderr, calls: calls().slice(before) }
    },
    env: read,
    value: (name) => [...read().matchAll(new RegExp(`^${name}=(.*)$`, 'gm'))].pop()?.[1],
    setValue: (name, value) => {
      const text = read()
      const re = new RegExp(`^${name}=.*$`, 'm')
      writeFileSync(envFile, re.test(text) ? text.replace(re, `${name}=${value}`) : `${text}${name}=${value}\n`)
    },
    calls,
    running: (services) => { writeFileSync(join(dir, '.docker-running'), services.map((s) => `${s}\n`).join('')) },
    stdin: () => existsSync(join(dir, '.docker-stdin')) ? readFileSync(join(dir, '.docker-stdin'), 'utf8') : '',
    flag: (name, on) => {
      const path = join(dir, `.docker-${name}`)
      if (on) writeFileSync(path, '')
      else spawnSync('rm', ['-f', path])
    }
  }
}
