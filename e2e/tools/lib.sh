# Shared by the e2e tool scripts (sourced): the cache directory and helpers.
# Every tool is built or fetched from the registries this project uses (the Go
# module proxy, Debian apt) into E2E_CACHE, once; later runs reuse it.
E2E_CACHE=${E2E_CACHE:-${HOME}/.cache/calico-plan/e2e}
export GOTOOLCHAIN=local
unset GOFLAGS

say() { echo "e2e/tools: $*" >&2; }
die() { say "$*"; exit 1; }

# gomod_dir MODULE@VERSION: the module's directory in the module cache.
gomod_dir() {
	go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p'
}
