package render

import (
	"fmt"
	"io"
	"sort"
	"strings"

	v3 "github.com/projectcalico/api/pkg/apis/projectcalico/v3"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/profile"
)

// PurposeAnnotation says why calico-plan manages an object.
const PurposeAnnotation = "calico-plan.io/purpose"

// nameLabel is the automatic namespace label Kubernetes sets.
const nameLabel = "kubernetes.io/metadata.name"

// ObserveExcludedStages are the stages whose namespaces the observe policy
// leaves out: a Kubernetes NetworkPolicy (default tier, order 1000) cannot
// deny what the observe policy's later Allow accepts, and a staged policy's
// would-deny signal needs the same.
var ObserveExcludedStages = []string{allowlist.StageEnforced, allowlist.StageStaged}

// ObserveSelector returns the observe policy's namespaceSelector: the
// namespaces of the observed tiers, minus those labelled staged or
// enforced, minus (by name) those the stages map says are staged or
// enforced. The name clause makes it correct before the labels are
// applied, and the label clause keeps it correct when a namespace is
// promoted before the policy is applied again.
func ObserveSelector(p *profile.Profile, stages map[string]string) string {
	var parts []string
	if tiers := p.Rollout.ObservePolicy.Tiers; len(tiers) > 0 {
		parts = append(parts, fmt.Sprintf("%s in {%s}", p.Tiers.LabelKey, quoteSet(tiers)))
	}
	parts = append(parts, fmt.Sprintf("%s not in {%s}", p.Rollout.StageLabel, quoteSet(ObserveExcludedStages)))
	if names := namespacesIn(stages, ObserveExcludedStages...); len(names) > 0 {
		parts = append(parts, fmt.Sprintf("%s not in {%s}", nameLabel, quoteSet(names)))
	}
	return strings.Join(parts, " && ")
}

// ObserveTierSelector is the observe policy's selector before calico-plan
// manages it: the observed tiers only.
func ObserveTierSelector(p *profile.Profile) string {
	if tiers := p.Rollout.ObservePolicy.Tiers; len(tiers) > 0 {
		return fmt.Sprintf("%s in {%s}", p.Tiers.LabelKey, quoteSet(tiers))
	}
	return "all()"
}

func quoteSet(vals []string) string {
	s := append([]string(nil), vals...)
	sort.Strings(s)
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = `"` + v + `"`
	}
	return strings.Join(q, ", ")
}

func namespacesIn(stages map[string]string, want ...string) []string {
	var out []string
	for ns, st := range stages {
		for _, w := range want {
			if st == w {
				out = append(out, ns)
			}
		}
	}
	sort.Strings(out)
	return out
}

// ObservePolicy renders the observe GlobalNetworkPolicy the profile
// describes (rollout.observePolicy: name, order, tiers): in the default
// tier, Log then Allow for every egress of the namespaces ObserveSelector
// selects. stages maps namespaces to their rollout stage.
func ObservePolicy(p *profile.Profile, stages map[string]string) *v3.GlobalNetworkPolicy {
	op := p.Rollout.ObservePolicy
	g := v3.NewGlobalNetworkPolicy()
	g.Name = op.Name
	g.Labels = map[string]string{ManagedByLabel: ManagedByValue}
	g.Annotations = map[string]string{PurposeAnnotation: "observe: log and allow the egress of namespaces not yet staged or enforced (Loki LOG lines); staged and enforced namespaces are left out so that their allowlist decides"}
	order := op.Order
	sel := op.Selector
	if sel == "" {
		sel = "all()"
	}
	rules := []v3.Rule{{Action: v3.Allow}}
	if op.Log {
		rules = []v3.Rule{{Action: v3.Log}, {Action: v3.Allow}}
	}
	g.Spec = v3.GlobalNetworkPolicySpec{
		Order:             &order,
		Selector:          sel,
		NamespaceSelector: ObserveSelector(p, stages),
		Types:             []v3.PolicyType{v3.PolicyTypeEgress},
		Egress:            rules,
	}
	return g
}

// StageLabel is the stage label one namespace should carry.
type StageLabel struct {
	Namespace string `json:"namespace"`
	Key       string `json:"key"`
	Value     string `json:"value"`
}

// StageLabels returns the label (profile rollout.stageLabel) each namespace
// of the stages map should carry, sorted by namespace.
func StageLabels(p *profile.Profile, stages map[string]string) []StageLabel {
	names := make([]string, 0, len(stages))
	for ns := range stages {
		names = append(names, ns)
	}
	sort.Strings(names)
	out := make([]StageLabel, 0, len(names))
	for _, ns := range names {
		st := stages[ns]
		if st == "" {
			st = allowlist.StageObserve
		}
		out = append(out, StageLabel{Namespace: ns, Key: p.Rollout.StageLabel, Value: st})
	}
	return out
}

