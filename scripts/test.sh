#!/usr/bin/env bash
# `make test`: typecheck, lint, then every tap test: unit, integration, and the native stack (nginx, Redis,
# Prometheus from the system packages). Ends with one "N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"

missing=()
for bin in nginx redis-server prometheus promtool openssl; do
  command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "make test needs: ${missing[*]}" >&2
  echo "install them with: apt-get install -y --no-install-recommends nginx redis-server prometheus openssl" >&2
  exit 2
fi

cd app
# app/, then the JavaScript of scripts/ and bench/ (checkJs, with the app's compiler and linter).
echo "== typecheck"; npm run --silent typecheck && npx tsc -p ../scripts/tsconfig.json && npx tsc -p ../bench/tsconfig.json || exit 1
echo "== lint"; npm run --silent lint && (cd ../scripts && ../app/node_modules/.bin/eslint --max-warnings 0 .) && (cd ../bench && ../app/node_modules/.bin/eslint --max-warnings 0 .) || exit 1

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# Unit and integration tests in parallel; the stack-level tests one at a time (each runs a whole stack).
echo "== unit + integration"
npx tap --jobs=2 test/unit test/integration test/resilience test/limits test/surfaces/*.test.ts test/mock-upstream/*.test.ts test/governance/*.test.ts test/perf/*.test.ts test/*.test.ts 2>&1 | tee -a "$log" || status=1
echo "== stack"
npx tap --jobs=1 test/stack test/observability test/deploy 2>&1 | tee -a "$log" || status=1

# The container image runs Node 24: with TEST_NODE24=1 (CI sets it) the in-process suites run on it too.
if [ "${TEST_NODE24:-0}" = "1" ]; then
  node24=$(npm exec --yes --package=node@24 -- node -e 'console.log(process.execPath)' 2>/dev/null | tail -n 1)
  if [ -x "$node24" ]; then
    echo "== unit + integration on $("$node24" --version)"
    "$node24" node_modules/.bin/tap --jobs=2 test/unit test/integration test/resilience test/limits test/surfaces/*.test.ts test/mock-upstream/*.test.ts test/governance/*.test.ts test/perf/*.test.ts test/*.test.ts 2>&1 | tee -a "$log" || status=1
  else
    echo "could not install node@24 from the npm registry" >&2
    status=1
  fi
fi

passed=0; failed=0
while read -r line; do
  p=$(sed -nE 's/.*pass: ([0-9]+).*/\1/p' <<<"$line"); f=$(sed -nE 's/.*fail: ([0-9]+).*/\1/p' <<<"$line")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
done < <(grep -E '^# \{ total: [0-9]+' "$log")
echo
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ] || status=1
exit $status
