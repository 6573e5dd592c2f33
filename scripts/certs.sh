#!/bin/sh
# Makes a private CA and a server certificate signed by it, for HTTPS before a public certificate
# exists (and for the native stack and its tests). openssl only; ECDSA P-256.
#
#   scripts/certs.sh                 → certs/ca.crt, ca.key, server.crt, server.key
#   CERTS_DIR=/some/dir scripts/certs.sh
#
# SANs: localhost, 127.0.0.1, ::1 and $SERVER_NAME (from the environment or .env). Idempotent:
# an existing CA is kept (clients that trust it keep working); the server certificate is only
# reissued when it is missing, expires within 30 days, or lacks $SERVER_NAME.
# Clients trust certs/ca.crt, e.g. `curl --cacert certs/ca.crt` or NODE_EXTRA_CA_CERTS.
#
# nginx in the container runs as uid 101 and must read server.key: when run as root the key is
# given to CERTS_OWNER (default 101:101, mode 0600); otherwise it is left readable (0644) and a
# note says so. CERTS_OWNER= (empty) skips the chown.
set -eu

repo_dir=$(cd "$(dirname "$0")/.." && pwd)
certs_dir=${CERTS_DIR:-$repo_dir/certs}
owner=${CERTS_OWNER-101:101}

if [ -z "${SERVER_NAME:-}" ] && [ -f "$repo_dir/.env" ]; then
    SERVER_NAME=$(sed -n 's/^SERVER_NAME=//p' "$repo_dir/.env" | tail -n 1 | tr -d '"'"'"' \r')
fi
server_name=${SERVER_NAME:-localhost}
case $server_name in
    *[!A-Za-z0-9.*-]*) echo "certs.sh: SERVER_NAME '$server_name' is not a DNS name" >&2; exit 1 ;;
esac

mkdir -p "$certs_dir"
# nginx (uid 101 in its container) must be able to enter the directory; ca.key stays private.
chmod 755 "$certs_dir"
cd "$certs_dir"
umask 077

if [ ! -s ca.key ] || [ ! -s ca.crt ]; then
    echo "certs.sh: creating a private CA in $certs_dir"
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key
    openssl req -x509 -new -key ca.key -sha256 -days 3650 -out ca.crt \
        -subj "/O=LLM relay gateway/CN=LLM relay gateway local CA" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash"
    rm -f server.crt
fi

san="DNS:localhost,IP:127.0.0.1,IP:::1"
if [ "$server_name" != localhost ]; then
    case $server_name in
        *[!0-9.]*) san="DNS:$server_name,$san" ;;
        *) san="IP:$server_name,$san" ;;
    esac
fi

reissue=no
if [ ! -s server.key ] || [ ! -s server.crt ]; then
    reissue=yes
elif ! openssl x509 -in server.crt -noout -checkend 2592000 >/dev/null; then
    echo "certs.sh: server certificate expires within 30 days"
    reissue=yes
elif ! openssl x509 -in server.crt -noout -ext subjectAltName | grep -q -e "DNS:$server_name" -e "IP Address:$server_name"; then
    echo "certs.sh: server certificate does not name $server_name"
    reissue=yes
elif ! openssl verify -CAfile ca.crt server.crt >/dev/null 2>&1; then
    echo "certs.sh: server certificate is not signed by ca.crt"
    reissue=yes
fi

if [ "$reissue" = yes ]; then
    echo "certs.sh: issuing a server certificate for $server_name (SANs: $san)"
    openssl ecparam -name prime256v1 -genkey -noout -out server.key
    ext=$(mktemp)
    trap 'rm -f "$ext" server.csr' EXIT
    cat > "$ext" <<EOF
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    openssl req -new -key server.key -subj "/CN=$server_name" -out server.csr
    # 825 days: the longest validity Apple platforms accept for a TLS server certificate.
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 \
        -days 825 -extfile "$ext" -out server.crt 2>/dev/null
    rm -f ca.srl
else
    echo "certs.sh: $certs_dir/server.crt is valid for $server_name; nothing to do"
fi

chmod 644 ca.crt server.crt
chmod 600 ca.key
if [ "$(id -u)" = 0 ] && [ -n "$owner" ]; then
    chown "$owner" server.key
    chmod 600 server.key
else
    chmod 644 server.key
    if [ -n "$owner" ] && [ "$reissue" = yes ]; then
        echo "certs.sh: note: server.key is world-readable so nginx (uid 101) can read it; run as root to restrict it to uid 101"
    fi
fi
