#!/bin/sh
# Complexity lint (make lint): no non-generated, non-test function over
# FUNLEN_MAX lines or over cyclomatic complexity CYCLO_MAX, except the
# functions named in hack/lint/complexity-exclude.txt (each with its reason).
# gocyclo comes pinned from the module proxy; hack/funlen measures length.
set -eu
cd "$(dirname "$0")/../.."
GO=${GO:-go}
CYCLO_MAX=${CYCLO_MAX:-30}
FUNLEN_MAX=${FUNLEN_MAX:-100}
GOCYCLO=${GOCYCLO:-"$GO run github.com/fzipp/gocyclo/cmd/gocyclo@v0.6.0"}
exclude=hack/lint/complexity-exclude.txt

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# "<package> <function>" keys of the exclusion list (comments and blank lines dropped).
sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$exclude" | awk '{print $1" "$2}' >"$tmp/keys"

# Both tools print "<measure> <package> <function> <file>:<line>:<col>".
# Both exit 1 when they report something; any other failure stops the lint.
run() { # output file, command...
	out=$1; shift
	"$@" >"$out" 2>"$out.err" || true
	# go run's module download notes (a fresh machine) are not failures.
	if grep -v -e '^exit status 1$' -e '^go: downloading ' "$out.err" | grep -q .; then cat "$out.err" >&2; exit 2; fi
}
run "$tmp/cyclo" $GOCYCLO -over "$CYCLO_MAX" -ignore '_test\.go$|\.pb\.go$|/testdata/' .
run "$tmp/funlen" $GO run ./hack/funlen -over "$FUNLEN_MAX" .

status=0
report() { # file, what
	awk -v what="$2" 'NR==FNR { skip[$0] = 1; next } !(($2" "$3) in skip) { print what": "$0; bad = 1 } END { exit bad }' "$tmp/keys" "$1" || status=1
}
report "$tmp/cyclo" "cyclomatic complexity over $CYCLO_MAX"
report "$tmp/funlen" "longer than $FUNLEN_MAX lines"

# An exclusion that no longer matches anything is stale: drop it.
cat "$tmp/cyclo" "$tmp/funlen" | awk '{print $2" "$3}' | sort -u >"$tmp/hits"
stale=$(sort -u "$tmp/keys" | comm -23 - "$tmp/hits")
if [ -n "$stale" ]; then
	echo "hack/lint/complexity-exclude.txt names functions within the limits (remove them):"
	echo "$stale"
	status=1
fi
[ $status -eq 0 ] && echo "complexity: no function over $FUNLEN_MAX lines or complexity $CYCLO_MAX outside the exclusion list"
exit $status
