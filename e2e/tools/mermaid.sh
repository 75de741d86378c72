#!/bin/sh
# Prints the path of mermaid.min.js (the browser bundle forges use to draw
# ```mermaid blocks): the mermaid package from the npm registry, fetched
# with `npm pack` (no dependencies: the bundle is self-contained) and
# unpacked into the cache. E2E_MERMAID overrides.
set -eu
. "$(dirname "$0")/lib.sh"
if [ -n "${E2E_MERMAID:-}" ]; then echo "$E2E_MERMAID"; exit 0; fi
version=12.3.0
dir=$E2E_CACHE/mermaid-$version
js=$dir/package/dist/mermaid.min.js
if [ ! -s "$js" ]; then
	command -v npm >/dev/null || die "mermaid: needs npm (apt-get install npm) or E2E_MERMAID=/path/to/mermaid.min.js"
	rm -rf "$dir" && mkdir -p "$dir"
	say "mermaid: npm pack mermaid@$version"
	(cd "$dir" && npm pack --silent "mermaid@$version" >/dev/null)
	tar -xzf "$dir/mermaid-$version.tgz" -C "$dir" package/dist/mermaid.min.js
	rm -f "$dir/mermaid-$version.tgz"
	[ -s "$js" ] || die "mermaid: $js missing after unpacking"
fi
echo "$js"
