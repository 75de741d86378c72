package rollout

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/render"
)

// SelectedOptions configure the rendering of namespaces chosen by name or
// with --all (render --namespace, render --all): every one in one flavor,
// whatever its stage.
type SelectedOptions struct {
	Flavor render.Flavor
	// AllowUnstable renders enforcing policy for namespaces that are not
	// Stable (--allow-unstable).
	AllowUnstable bool
	Facts         *render.Facts
	NetworkSets   []render.SuggestedSet
	Domains       bool
}

// SelectedPolicy is the outcome of rendering one chosen namespace: its
// policy, or why it was refused or could not be rendered.
type SelectedPolicy struct {
	// Source is the allowlist file the policy comes from ("" when
	// refused).
	Source string
	// Policy is nil when refused or failed.
	Policy *render.Policy
	// Refused is set when an enforcing flavor refuses a namespace that is
	// not Stable: "NS (STATE: REASON)".
	Refused string
	// Failed is set when the namespace cannot be rendered, or when an
	// enforcing flavor would have to leave entries out.
	Failed string
}

// RenderSelected renders one namespace of the store in opt.Flavor, its
// stability judged at the end of the observation. Enforcing flavors
// (calico, k8s) refuse a namespace that is not Stable (unless
// opt.AllowUnstable) and fail one with entries no rule can express: an
// enforced policy without them would deny their traffic, an outage of our
// own making. The staged flavor renders the rest and lists those entries
// in Policy.Unrenderable. A namespace that cannot be rendered fails alone;
// it does not hold back the others.
func RenderSelected(st *allowlist.Store, n *allowlist.Namespace, opt SelectedOptions) SelectedPolicy {
	prof := st.Profile()
	enforcing := opt.Flavor != render.FlavorCalicoStaged
	a := allowlist.Assess(n, st.Meta.Observation.To, prof.Stability)
	if enforcing && a.State != allowlist.StateStable && !opt.AllowUnstable {
		return SelectedPolicy{Refused: fmt.Sprintf("%s (%s: %s)", n.Namespace, a.State, a.Reason)}
	}
	source := filepath.ToSlash(filepath.Join(st.Dir, n.Namespace+".yaml"))
	pol, err := render.Namespace(n, render.Options{Flavor: opt.Flavor, Profile: prof, Facts: opt.Facts, Source: source, NetworkSets: opt.NetworkSets, Domains: opt.Domains})
	var incomplete *render.IncompleteError
	switch {
	case errors.As(err, &incomplete) && enforcing:
		return SelectedPolicy{Source: source, Failed: fmt.Sprintf("%s (an enforced policy without them would deny their traffic)", err)}
	case err != nil && incomplete == nil:
		return SelectedPolicy{Source: source, Failed: err.Error()}
	}
	return SelectedPolicy{Source: source, Policy: pol}
}
