#!/bin/sh
# `make grafana-password`: makes Grafana's admin password the GRAFANA_ADMIN_PASSWORD in .env.
# Grafana reads that variable only when it creates its database (the grafana-data volume's first
# start); afterwards a changed value in .env silently stops matching. This sets it in the running
# Grafana with its own CLI, the password passed on stdin (never on a command line).
set -eu
repo_dir=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo_dir"
[ -f .env ] || { echo "grafana-password.sh: no .env; run make up first" >&2; exit 1; }
password=$(sed -n 's/^GRAFANA_ADMIN_PASSWORD=//p' .env | tail -n 1)
[ -n "$password" ] || { echo "grafana-password.sh: GRAFANA_ADMIN_PASSWORD is empty in .env" >&2; exit 1; }
docker compose ps --status running --services 2>/dev/null | grep -qx grafana || {
    echo "grafana-password.sh: grafana is not running; run make up first" >&2
    exit 1
}
printf '%s\n' "$password" | docker compose exec -T grafana grafana cli admin reset-admin-password --password-from-stdin >/dev/null
echo "grafana-password.sh: Grafana's admin password is now GRAFANA_ADMIN_PASSWORD from .env (user: admin)"
