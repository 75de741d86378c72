package render

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	v3 "github.com/projectcalico/api/pkg/apis/projectcalico/v3"
	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/internal/policy/selector"
	"github.com/calico-plan/calico-plan/profile"
)

var rolloutStages = map[string]string{
	"recruiter-responder": "enforced",
	"n8n":                 "staged",
	"servarr":             "excluded",
	"tasks":               "observe",
}

func TestObservePolicy(t *testing.T) {
	p := profile.Default()
	g := ObservePolicy(p, rolloutStages)
	m, err := ToMap(g)
	require.NoError(t, err)
	var gnp v3.GlobalNetworkPolicy
	decodeStrict(t, m, &gnp)
	require.Equal(t, "GlobalNetworkPolicy", gnp.Kind)
	require.Equal(t, "projectcalico.org/v3", gnp.APIVersion)
	require.Equal(t, "wave1-egress-observe-tier34", gnp.Name, "the profile's name: it replaces the cluster's observe policy")
	require.Empty(t, gnp.Spec.Tier, "default tier, like the policy it replaces")
	require.Equal(t, 2000.0, *gnp.Spec.Order)
	require.Equal(t, "all()", gnp.Spec.Selector)
	require.Equal(t, []v3.PolicyType{v3.PolicyTypeEgress}, gnp.Spec.Types)
	require.Equal(t, []v3.Rule{{Action: v3.Log}, {Action: v3.Allow}}, gnp.Spec.Egress)
	require.Equal(t, `tier in {"3-edge", "4-aux"} && egress.calico-plan/stage not in {"enforced", "staged"} && kubernetes.io/metadata.name not in {"n8n", "recruiter-responder"}`, gnp.Spec.NamespaceSelector)
}

func TestObserveSelectorSemantics(t *testing.T) {
	p := profile.Default()
	sel, err := selector.Parse(ObserveSelector(p, rolloutStages))
	require.NoError(t, err, "Calico must accept the selector")
	ns := func(name, tier, stage string) selector.Labels {
		kv := []string{"kubernetes.io/metadata.name", name}
		if tier != "" {
			kv = append(kv, "tier", tier)
		}
		if stage != "" {
			kv = append(kv, "egress.calico-plan/stage", stage)
		}
		return selector.FromPairs(kv...)
	}
	for _, tc := range []struct {
		labels selector.Labels
		want   bool
		why    string
	}{
		{ns("tasks", "4-aux", ""), true, "an unlabelled tier-4 namespace is observed"},
		{ns("tasks", "4-aux", "observe"), true, "observe label"},
		{ns("vaultwarden", "3-edge", ""), true, "tier 3 too"},
		{ns("servarr", "4-aux", "excluded"), true, "excluded namespaces stay under Log+Allow"},
		{ns("forgejo", "3-edge", "staged"), false, "labelled staged: left out"},
		{ns("forgejo", "3-edge", "enforced"), false, "labelled enforced: left out"},
		{ns("n8n", "4-aux", ""), false, "staged by name, before its label is applied"},
		{ns("recruiter-responder", "4-aux", "observe"), false, "enforced by name even if the label is stale"},
		{ns("immich", "2-gpu", ""), false, "other tiers were never observed"},
		{ns("kube-system", "", ""), false, "unlabelled namespaces were never observed"},
	} {
		require.Equal(t, tc.want, sel.Matches(tc.labels), tc.why)
	}

	// With nothing staged or enforced there is no name clause.
	require.Equal(t, `tier in {"3-edge", "4-aux"} && egress.calico-plan/stage not in {"enforced", "staged"}`, ObserveSelector(p, map[string]string{"tasks": "observe"}))
	require.Equal(t, `tier in {"3-edge", "4-aux"}`, ObserveTierSelector(p))
}

