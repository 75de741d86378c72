package rollout

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/render"
)

// An enforcing flavor refuses a namespace that is not Stable (unless
// AllowUnstable); the staged flavor renders it; a Stable one renders in
// every flavor, with its allowlist file as the source.
func TestRenderSelectedRefusesUnstableOnlyWhenEnforcing(t *testing.T) {
	p := config.Default()
	st := demoStore(t, p)
	var stable, unstable *allowlist.Namespace
	for _, n := range st.Namespaces() {
		switch allowlist.Assess(n, st.Meta.Observation.To, p.Stability).State {
		case allowlist.StateStable:
			if stable == nil && len(n.Egress) > 0 {
				stable = n
			}
		case allowlist.StateLearning:
			if unstable == nil {
				unstable = n
			}
		}
	}
	require.NotNil(t, stable, "the demo store has a Stable namespace")
	require.NotNil(t, unstable, "the demo store has a Learning namespace")

	got := RenderSelected(st, unstable, SelectedOptions{Flavor: render.FlavorCalico})
	require.Nil(t, got.Policy)
	require.Contains(t, got.Refused, unstable.Namespace+" (Learning: ")
	require.Empty(t, got.Failed)

	got = RenderSelected(st, unstable, SelectedOptions{Flavor: render.FlavorCalicoStaged})
	require.NotNil(t, got.Policy, "the staged flavor only reports: it renders whatever the state")
	require.Empty(t, got.Refused)

	got = RenderSelected(st, unstable, SelectedOptions{Flavor: render.FlavorCalico, AllowUnstable: true})
	require.NotNil(t, got.Policy)

	for _, fl := range []render.Flavor{render.FlavorCalico, render.FlavorCalicoStaged} {
		got = RenderSelected(st, stable, SelectedOptions{Flavor: fl})
		require.NotNil(t, got.Policy, fl)
		require.Empty(t, got.Refused)
		require.Empty(t, got.Failed)
		require.Equal(t, st.Dir+"/"+stable.Namespace+".yaml", got.Source)
	}
}
