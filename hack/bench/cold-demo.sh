#!/bin/sh
# make bench-cold-demo: `make demo` as a fresh machine runs it, with an empty
# module cache and build cache (both in a temporary directory), from a clean
# copy of the committed tree. Prints the wall and CPU seconds, what the
# module download weighed, the binary's size (as `make build` writes it)
# and the load average, because on a shared machine the wall time measures
# the neighbours too.
set -eu
GO=${GO:-go}
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
git archive --format=tar HEAD | (mkdir "$tmp/src" && cd "$tmp/src" && tar xf -)
export GOMODCACHE="$tmp/mod" GOCACHE="$tmp/cache"
cd "$tmp/src"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
t0=$(date +%s%N)
/usr/bin/time -f '%e %U %S' -o "$tmp/time" make demo GO="$GO" > "$tmp/demo.log" 2>&1 || { tail -20 "$tmp/demo.log"; exit 1; }
t1=$(date +%s%N)
read -r wall user sys < "$tmp/time"
echo "cold make demo: wall $(awk "BEGIN{printf \"%.0f\", ($t1-$t0)/1e9}") s, CPU $(awk "BEGIN{printf \"%.0f\", $user+$sys}") s (user $user, sys $sys)"
echo "modules downloaded: $(du -sm "$tmp/mod/cache/download" | cut -f1) MB (zips and metadata), $(du -sm "$tmp/mod" | cut -f1) MB unpacked cache"
echo "binary bin/calico-plan: $(wc -c < bin/calico-plan) bytes"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
