#!/bin/sh
# Prints the path of an etcd binary: Debian's etcd-server package, fetched
# with `apt-get download` and unpacked with `dpkg -x` into the cache (no root
# install). E2E_ETCD overrides.
set -eu
. "$(dirname "$0")/lib.sh"
if [ -n "${E2E_ETCD:-}" ]; then echo "$E2E_ETCD"; exit 0; fi
dir=$E2E_CACHE/etcd
bin=$dir/root/usr/bin/etcd
if [ ! -x "$bin" ]; then
	command -v apt-get >/dev/null || die "etcd: needs apt-get (Debian/Ubuntu) or E2E_ETCD=/path/to/etcd"
	rm -rf "$dir" && mkdir -p "$dir/deb"
	say "etcd: apt-get download etcd-server"
	if ! (cd "$dir/deb" && apt-get download etcd-server >&2); then
		[ "$(id -u)" = 0 ] || die "etcd: apt-get download etcd-server failed; run 'apt-get update' as root, or set E2E_ETCD"
		say "etcd: apt-get update, then again"
		apt-get update >&2
		(cd "$dir/deb" && apt-get download etcd-server >&2)
	fi
	dpkg -x "$dir"/deb/etcd-server_*.deb "$dir/root"
	[ -x "$bin" ] || die "etcd: $bin missing after unpacking"
fi
echo "$bin"
