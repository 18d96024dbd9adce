#!/usr/bin/env bash
# wrk, the bench's load generator, from Debian's package (what `make bench`
# runs when wrk is missing). Needs root, as apt-get does.
set -euo pipefail
if command -v wrk >/dev/null; then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "install-wrk: no apt-get here: install wrk by hand" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine's package lists may be empty or stale: update and retry once.
apt-get install -y -q wrk >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }
command -v wrk >/dev/null
