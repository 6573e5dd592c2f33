#!/usr/bin/env bash
# Loopback benchmarks (`make bench`): installs the bench's own dependencies when missing, then
# runs bench/run.mjs. Extra arguments go to the driver, e.g. `scripts/bench.sh --quick`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [[ ! -f app/dist/server.js || ! -f app/dist/mock-upstream/server.js ]]; then
  echo "bench: app/dist is missing; run 'make build' first" >&2
  exit 1
fi
for bin in nginx redis-server; do
  command -v "$bin" >/dev/null || { echo "bench: $bin is required (Debian: apt-get install nginx redis-server)" >&2; exit 1; }
done
command -v wrk >/dev/null || echo "bench: wrk not found; the closed-loop sweep uses an undici client instead (apt-get install wrk for the reference setup)" >&2
command -v taskset >/dev/null || echo "bench: taskset not found; nothing is pinned and figures are not per core (apt-get install util-linux)" >&2

# The bench has its own node_modules. --ignore-scripts: the only install script in the tree is
# Portkey's `patch-package` postinstall, which has no patches to apply in the published package.
if [[ ! -f bench/node_modules/.package-lock.json || bench/package-lock.json -nt bench/node_modules/.package-lock.json ]]; then
  npm ci --prefix bench --ignore-scripts --no-audit --no-fund
fi

# 5,000 sustained streams need ~3 descriptors each across client, gateway and mock
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

node bench/run.mjs "$@"
if [[ " $* " == *" --quick "* ]]; then
  echo "bench: smoke-run results in bench/tmp/quick-results/ (bench/results/ keeps the last full run)"
else
  echo "bench: results in bench/results/latest.md, latest.json, latency.svg and a dated JSON"
fi
