#!/usr/bin/env bash
# record-provider-schema.sh: (re)record render/testdata/provider-schema.json,
# the Terraform provider schemas render's schema test (render/hclschema_test.go)
# checks generated HCL against, from `terraform providers schema -json`.
#
# Needs hashicorp/kubernetes in the filesystem mirror of terraform-env.sh. The
# module proxy cannot supply its v2+ releases, so it is built from a source
# checkout of github.com/hashicorp/terraform-provider-kubernetes at a release
# tag (go build -o terraform-provider-kubernetes_vX.Y.Z .) and placed under
# mirror/registry.terraform.io/hashicorp/kubernetes/X.Y.Z/linux_amd64/.
# Recorded with v3.2.1 (tag commit 28fb611cb6be) and gavinbunney/kubectl 1.19.0.
#
# Only the resource types calico-plan writes or ships are kept (the full
# schema is several MB).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
eval "$("$root/e2e/tools/terraform-env.sh" | sed 's/^/export /')"
if [ "$CALICO_PLAN_TF_KUBERNETES" != 1 ]; then
	echo "record-provider-schema: hashicorp/kubernetes is not in the mirror (see the comment at the top)" >&2
	exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/main.tf" <<'TF'
terraform {
  required_providers {
    kubectl    = { source = "gavinbunney/kubectl" }
    kubernetes = { source = "hashicorp/kubernetes" }
  }
}
TF
(cd "$work" && "$CALICO_PLAN_TF" init -input=false -no-color >&2 && "$CALICO_PLAN_TF" version -json >"$work/version.json" && "$CALICO_PLAN_TF" providers schema -json >"$work/schema.json")
types='["kubectl_manifest","kubernetes_manifest","kubernetes_network_policy_v1","kubernetes_labels",
  "kubernetes_service_account_v1","kubernetes_persistent_volume_claim_v1","kubernetes_cron_job_v1","kubernetes_deployment_v1"]'
jq -c --argjson types "$types" --slurpfile v "$work/version.json" '{
  recorded_with: {terraform: $v[0].terraform_version, providers: $v[0].provider_selections},
  format_version,
  provider_schemas: (.provider_schemas | map_values({resource_schemas: (.resource_schemas | with_entries(select(.key as $k | $types | index($k))))}))
} | walk(if type == "object" then del(.description, .description_kind) else . end)' "$work/schema.json" >"$root/render/testdata/provider-schema.json"
echo "wrote render/testdata/provider-schema.json ($(wc -c <"$root/render/testdata/provider-schema.json") bytes)" >&2
