#!/bin/sh
# kube.sh kube-apiserver|kubectl: prints the path of the binary, built from the
# source modules on the Go module proxy at KUBE_VERSION (default v1.32.13).
#
# k8s.io/kubernetes cannot be required as is: its go.mod points every
# k8s.io/<staging> module at ./staging/src/... . The scratch module below
# requires k8s.io/kubernetes and replaces each of those with the published
# k8s.io/<staging> v0.<minor>.<patch>. The first build takes about 7
# CPU-minutes (kube-apiserver); the binary is cached, later runs take seconds.
# kubectl: the one on PATH when there is one (E2E_KUBECTL overrides), else
# (or with E2E_BUILD_KUBECTL=1) built from the same module.
set -eu
. "$(dirname "$0")/lib.sh"
tool=${1:?usage: kube.sh kube-apiserver|kubectl}
case $tool in
kube-apiserver) [ -z "${E2E_KUBE_APISERVER:-}" ] || { echo "$E2E_KUBE_APISERVER"; exit 0; } ;;
kubectl)
	[ -z "${E2E_KUBECTL:-}" ] || { echo "$E2E_KUBECTL"; exit 0; }
	if [ -z "${E2E_BUILD_KUBECTL:-}" ] && p=$(command -v kubectl); then echo "$p"; exit 0; fi ;;
*) die "kube.sh: unknown tool $tool (want kube-apiserver or kubectl)" ;;
esac

ver=${KUBE_VERSION:-v1.32.13}
staging=v0.${ver#v1.}
dir=$E2E_CACHE/kubernetes-$ver
bin=$dir/bin/$tool
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

mkdir -p "$dir/src" "$dir/bin"
src=$dir/src
if [ ! -s "$src/go.sum" ]; then
	say "$tool: k8s.io/kubernetes@$ver from the module proxy"
	kmod=$(go mod download -json "k8s.io/kubernetes@$ver" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
	[ -s "$kmod" ] || die "$tool: no go.mod for k8s.io/kubernetes@$ver"
	{
		echo "module scratch/kas"
		echo
		echo "go $(sed -n 's/^go \([0-9.]*\)$/\1/p' "$kmod")"
		echo
		echo "require k8s.io/kubernetes $ver"
		echo
		echo "replace ("
		sed -n "s|^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/[a-z0-9-]*\$|	\1 => \1 $staging|p" "$kmod"
		echo ")"
	} >"$src/go.mod.new"
	n=$(grep -c ' => ' "$src/go.mod.new")
	[ "$n" -gt 20 ] || die "$tool: found only $n staging modules in $kmod"
	mv "$src/go.mod.new" "$src/go.mod"
	# Resolve the requirements of the two commands (adds go.sum).
	(cd "$src" && go get "k8s.io/kubernetes/cmd/kube-apiserver@$ver" "k8s.io/kubernetes/cmd/kubectl@$ver" >&2)
fi
pkg=k8s.io/kubernetes/cmd/$tool
minor=${ver#v1.}; minor=${minor%%.*}
vpkg=k8s.io/component-base/version
say "$tool: go build $pkg (the first build takes several CPU-minutes)"
(cd "$src" && CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" \
	-ldflags "-s -w -X $vpkg.gitVersion=$ver -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean" \
	"$pkg" >&2)
mv "$bin.tmp" "$bin"
echo "$bin"
