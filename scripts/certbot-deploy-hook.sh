#!/bin/sh
# certbot deploy hook (run inside the certbot container after every issuance or renewal, and by
# scripts/certs-letsencrypt.sh after an unchanged one): copies the certificate of
# $RENEWED_LINEAGE to <LE_DIR>/gateway/, where nginx (uid 101) can read it, since certbot's own
# files are root-only. Each file is written beside its target and renamed over it, so nginx's
# reload watcher never reads a half-written file.
set -eu
le_dir=${LE_DIR:-/etc/letsencrypt}
lineage=${RENEWED_LINEAGE:?certbot sets RENEWED_LINEAGE}
dest=$le_dir/gateway
mkdir -p "$dest"
umask 077
for f in chain.pem privkey.pem fullchain.pem; do
    cp -L "$lineage/$f" "$dest/.$f.new"
    [ "$(id -u)" != 0 ] || chown "${NGINX_UID:-101}:${NGINX_GID:-101}" "$dest/.$f.new"
    chmod 600 "$dest/.$f.new"
    mv -f "$dest/.$f.new" "$dest/$f"
done
[ "$(id -u)" != 0 ] || chown "${NGINX_UID:-101}:${NGINX_GID:-101}" "$dest"
chmod 700 "$dest"
echo "certbot-deploy-hook.sh: $dest has the certificate of $lineage"
