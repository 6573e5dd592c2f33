#!/bin/sh
# `make up`: starts the compose stack, preparing what a first run needs.
#   - .env from .env.example when missing, with a generated Grafana admin password, Redis
#     password and gateway key (the key is printed once: only its hash is stored);
#   - without UPSTREAM_API_KEY, the gateways are pointed at the bundled mock upstream;
#   - a private CA and server certificate in certs/ when the default certificate paths are used;
#   - `docker compose up -d --build --wait`, then the URLs.
# `scripts/up.sh --prepare-only` does everything except starting containers.
set -eu

repo_dir=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo_dir"
env_file=.env
mock_url=http://mock-upstream:8090/v1

prepare_only=no
case "${1:-}" in
    --prepare-only) prepare_only=yes ;;
    '') ;;
    *) echo "usage: scripts/up.sh [--prepare-only]" >&2; exit 2 ;;
esac

command -v openssl >/dev/null || { echo "up.sh: openssl is required (apt-get install openssl)" >&2; exit 1; }

# Value of VAR in .env (last assignment wins, like compose).
env_get () {
    sed -n "s/^$1=//p" "$env_file" | tail -n 1
}

# Sets VAR=VALUE in .env, replacing an existing assignment or appending one.
env_set () {
    tmp=$(mktemp "$env_file.XXXXXX")
    awk -v k="$1" -v v="$2" '
        BEGIN { done = 0 }
        index($0, k "=") == 1 { if (!done) { print k "=" v; done = 1 } ; next }
        { print }
        END { if (!done) print k "=" v }
    ' "$env_file" > "$tmp"
    chmod 600 "$tmp"
    mv "$tmp" "$env_file"
}

random_hex () {
    openssl rand -hex "$1"
}

banner () {
    echo
    echo "################################################################################"
    for line in "$@"; do echo "##  $line"; done
    echo "################################################################################"
    echo
}

if [ ! -f "$env_file" ]; then
    (umask 077 && cp .env.example "$env_file")
    echo "up.sh: created .env from .env.example"
fi

# Secrets that must never be empty: generated once, kept afterwards.
if [ -z "$(env_get GRAFANA_ADMIN_PASSWORD)" ]; then
    env_set GRAFANA_ADMIN_PASSWORD "$(random_hex 16)"
    echo "up.sh: generated GRAFANA_ADMIN_PASSWORD in .env (Grafana user: admin)"
fi
if [ -z "$(env_get REDIS_PASSWORD)" ]; then
    env_set REDIS_PASSWORD "$(random_hex 24)"
    echo "up.sh: generated REDIS_PASSWORD in .env"
fi
if [ -z "$(env_get GATEWAY_KEYS)" ]; then
    # Same shape as `make key`: sk-gw- and 24 random bytes in base64url; only the hash is stored.
    key="sk-gw-$(openssl rand -base64 24 | tr '+/' '-_' | tr -d '=\n')"
    hash=$(printf '%s' "$key" | openssl dgst -sha256 -r | cut -d' ' -f1)
    env_set GATEWAY_KEYS "default:$hash"
    banner "A gateway key was generated (id: default). It is shown only this once:" \
        "" "    $key" "" \
        "Only its SHA-256 hash is kept (GATEWAY_KEYS in .env). More keys: make key ID=name"
fi

upstream_key=$(env_get UPSTREAM_API_KEY)
upstream_url=$(env_get UPSTREAM_BASE_URL)
profiles=$(env_get COMPOSE_PROFILES)
if [ -z "$upstream_key" ]; then
    env_set UPSTREAM_BASE_URL "$mock_url"
    case ",$profiles," in
        *,mock,*) ;;
        ,,) env_set COMPOSE_PROFILES mock ;;
        *) env_set COMPOSE_PROFILES "$profiles,mock" ;;
    esac
    banner "NO UPSTREAM_API_KEY IN .env: THE GATEWAYS USE THE BUNDLED MOCK UPSTREAM." \
        "Answers are canned test data from $mock_url, not a real model." \
        "For real models: set UPSTREAM_API_KEY and UPSTREAM_BASE_URL (e.g." \
        "https://api.holysheep.ai/v1) in .env, remove mock from COMPOSE_PROFILES," \
        "then run make up again."
elif [ "$upstream_url" = "$mock_url" ]; then
    banner "UPSTREAM_API_KEY is set, but UPSTREAM_BASE_URL still points at the bundled mock." \
        "Set UPSTREAM_BASE_URL to your relay (e.g. https://api.holysheep.ai/v1) and" \
        "remove mock from COMPOSE_PROFILES in .env, then run make up again."
fi

# The private CA and server certificate, unless .env points at other certificate files.
cert=$(env_get TLS_CERTIFICATE)
if [ -z "$cert" ] || [ "$cert" = /etc/nginx/certs/server.crt ]; then
    SERVER_NAME=$(env_get SERVER_NAME) "$repo_dir/scripts/certs.sh"
fi

server_name=$(env_get SERVER_NAME)
server_name=${server_name:-localhost}
https_port=$(env_get HTTPS_PORT)
case "${https_port:-443}" in 443) base="https://$server_name" ;; *) base="https://$server_name:$https_port" ;; esac
grafana_port=$(env_get GRAFANA_PORT)

if [ "$prepare_only" = yes ]; then
    echo "up.sh: .env and certs/ are ready (not starting containers: --prepare-only)"
    exit 0
fi

docker compose version >/dev/null 2>&1 || { echo "up.sh: needs Docker with the compose plugin (docker compose)" >&2; exit 1; }
docker compose up -d --build --wait --wait-timeout 180

cat <<EOF

The stack is up.
  API (OpenAI-compatible)  $base/v1
  Grafana                  http://127.0.0.1:${grafana_port:-3000}  (admin / GRAFANA_ADMIN_PASSWORD in .env;
                           from elsewhere: ssh -L ${grafana_port:-3000}:127.0.0.1:${grafana_port:-3000} this-host)
  Status                   make ps    Logs: make logs    Stop: make down

Try it (the private CA is certs/ca.crt until you run make certs-letsencrypt):
  curl --cacert certs/ca.crt $base/v1/chat/completions \\
    -H "Authorization: Bearer \$GATEWAY_KEY" -H 'Content-Type: application/json' \\
    -d '{"model":"gpt-4.1","messages":[{"role":"user","content":"Hello"}]}'
EOF