func TestStageLabels(t *testing.T) {
	p := profile.Default()
	labels := StageLabels(p, rolloutStages)
	require.Equal(t, []StageLabel{
		{"n8n", "egress.calico-plan/stage", "staged"},
		{"recruiter-responder", "egress.calico-plan/stage", "enforced"},
		{"servarr", "egress.calico-plan/stage", "excluded"},
		{"tasks", "egress.calico-plan/stage", "observe"},
	}, labels)
	// Each stage sets the one label (kubectl label --overwrite: the
	// namespace's other labels stay) and deletes the calico-plan policies
	// the stage no longer has (kubectl apply never deletes).
	require.Equal(t, []string{
		"kubectl label namespace n8n egress.calico-plan/stage=staged --overwrite",
		"kubectl label namespace recruiter-responder egress.calico-plan/stage=enforced --overwrite",
		"kubectl label namespace servarr egress.calico-plan/stage=excluded --overwrite",
		"kubectl label namespace tasks egress.calico-plan/stage=observe --overwrite",
		"kubectl delete --ignore-not-found -n n8n networkpolicies.projectcalico.org/egress-allowlist.n8n networkpolicies.networking.k8s.io/egress-allowlist",
		"kubectl delete --ignore-not-found -n recruiter-responder stagednetworkpolicies.projectcalico.org/egress-allowlist.recruiter-responder networkpolicies.networking.k8s.io/egress-allowlist",
		"kubectl delete --ignore-not-found -n servarr networkpolicies.projectcalico.org/egress-allowlist.servarr stagednetworkpolicies.projectcalico.org/egress-allowlist.servarr networkpolicies.networking.k8s.io/egress-allowlist",
		"kubectl delete --ignore-not-found -n tasks networkpolicies.projectcalico.org/egress-allowlist.tasks stagednetworkpolicies.projectcalico.org/egress-allowlist.tasks networkpolicies.networking.k8s.io/egress-allowlist",
	}, StageCommands(p, labels, FlavorCalico, "kubectl"))
	// With the k8s flavor, an enforced namespace keeps its Kubernetes
	// NetworkPolicy and loses a Calico one.
	require.Equal(t, "k delete --ignore-not-found -n recruiter-responder stagednetworkpolicies.projectcalico.org/egress-allowlist.recruiter-responder networkpolicies.projectcalico.org/egress-allowlist.recruiter-responder",
		StageCommands(p, labels[1:2], FlavorK8s, "k")[1])
	// Values a shell would interpret are quoted.
	odd := StageCommands(p, []StageLabel{{"a'b", "k", "v $x"}}, FlavorCalico, "kubectl")
	require.Equal(t, `kubectl label namespace 'a'\''b' 'k=v $x' --overwrite`, odd[0])

	var buf bytes.Buffer
	require.NoError(t, EncodeStagesScript(&buf, "Generated by calico-plan.\nThe rollout.", p, labels[:1], FlavorCalico))
	require.Equal(t, `# Generated by calico-plan.
# The rollout.
#
# Run after 'kubectl apply -f' of this directory:
#   sh _stages.sh [kubectl flags, e.g. --context NAME]
# It sets each namespace's egress.calico-plan/stage label with 'kubectl label --overwrite',
# which changes that one label only (every other label of the namespace
# stays), and deletes the calico-plan policies a namespace's stage no longer
# has ('kubectl apply' never deletes): after a rollback, the enforced policy.
# Running it again changes nothing.
set -eu
kubectl=${KUBECTL:-kubectl}
"$kubectl" "$@" label namespace n8n egress.calico-plan/stage=staged --overwrite
"$kubectl" "$@" delete --ignore-not-found -n n8n networkpolicies.projectcalico.org/egress-allowlist.n8n networkpolicies.networking.k8s.io/egress-allowlist
`, buf.String())

	buf.Reset()
	require.NoError(t, EncodeStageLabelsHCL(&buf, "Generated by calico-plan.", labels[:2]))
	src := buf.String()
	require.Equal(t, `# Generated by calico-plan.
# Stage labels: each kubernetes_labels resource (hashicorp/kubernetes >= 2.15) sets
# only this label on an existing namespace, as field manager calico-plan.
# If a kubernetes_namespace resource manages these namespaces, keep the label out of
# its labels and let its provider ignore it, or its next apply removes the label:
#   provider "kubernetes" { ignore_labels = ["^egress\\.calico-plan/stage$"] }
# A label another client set before (kubectl label) is a field-manager conflict
# on the first apply: remove it first (kubectl label namespace NS KEY-), or render
# with --hcl-stage-labels none and keep labelling with kubectl.

resource "kubernetes_labels" "stage_n8n" {
  api_version = "v1"
  kind        = "Namespace"
  metadata {
    name = "n8n"
  }
  labels = {
    "egress.calico-plan/stage" = "staged"
  }
  field_manager = "calico-plan"
}

resource "kubernetes_labels" "stage_recruiter_responder" {
  api_version = "v1"
  kind        = "Namespace"
  metadata {
    name = "recruiter-responder"
  }
  labels = {
    "egress.calico-plan/stage" = "enforced"
  }
  field_manager = "calico-plan"
}
`, src)
	_, diags := hclsyntax.ParseConfig([]byte(src), "labels.tf", hcl.InitialPos)
	require.False(t, diags.HasErrors(), diags.Error())
}

func TestK8sEnforcementNote(t *testing.T) {
	p := profile.Default()
	note := K8sEnforcementNote(p, "", rolloutStages)
	require.Contains(t, note, "the observe GlobalNetworkPolicy wave1-egress-observe-tier34 (default tier, order 2000) allows whatever it does not")
	require.Contains(t, note, "from `tier in {\"3-edge\", \"4-aux\"}` to `tier in {\"3-edge\", \"4-aux\"} && egress.calico-plan/stage not in {\"enforced\", \"staged\"}")
	require.True(t, strings.HasPrefix(note, "k8s flavor: "))
	done := K8sEnforcementNote(p, ObserveSelector(p, rolloutStages), rolloutStages)
	require.Contains(t, done, "already leaves out namespaces labelled egress.calico-plan/stage=staged|enforced")
}
