#!/bin/sh
# `make certs-letsencrypt DOMAIN=gw.example.com EMAIL=ops@example.com`
# Gets a Let's Encrypt certificate through the running stack and switches nginx to it:
#   1. certbot (compose profile "certbot") answers the HTTP-01 challenge through nginx: it writes
#      into the acme-webroot volume, which nginx serves on port 80 under /.well-known/acme-challenge/
#      (everything else on port 80 redirects to HTTPS). DOMAIN's DNS must point at this host and
#      port 80 must be reachable from the internet.
#   2. The certificate is copied to certs/letsencrypt/gateway/ owned by nginx's uid (101), and
#      .env is pointed at it (TLS_CERTIFICATE, TLS_CERTIFICATE_KEY, TLS_TRUSTED_CERTIFICATE).
#   3. nginx is recreated with the new settings.
# Renewal: certbot keeps the webroot and the copy step (deploy hook) in its renewal settings,
# so renewing is one command plus a reload; this script prints the cron line for it, and
# installs it in the current user's crontab with --install-cron.
# LE_STAGING=1 uses Let's Encrypt's staging CA (for trying this out without rate limits).
# Swarm (no compose profiles): run the same certbot image with `docker run`, mounting
# ./certs/letsencrypt at /etc/letsencrypt and the acme-webroot volume at /var/www/acme.
set -eu

usage () {
    echo "usage: scripts/certs-letsencrypt.sh DOMAIN EMAIL [--install-cron]" >&2
    exit 2
}
domain=${1:-}
email=${2:-}
install_cron=${3:-}
[ -n "$domain" ] && [ -n "$email" ] || usage
case $domain in *[!A-Za-z0-9.-]*|.*|*..*) echo "certs-letsencrypt.sh: '$domain' is not a DNS name" >&2; exit 2 ;; esac
case $email in *@*.*) ;; *) echo "certs-letsencrypt.sh: '$email' is not an email address" >&2; exit 2 ;; esac
case $install_cron in ''|--install-cron) ;; *) usage ;; esac

repo_dir=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo_dir"
[ -f .env ] || { echo "certs-letsencrypt.sh: no .env; run make up first" >&2; exit 1; }
docker compose ps --status running --services 2>/dev/null | grep -qx nginx || {
    echo "certs-letsencrypt.sh: nginx is not running; run make up first (it serves the challenge)" >&2
    exit 1
}

staging=''
[ "${LE_STAGING:-}" = 1 ] && staging=--staging
mkdir -p certs/letsencrypt

# Runs inside the certbot container after every issuance or renewal: a copy nginx (uid 101) can
# read, since certbot's own files are root-only.
copy_hook='d=/etc/letsencrypt/gateway; mkdir -p "$d" && cp -L "$RENEWED_LINEAGE/fullchain.pem" "$RENEWED_LINEAGE/privkey.pem" "$RENEWED_LINEAGE/chain.pem" "$d/" && chown -R 101:101 "$d" && chmod 700 "$d" && chmod 600 "$d/privkey.pem"'

echo "certs-letsencrypt.sh: requesting a certificate for $domain"
docker compose --profile certbot run --rm certbot certonly \
    --webroot -w /var/www/acme \
    -d "$domain" --email "$email" --agree-tos --no-eff-email --non-interactive \
    --keep-until-expiring $staging \
    --deploy-hook "$copy_hook"

# An unchanged, still valid certificate skips the deploy hook: copy it anyway.
docker compose --profile certbot run --rm -e RENEWED_LINEAGE="/etc/letsencrypt/live/$domain" \
    --entrypoint sh certbot -c "$copy_hook"

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
env_set SERVER_NAME "$domain"
env_set TLS_CERTIFICATE /etc/nginx/certs/letsencrypt/gateway/fullchain.pem
env_set TLS_CERTIFICATE_KEY /etc/nginx/certs/letsencrypt/gateway/privkey.pem
env_set TLS_TRUSTED_CERTIFICATE /etc/nginx/certs/letsencrypt/gateway/chain.pem
# Let's Encrypt certificates no longer carry an OCSP responder address.
env_set TLS_OCSP_STAPLING off

docker compose up -d --wait nginx
echo "certs-letsencrypt.sh: nginx now serves the Let's Encrypt certificate for https://$domain"

cron_line="17 3 * * * cd $repo_dir && docker compose --profile certbot run --rm certbot renew --quiet && docker compose kill -s HUP nginx"
if [ "$install_cron" = --install-cron ]; then
    ( crontab -l 2>/dev/null | grep -v 'certbot renew' ; echo "$cron_line" ) | crontab -
    echo "certs-letsencrypt.sh: installed the daily renewal in your crontab:"
else
    echo "Renewal: add this line to your crontab (crontab -e), or rerun with --install-cron."
    echo "certbot renews within 30 days of expiry; SIGHUP makes nginx reload the files:"
fi
echo "  $cron_line"
