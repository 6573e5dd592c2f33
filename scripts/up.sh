#!/bin/sh
# `make up`: starts the compose stack, preparing what a first run needs.
#   - .env from .env.example when missing, with a generated Grafana admin password, Redis
#     password and gateway key (the key is printed once: only its hash is stored);
#   - UPSTREAM in .env says which upstream the gateways call: `relay` (UPSTREAM_BASE_URL, with
#     UPSTREAM_API_KEY) or `mock` (the bundled mock upstream). When it is empty, this first run
#     writes `mock` if no UPSTREAM_API_KEY is set, `relay` otherwise; after that only the user
#     changes it. UPSTREAM_BASE_URL and UPSTREAM_API_KEY are never rewritten. COMPOSE_FILE is
#     kept in step: docker-compose.mock.yml is in it exactly when UPSTREAM=mock;
#   - a private CA and server certificate in certs/ when the default certificate paths are used;
#   - the host ports (HTTP_PORT, HTTPS_PORT, GRAFANA_PORT) are checked before anything starts;
#   - `docker compose up -d --build --wait --remove-orphans` (leaving mock mode removes the mock
#     container), then which upstream is live and the URLs.
# `scripts/up.sh --prepare-only` does everything except checking ports and starting containers.
set -eu

repo_dir=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo_dir"
env_file=.env
mock_file=docker-compose.mock.yml
# What earlier versions of this script wrote into UPSTREAM_BASE_URL for the mock.
legacy_mock_url=http://mock-upstream:8090/v1

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

# ---- which upstream ----------------------------------------------------------------------------
upstream=$(env_get UPSTREAM)
upstream_key=$(env_get UPSTREAM_API_KEY)
upstream_url=$(env_get UPSTREAM_BASE_URL)
profiles=$(env_get COMPOSE_PROFILES)
if [ -z "$upstream" ]; then
    # Decided once. A .env from before UPSTREAM existed ran the mock through its URL and profile.
    if [ -z "$upstream_key" ] || [ "$upstream_url" = "$legacy_mock_url" ]; then upstream=mock; else upstream=relay; fi
    env_set UPSTREAM "$upstream"
    echo "up.sh: wrote UPSTREAM=$upstream to .env$( [ "$upstream" = mock ] && echo ' (no UPSTREAM_API_KEY yet)')"
fi
case $upstream in
    mock|relay) ;;
    *) echo "up.sh: UPSTREAM in .env must be mock or relay, got '$upstream'" >&2; exit 2 ;;
esac
if [ "$upstream" = relay ] && [ "$upstream_url" = "$legacy_mock_url" ]; then
    echo "up.sh: UPSTREAM=relay, but UPSTREAM_BASE_URL still points at the bundled mock ($legacy_mock_url)." >&2
    echo "  Set UPSTREAM_BASE_URL in .env to your relay (e.g. https://api.holysheep.ai/v1), then run make up again." >&2
    exit 2
fi
# The mock no longer runs through a profile.
case ",$profiles," in
    *,mock,*) env_set COMPOSE_PROFILES "$(printf '%s' "$profiles" | tr ',' '\n' | grep -vx mock | paste -sd, -)" ;;
esac

# COMPOSE_FILE: the user's own list (docker-compose.yml, plus docker-compose.override.yml when it
# exists, by default) with the mock file added or removed.
files=$(env_get COMPOSE_FILE)
if [ -z "$files" ]; then
    files=docker-compose.yml
    [ ! -f docker-compose.override.yml ] || files="$files:docker-compose.override.yml"
fi
files=$(printf '%s' "$files" | tr ':' '\n' | grep -vx "$mock_file" | paste -sd: -)
[ "$upstream" = relay ] || files="$files:$mock_file"
[ "$files" = "$(env_get COMPOSE_FILE)" ] || env_set COMPOSE_FILE "$files"

# The private CA and server certificate, unless .env points at other certificate files.
cert=$(env_get TLS_CERTIFICATE)
if [ -z "$cert" ] || [ "$cert" = /etc/nginx/certs/server.crt ]; then
    SERVER_NAME=$(env_get SERVER_NAME) "$repo_dir/scripts/certs.sh"
fi

server_name=$(env_get SERVER_NAME)
server_name=${server_name:-localhost}
http_port=$(env_get HTTP_PORT)
http_port=${http_port:-80}
https_port=$(env_get HTTPS_PORT)
https_port=${https_port:-443}
grafana_port=$(env_get GRAFANA_PORT)
grafana_port=${grafana_port:-3000}
case $https_port in 443) base="https://$server_name" ;; *) base="https://$server_name:$https_port" ;; esac

if [ "$upstream" = mock ]; then
    upstream_line="upstream: MOCK (canned answers from the bundled mock upstream; UPSTREAM=mock in .env)"
else
    upstream_line="upstream: relay ${upstream_url:-https://api.holysheep.ai/v1} (UPSTREAM=relay in .env)"
fi

if [ "$prepare_only" = yes ]; then
    echo "up.sh: .env and certs/ are ready (not starting containers: --prepare-only)"
    echo "$upstream_line"
    exit 0
fi

docker compose version >/dev/null 2>&1 || { echo "up.sh: needs Docker with the compose plugin (docker compose)" >&2; exit 1; }

# A port another program holds would leave a half-started stack behind: check them all first.
# Ports this stack's own running containers publish are fine (this run only updates them).
if command -v ss >/dev/null 2>&1; then
    running=" $(docker compose ps --status running --services 2>/dev/null | tr '\n' ' ') "
    check=''
    case $running in *" nginx "*) ;; *) check="$http_port $https_port" ;; esac
    case $running in *" grafana "*) ;; *) check="$check $grafana_port" ;; esac
    taken=''
    for port in $check; do
        if [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]; then taken="$taken $port"; fi
    done
    if [ -n "$taken" ]; then
        echo "up.sh: port(s)$taken already in use by another program; nothing was started." >&2
        echo "  Free them (ss -ltnp 'sport = :PORT' shows the holder) or choose others in .env" >&2
        echo "  (HTTP_PORT, HTTPS_PORT, GRAFANA_PORT), then run make up again." >&2
        exit 1
    fi
else
    echo "up.sh: note: ss (iproute2) not found; the ports are not checked before starting"
fi

docker compose up -d --build --wait --wait-timeout 180 --remove-orphans

if [ "$upstream" = mock ]; then
    banner "$upstream_line" \
        "Answers are canned test data, not a real model. To go live: in .env set" \
        "UPSTREAM=relay and UPSTREAM_API_KEY=<your relay's key> (UPSTREAM_BASE_URL is" \
        "${upstream_url:-https://api.holysheep.ai/v1}), then run make up again."
else
    echo
    echo "$upstream_line"
    [ -n "$upstream_key" ] || echo "  note: UPSTREAM_API_KEY is empty: the gateways call the relay without a key."
fi

cat <<EOF

The stack is up.
  API (OpenAI-compatible)  $base/v1
  Grafana                  http://127.0.0.1:$grafana_port  (admin / GRAFANA_ADMIN_PASSWORD in .env;
                           from elsewhere: ssh -L $grafana_port:127.0.0.1:$grafana_port this-host)
  Status                   make ps    Logs: make logs    Stop: make down

Try it (the private CA is certs/ca.crt until you run make certs-letsencrypt):
  curl --cacert certs/ca.crt $base/v1/chat/completions \\
    -H "Authorization: Bearer \$GATEWAY_KEY" -H 'Content-Type: application/json' \\
    -d '{"model":"gpt-4.1","messages":[{"role":"user","content":"Hello"}]}'
EOF
