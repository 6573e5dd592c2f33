#!/bin/sh
# What the official nginx image's /docker-entrypoint.sh does with /docker-entrypoint.d/, for tests:
# with `set -e`, every executable *.envsh is sourced and every executable *.sh is run, in `sort -V`
# order, all inside one pipeline (so what an .envsh exports reaches the scripts after it), and
# only when the command is nginx. The directory comes from ENTRYPOINT_D (the image's is fixed).
set -e

if [ "$1" = nginx ] || [ "$1" = nginx-debug ]; then
    find "$ENTRYPOINT_D/" -follow -type f -print | sort -V | while read -r f; do
        case $f in
            *.envsh) if [ -x "$f" ]; then echo "$0: Sourcing $f"; . "$f"; else echo "$0: Ignoring $f, not executable"; fi ;;
            *.sh) if [ -x "$f" ]; then echo "$0: Launching $f"; "$f"; else echo "$0: Ignoring $f, not executable"; fi ;;
            *) echo "$0: Ignoring $f" ;;
        esac
    done
    echo "$0: Configuration complete; ready for start up"
fi
# The image then runs `exec "$@"`; the tests only want the rendered files.