// StageCommands returns the kubectl commands that bring each namespace's
// stage into the cluster: one `kubectl label --overwrite` per namespace,
// which adds or changes that one label and leaves the namespace's other
// labels alone (a Namespace object applied instead would remove them: the
// tier label the rollout plans by), then, per namespace, one `kubectl
// delete --ignore-not-found` of the calico-plan policies its stage no
// longer has: after a rollback to observe (or excluded) every calico-plan
// policy of the namespace, on staged the enforced ones, on enforced the
// staged one and the other enforced flavor's. 'kubectl apply -f DIR' never
// deletes, so without these a rolled-back namespace would stay enforced.
// enforced is the flavor enforced namespaces get (calico or k8s). kubectl
// is the command to run (e.g. `"$kubectl" "$@"` in the script).
func StageCommands(p *profile.Profile, labels []StageLabel, enforced Flavor, kubectl string) []string {
	out := make([]string, 0, 2*len(labels))
	for _, l := range labels {
		out = append(out, fmt.Sprintf("%s label namespace %s %s --overwrite", kubectl, shellWord(l.Namespace), shellWord(l.Key+"="+l.Value)))
	}
	for _, l := range labels {
		var del []string
		add := func(f Flavor) {
			del = append(del, shellWord(policyResource(f)+"/"+PolicyName(p, f, l.Namespace)))
		}
		switch l.Value {
		case allowlist.StageStaged:
			add(FlavorCalico)
			add(FlavorK8s)
		case allowlist.StageEnforced:
			add(FlavorCalicoStaged)
			if enforced == FlavorK8s {
				add(FlavorCalico)
			} else {
				add(FlavorK8s)
			}
		default:
			add(FlavorCalico)
			add(FlavorCalicoStaged)
			add(FlavorK8s)
		}
		out = append(out, fmt.Sprintf("%s delete --ignore-not-found -n %s %s", kubectl, shellWord(l.Namespace), strings.Join(del, " ")))
	}
	return out
}

// policyResource is the kubectl resource of a flavor's policy.
func policyResource(f Flavor) string {
	switch f {
	case FlavorK8s:
		return "networkpolicies.networking.k8s.io"
	case FlavorCalicoStaged:
		return "stagednetworkpolicies.projectcalico.org"
	}
	return "networkpolicies.projectcalico.org"
}

// shellWord quotes s for a POSIX shell unless it is plainly safe.
func shellWord(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:@", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// StagesScriptName is the file render --rollout/--wave --out DIR writes the
// stage commands to.
const StagesScriptName = "_stages.sh"

// EncodeStagesScript writes the stage commands (StageCommands) as a POSIX
// shell script, run after 'kubectl apply -f DIR' as
// `sh DIR/_stages.sh [kubectl flags]`: the flags (--context NAME,
// --kubeconfig FILE) go to every kubectl, and $KUBECTL names another
// kubectl binary.
func EncodeStagesScript(w io.Writer, header string, p *profile.Profile, labels []StageLabel, enforced Flavor) error {
	var b strings.Builder
	for _, line := range strings.Split(header, "\n") {
		if line = strings.TrimRight(line, "\r"); line != "" {
			b.WriteString("# " + line + "\n")
		}
	}
	fmt.Fprintf(&b, `#
# Run after 'kubectl apply -f' of this directory:
#   sh %s [kubectl flags, e.g. --context NAME]
# It sets each namespace's %s label with 'kubectl label --overwrite',
# which changes that one label only (every other label of the namespace
# stays), and deletes the calico-plan policies a namespace's stage no longer
# has ('kubectl apply' never deletes): after a rollback, the enforced policy.
# Running it again changes nothing.
set -eu
kubectl=${KUBECTL:-kubectl}
`, StagesScriptName, p.Rollout.StageLabel)
	for _, c := range StageCommands(p, labels, enforced, `"$kubectl" "$@"`) {
		b.WriteString(c + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// K8sEnforcementNote explains, for the k8s flavor, why an enforced
// Kubernetes NetworkPolicy has no effect while the observe policy selects
// the namespace, and shows the selector change that fixes it. current is
// the observe policy's namespaceSelector in the cluster ("" if unknown).
func K8sEnforcementNote(p *profile.Profile, current string, stages map[string]string) string {
	op := p.Rollout.ObservePolicy
	want := ObserveSelector(p, stages)
	if current == "" {
		current = ObserveTierSelector(p)
	}
	if strings.Contains(current, p.Rollout.StageLabel) {
		return fmt.Sprintf("k8s flavor: the observe policy %s already leaves out namespaces labelled %s=staged|enforced, so enforced Kubernetes NetworkPolicies take effect once each namespace carries its label", op.Name, p.Rollout.StageLabel)
	}
	return fmt.Sprintf("k8s flavor: Calico puts a Kubernetes NetworkPolicy in the default tier at order 1000, and the observe GlobalNetworkPolicy %s (default tier, order %g) allows whatever it does not, so an enforced namespace is not locked down while %s selects it. Change its namespaceSelector from `%s` to `%s` (calico-plan render --rollout renders it) and label each namespace with %s (kubectl label namespace NS %s=enforced --overwrite); or use the calico flavor, whose tier %s runs before the default tier.",
		op.Name, op.Order, op.Name, current, want, p.Rollout.StageLabel, p.Rollout.StageLabel, p.Policy.Tier)
}
