#!/bin/sh
# Reloads nginx when its certificate or key file changes, so a renewed Let's Encrypt certificate
# (written by the certbot-renew service's deploy hook) is served without anyone's help. Run by the
# official image's entrypoint before nginx starts: it leaves a watcher in the background and
# returns. The watcher compares checksums every NGINX_CERT_RELOAD_INTERVAL seconds (0 = off),
# checks the new files with `nginx -t` (a half-written pair waits for the next round), then sends
# the master SIGHUP: a graceful reload, streams keep running on the old workers.
set -eu

interval=${NGINX_CERT_RELOAD_INTERVAL:-300}
case $interval in
    0) exit 0 ;;
    *[!0-9.]*|'') echo "40-llm-gateway-cert-reload.sh: NGINX_CERT_RELOAD_INTERVAL must be seconds, got '$interval'" >&2; exit 1 ;;
esac
cert=${NGINX_SSL_CERTIFICATE:?}
key=${NGINX_SSL_CERTIFICATE_KEY:?}
conf=${NGINX_CONF:-/etc/nginx/conf.d/nginx.conf}
pidfile=${NGINX_RUNTIME_DIR:-/tmp}/nginx.pid
me=40-llm-gateway-cert-reload.sh

fingerprint () {
    cat "$cert" "$key" 2>/dev/null | cksum
}

watch () {
    last=$(fingerprint)
    while sleep "$interval"; do
        now=$(fingerprint)
        [ "$now" != "$last" ] || continue
        if ! out=$(nginx -t -q -c "$conf" -e stderr 2>&1); then
            echo "$me: certificate files changed but nginx -t fails; keeping the running config: $out" >&2
            continue
        fi
        pid=$(cat "$pidfile" 2>/dev/null || true)
        if [ -n "$pid" ] && kill -HUP "$pid" 2>/dev/null; then
            last=$now
            echo "$me: certificate files changed: nginx reloaded"
        fi
    done
}

# Detached from the entrypoint's pipes; outlives this script (the image then execs nginx).
watch </dev/null &
# Where the watcher's pid goes, for whoever must stop it (the container simply ends with nginx).
[ -z "${NGINX_CERT_RELOAD_PIDFILE:-}" ] || echo $! > "$NGINX_CERT_RELOAD_PIDFILE"
echo "$me: reloading nginx when $cert or $key changes (checked every ${interval}s)"
