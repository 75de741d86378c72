#!/bin/sh
# Prints the directory of Calico's CRD manifests: pkg/crds/calico of the
# tigera/operator module (TIGERA_OPERATOR_VERSION, default v1.40.0 = Calico
# 3.31), from the Go module proxy. The projectcalico/api module ships no YAML.
set -eu
. "$(dirname "$0")/lib.sh"
if [ -n "${E2E_CALICO_CRDS:-}" ]; then echo "$E2E_CALICO_CRDS"; exit 0; fi
ver=${TIGERA_OPERATOR_VERSION:-v1.40.0}
d=$(gomod_dir "github.com/tigera/operator@$ver")
[ -d "$d/pkg/crds/calico" ] || die "calico-crds: no pkg/crds/calico in github.com/tigera/operator@$ver"
echo "$d/pkg/crds/calico"
