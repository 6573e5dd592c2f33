#!/bin/sh
# What the official nginx image's 20-envsubst-on-templates.sh does, for tests: every *.template
# under NGINX_ENVSUBST_TEMPLATE_DIR is written to NGINX_ENVSUBST_OUTPUT_DIR (same relative path,
# suffix dropped) by envsubst, replacing only the variables that are set in the environment and
# whose names match NGINX_ENVSUBST_FILTER; every other $name is left as it is.
set -e
template_dir=${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}
output_dir=${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}
filter=${NGINX_ENVSUBST_FILTER:-}
names=$(awk -v f="$filter" 'END { for (n in ENVIRON) if (n ~ f) print n }' </dev/null)
defined=''
for n in $names; do defined="$defined\${$n} "; done
find "$template_dir" -follow -type f -name '*.template' -print | while read -r template; do
    rel=${template#"$template_dir/"}
    out="$output_dir/${rel%.template}"
    mkdir -p "$(dirname "$out")"
    envsubst "$defined" < "$template" > "$out"
done
