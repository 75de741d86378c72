#!/usr/bin/env bash
# terraform-env.sh: set up Terraform for the e2e tests, offline, from the
# registries this project uses, and print the environment that selects it.
#
#   eval "$(e2e/tools/terraform-env.sh)"   # or: e2e/tools/terraform-env.sh >env
#
# Prints on stdout, one per line:
#   CALICO_PLAN_TF=<terraform or tofu binary>
#   TF_CLI_CONFIG_FILE=<CLI config: providers from the filesystem mirror only>
#   CALICO_PLAN_TF_KUBERNETES=1|0   (whether hashicorp/kubernetes is in the mirror)
# Progress goes to stderr. Everything lives in $CALICO_PLAN_TF_CACHE
# (default $E2E_CACHE/terraform, E2E_CACHE as in lib.sh: ~/.cache/calico-plan/e2e)
# and is reused when present, so a
# repeat run takes a second:
#   bin/tofu          OpenTofu built from the Go module proxy, used only when
#                     no terraform is on PATH (or CALICO_PLAN_TF_TOOL=tofu)
#   mirror/           a filesystem mirror (unpacked layout) for both
#                     registry.terraform.io and registry.opentofu.org
#   terraformrc       provider_installation { filesystem_mirror {...} }, no
#                     direct installation: terraform init never goes online
#
# Providers:
#   gavinbunney/kubectl 1.19.0  go install from the module proxy.
#   hashicorp/kubernetes        NOT built: its v2+ releases are not installable
#                               from the module proxy (the module path lacks /v2,
#                               /v3, and the proxy serves no pseudo-version of
#                               it). A build already in the mirror is kept and
#                               used; otherwise the e2e tests check its resources
#                               with `terraform fmt` only, and render's schema
#                               test checks them against the recorded provider
#                               schema (render/testdata/kubernetes-provider-schema.json).
set -euo pipefail

KUBECTL_VERSION=1.19.0
TOFU_VERSION=v1.10.6
# OpenTofu's own go.mod replaces hcl with its fork; a scratch module that
# requires OpenTofu must repeat that replace to build it.
TOFU_HCL_REPLACE=github.com/hashicorp/hcl/v2=github.com/opentofu/hcl/v2@v2.20.2-0.20250121132637-504036cd70e7

cache=${CALICO_PLAN_TF_CACHE:-${E2E_CACHE:-$HOME/.cache/calico-plan/e2e}/terraform}
mkdir -p "$cache/bin" "$cache/mirror"
cache=$(cd "$cache" && pwd)
log() { echo "terraform-env: $*" >&2; }

# The Terraform CLI: terraform on PATH, else OpenTofu built from source.
tool=${CALICO_PLAN_TF_TOOL:-}
if [ -z "$tool" ]; then
	if command -v terraform >/dev/null 2>&1; then tool=terraform; else tool=tofu; fi
fi
case "$tool" in
terraform)
	tf=$(command -v terraform)
	;;
tofu)
	tf="$cache/bin/tofu"
	if [ ! -x "$tf" ]; then
		log "no terraform on PATH: building OpenTofu $TOFU_VERSION from the Go module proxy (several CPU-minutes once)"
		b="$cache/tofu-build"
		rm -rf "$b" && mkdir -p "$b"
		(
			cd "$b"
			go mod init scratch/tofu >/dev/null 2>&1
			go mod edit -replace="$TOFU_HCL_REPLACE"
			go get "github.com/opentofu/opentofu/cmd/tofu@$TOFU_VERSION" >&2
			go build -trimpath -o "$tf.tmp" github.com/opentofu/opentofu/cmd/tofu
		)
		mv "$tf.tmp" "$tf"
	fi
	;;
*)
	log "CALICO_PLAN_TF_TOOL=$tool: want terraform or tofu"
	exit 1
	;;
esac

# place SRC NAMESPACE TYPE VERSION: the provider binary into the mirror under
# both registry host names (hard links: one copy on disk).
place() {
	local src=$1 ns=$2 typ=$3 ver=$4 host dir
	for host in registry.terraform.io registry.opentofu.org; do
		dir="$cache/mirror/$host/$ns/$typ/$ver/linux_amd64"
		mkdir -p "$dir"
		ln -f "$src" "$dir/terraform-provider-${typ}_v$ver" 2>/dev/null || cp -f "$src" "$dir/terraform-provider-${typ}_v$ver"
	done
}

kubectl="$cache/mirror/registry.terraform.io/gavinbunney/kubectl/$KUBECTL_VERSION/linux_amd64/terraform-provider-kubectl_v$KUBECTL_VERSION"
if [ ! -x "$kubectl" ] || [ ! -x "${kubectl/registry.terraform.io/registry.opentofu.org}" ]; then
	log "building gavinbunney/kubectl $KUBECTL_VERSION from the Go module proxy"
	gobin=$(mktemp -d)
	GOBIN="$gobin" go install -trimpath "github.com/gavinbunney/terraform-provider-kubectl@v$KUBECTL_VERSION"
	place "$gobin/terraform-provider-kubectl" gavinbunney kubectl "$KUBECTL_VERSION"
	rm -rf "$gobin"
fi

include='"registry.terraform.io/gavinbunney/*", "registry.opentofu.org/gavinbunney/*"'
k8s=0
if ls "$cache"/mirror/registry.terraform.io/hashicorp/kubernetes/*/linux_amd64/terraform-provider-kubernetes_v* >/dev/null 2>&1; then
	k8s=1
	include="$include, \"registry.terraform.io/hashicorp/kubernetes\", \"registry.opentofu.org/hashicorp/kubernetes\""
	log "hashicorp/kubernetes found in the mirror: its resources are validated too"
fi

rc="$cache/terraformrc"
cat >"$rc.tmp" <<RC
# Written by e2e/tools/terraform-env.sh: providers come from the filesystem
# mirror only; terraform init never downloads.
provider_installation {
  filesystem_mirror {
    path    = "$cache/mirror"
    include = [$include]
  }
  direct {
    exclude = ["registry.terraform.io/*/*", "registry.opentofu.org/*/*"]
  }
}
RC
mv "$rc.tmp" "$rc"

echo "CALICO_PLAN_TF=$tf"
echo "TF_CLI_CONFIG_FILE=$rc"
echo "CALICO_PLAN_TF_KUBERNETES=$k8s"
