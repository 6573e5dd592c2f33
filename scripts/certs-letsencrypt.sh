#!/bin/sh
# `make certs-letsencrypt DOMAIN=gw.example.com EMAIL=ops@example.com`
# Gets a Let's Encrypt certificate through the running stack, switches nginx to it, and turns on
# its renewal:
#   1. certbot (compose profile "certbot") answers the HTTP-01 challenge through nginx: it writes
#      into the acme-webroot volume, which nginx serves on port 80 under /.well-known/acme-challenge/
#      (everything else on port 80 redirects to HTTPS). DOMAIN's DNS must point at this host, and
#      Let's Encrypt only ever connects to port 80: HTTP_PORT must be 80 (or port 80 forwarded to
#      it; then set ACME_PORT_80_FORWARDED=1).
#   2. scripts/certbot-deploy-hook.sh copies the certificate to certs/letsencrypt/gateway/, owned
#      by nginx's uid (101), and .env is pointed at it (TLS_CERTIFICATE, TLS_CERTIFICATE_KEY,
#      TLS_TRUSTED_CERTIFICATE).
#   3. Renewal: "letsencrypt" is added to COMPOSE_PROFILES in .env, which runs the certbot-renew
#      service (scripts/certbot-renew.sh: `certbot renew` twice a day, the same deploy hook);
#      nginx reloads by itself when the files change (nginx/entrypoint/40-llm-gateway-cert-reload.sh).
#   4. nginx is recreated with the new settings and certbot-renew is started.
# LE_STAGING=1 uses Let's Encrypt's staging CA (for trying this out without rate limits).
# Swarm (no compose profiles): run the same certbot image with `docker run`, mounting
# ./certs/letsencrypt at /etc/letsencrypt, the acme-webroot volume at /var/www/acme and the two
# scripts at /opt/llm-gateway/, with the certbot-renew service's entrypoint.
set -eu

usage () {
    echo "usage: scripts/certs-letsencrypt.sh DOMAIN EMAIL" >&2
    exit 2
}
domain=${1:-}
email=${2:-}
[ -n "$domain" ] && [ -n "$email" ] || usage
[ $# -le 2 ] || usage
case $domain in *[!A-Za-z0-9.-]*|.*|*..*) echo "certs-letsencrypt.sh: '$domain' is not a DNS name" >&2; exit 2 ;; esac
case $email in *@*.*) ;; *) echo "certs-letsencrypt.sh: '$email' is not an email address" >&2; exit 2 ;; esac

repo_dir=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo_dir"
[ -f .env ] || { echo "certs-letsencrypt.sh: no .env; run make up first" >&2; exit 1; }

env_get () {
    sed -n "s/^$1=//p" .env | tail -n 1
}
env_set () {
    tmp=$(mktemp .env.XXXXXX)
    awk -v k="$1" -v v="$2" '
        BEGIN { done = 0 }
        index($0, k "=") == 1 { if (!done) { print k "=" v; done = 1 } ; next }
        { print }
        END { if (!done) print k "=" v }
    ' .env > "$tmp"
    chmod 600 "$tmp"
    mv "$tmp" .env
}

http_port=$(env_get HTTP_PORT)
http_port=${http_port:-80}
if [ "$http_port" != 80 ] && [ "${ACME_PORT_80_FORWARDED:-0}" != 1 ]; then
    echo "certs-letsencrypt.sh: HTTP_PORT is $http_port, but Let's Encrypt checks the challenge on port 80 only." >&2
    echo "  Set HTTP_PORT=80 in .env and run make up, or forward port 80 to $http_port and rerun with ACME_PORT_80_FORWARDED=1." >&2
    exit 1
fi

docker compose ps --status running --services 2>/dev/null | grep -qx nginx || {
    echo "certs-letsencrypt.sh: nginx is not running; run make up first (it serves the challenge)" >&2
    exit 1
}

staging=''
[ "${LE_STAGING:-}" = 1 ] && staging=--staging
mkdir -p certs/letsencrypt
hook=/opt/llm-gateway/certbot-deploy-hook.sh

echo "certs-letsencrypt.sh: requesting a certificate for $domain"
docker compose --profile certbot run --rm certbot certonly \
    --webroot -w /var/www/acme \
    -d "$domain" --email "$email" --agree-tos --no-eff-email --non-interactive \
    --keep-until-expiring $staging \
    --deploy-hook "sh $hook"

# An unchanged, still valid certificate skips the deploy hook: copy it anyway.
docker compose --profile certbot run --rm -e RENEWED_LINEAGE="/etc/letsencrypt/live/$domain" \
    --entrypoint sh certbot "$hook"

env_set SERVER_NAME "$domain"
env_set TLS_CERTIFICATE /etc/nginx/certs/letsencrypt/gateway/fullchain.pem
env_set TLS_CERTIFICATE_KEY /etc/nginx/certs/letsencrypt/gateway/privkey.pem
env_set TLS_TRUSTED_CERTIFICATE /etc/nginx/certs/letsencrypt/gateway/chain.pem
# Let's Encrypt certificates no longer carry an OCSP responder address.
env_set TLS_OCSP_STAPLING off
profiles=$(env_get COMPOSE_PROFILES)
case ",$profiles," in
    *,letsencrypt,*) ;;
    ,,) env_set COMPOSE_PROFILES letsencrypt ;;
    *) env_set COMPOSE_PROFILES "$profiles,letsencrypt" ;;
esac

docker compose up -d --wait nginx certbot-renew
echo "certs-letsencrypt.sh: nginx now serves the Let's Encrypt certificate for https://$domain"
echo "certs-letsencrypt.sh: renewal is on: the certbot-renew service checks twice a day (COMPOSE_PROFILES=letsencrypt in .env);"
echo "  nginx reloads by itself after a renewal. Logs: docker compose logs certbot-renew"
