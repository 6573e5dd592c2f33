#!/bin/sh
# `make key [ID=name]`: prints a new gateway key and the GATEWAY_KEYS entry holding its hash.
# With Node on the host it runs the key tool from app/ (building it first); on a Docker-only
# host it runs the same tool inside the gateway image (built from app/ when missing), with no
# network and a read-only filesystem.
set -eu
repo_dir=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo_dir"
id=${1:-}

if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    [ -d app/node_modules ] || (cd app && npm ci --no-audit --no-fund >/dev/null)
    [ -f app/dist/cli/make-key.js ] || (cd app && npm run --silent build)
    exec node app/dist/cli/make-key.js "$@"
fi

command -v docker >/dev/null 2>&1 || { echo "key.sh: needs Node (20.18+) or Docker" >&2; exit 1; }
image=''
[ ! -f .env ] || image=$(sed -n 's/^GATEWAY_IMAGE=//p' .env | tail -n 1)
image=${image:-llm-relay-gateway:local}
if ! docker image inspect "$image" >/dev/null 2>&1; then
    echo "key.sh: no Node on this host; building the gateway image $image to run the key tool" >&2
    docker build -q -t "$image" app >/dev/null
fi
exec docker run --rm --network none --read-only --cap-drop ALL --security-opt no-new-privileges:true \
    "$image" node dist/cli/make-key.js "$@"
