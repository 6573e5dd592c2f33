#!/bin/sh
# The certbot-renew service (compose profile letsencrypt): `certbot renew` now and then every
# RENEW_INTERVAL_SECONDS (12 h). certbot renews a certificate within 30 days of its expiry,
# through the same webroot nginx serves on port 80, and runs the deploy hook, which refreshes
# nginx's copy; nginx's watcher then reloads it. A failed attempt is logged and retried on the
# next round. RENEW_ONCE=1 makes one attempt and exits with its status (for a manual run).
set -eu
interval=${RENEW_INTERVAL_SECONDS:-43200}
hook=${DEPLOY_HOOK:-/opt/llm-gateway/certbot-deploy-hook.sh}
webroot=${ACME_WEBROOT:-/var/www/acme}
heartbeat=${HEARTBEAT_FILE:-/tmp/certbot-renew.heartbeat}

trap 'exit 0' TERM INT
while :; do
    status=0
    certbot renew --webroot -w "$webroot" --deploy-hook "sh $hook" --no-random-sleep-on-renew || status=$?
    if [ "$status" = 0 ]; then
        echo "certbot-renew.sh: renewal check done; next in ${interval}s"
    else
        echo "certbot-renew.sh: certbot renew failed (exit $status); next try in ${interval}s" >&2
    fi
    touch "$heartbeat"
    [ "${RENEW_ONCE:-0}" != 1 ] || exit "$status"
    # In the background, so TERM stops the loop at once instead of after the sleep.
    sleep "$interval" &
    wait $! || true
done
