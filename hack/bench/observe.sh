#!/bin/sh
# make bench-observe: observe end to end (the CLI, a fresh store, page cache
# warm) next to its yardsticks on the same file, each as records/s:
#   cat         reading the file (the floor for any reader)
#   sha256sum   hashing it (observe hashes every input to know it again)
#   gzip -dc    decompressing the .gz copy (the floor for gzip input)
#   python3     hack/bench/aggregate.py: json + dict, no validation, no store
#   jq          only projecting four keys of each record
# Input: `calico-plan generate` records (Calico Enterprise flows.log lines,
# about 920 bytes each). DAYS and REPLICAS size it (default about 1.04 M
# records, 0.96 GB); RUNS repeats each measurement (the best run is shown).
set -eu
DAYS=${DAYS:-14}
REPLICAS=${REPLICAS:-3}
RUNS=${RUNS:-3}
GO=${GO:-go}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
$GO build -o "$dir/calico-plan" ./cmd/calico-plan
"$dir/calico-plan" generate --out "$dir/data" --interval 5m --days "$DAYS" --replicas "$REPLICAS" --gzip=false >/dev/null 2>&1
f=$dir/data/flows.log
gzip -k -6 "$f"
records=$(wc -l < "$f")
bytes=$(wc -c < "$f")
echo "input: $records records, $bytes bytes ($f), best of $RUNS runs, $(nproc) CPUs"
cat "$f" > /dev/null

# best WALL-SECONDS of RUNS runs of a command (stdout discarded)
best() {
	b=
	i=0
	while [ $i -lt "$RUNS" ]; do
		i=$((i + 1))
		rm -rf "$dir/store"
		t0=$(date +%s%N)
		"$@" > /dev/null 2>&1
		t1=$(date +%s%N)
		s=$(awk "BEGIN{printf \"%.2f\", ($t1 - $t0) / 1e9}")
		if [ -z "$b" ] || awk "BEGIN{exit !($s < $b)}"; then b=$s; fi
	done
	echo "$b"
}
row() {
	name=$1
	shift
	s=$(best "$@")
	rate=$(awk "BEGIN{ if ($s > 0) printf \"%d\", $records / $s; else print \"-\" }")
	printf '%-44s %7s s  %10s records/s\n' "$name" "$s" "$rate"
}
row "cat (read the file)" sh -c "cat '$f' | cat > /dev/null"
row "sha256sum" sha256sum "$f"
row "gzip -dc (the .gz copy)" sh -c "gzip -dc '$f.gz' > /dev/null"
row "calico-plan observe (plain file)" "$dir/calico-plan" observe --store "$dir/store" --from "$f"
row "calico-plan observe (gzip)" "$dir/calico-plan" observe --store "$dir/store" --from "$f.gz"
if command -v python3 > /dev/null; then
	row "python3 hack/bench/aggregate.py" python3 hack/bench/aggregate.py "$f"
else
	echo "python3: not installed, yardstick skipped"
fi
if command -v jq > /dev/null; then
	row "jq (project four keys)" jq -c '[.source_namespace,.dest_name_aggr,.dest_port,.proto]' "$f"
else
	echo "jq: not installed, yardstick skipped"
fi
