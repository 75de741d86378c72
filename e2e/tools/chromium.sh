#!/bin/sh
# Prints the path of a headless-capable Chromium: E2E_CHROMIUM, else the
# chromium on PATH, else Debian's chromium package installed with apt-get
# (as root only: Chromium needs its shared libraries installed, so unlike
# etcd it cannot be unpacked into the cache).
set -eu
. "$(dirname "$0")/lib.sh"
if [ -n "${E2E_CHROMIUM:-}" ]; then echo "$E2E_CHROMIUM"; exit 0; fi
for c in chromium chromium-browser; do
	if p=$(command -v "$c"); then echo "$p"; exit 0; fi
done
command -v apt-get >/dev/null || die "chromium: needs apt-get (Debian/Ubuntu) or E2E_CHROMIUM=/path/to/chromium"
[ "$(id -u)" = 0 ] || die "chromium: not installed; run 'apt-get install -y chromium' as root, or set E2E_CHROMIUM"
say "chromium: apt-get install -y chromium"
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >&2; then
	say "chromium: apt-get update, then again"
	apt-get update >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >&2
fi
command -v chromium || die "chromium: not on PATH after apt-get install"
