package rollout

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/render"
)

// A namespace whose allowlist has an entry no rule can express must not be
// promoted: its policy would deny that traffic.
func TestRenderableGate(t *testing.T) {
	p := config.Default()
	n := observed(t, "shop", "2026-11-01T00:00:00Z", "2026-11-20T00:00:00Z")
	n.Egress = append(n.Egress, allowlist.Entry{
		Peer:  allowlist.Peer{Kind: allowlist.PeerNetworkSet, Namespace: "shop", Name: "partners"},
		Ports: []allowlist.PortEvidence{{Port: "TCP/443", Evidence: allowlist.Evidence{Flows: 3}}},
	})
	f := factsWith("shop")
	c := Evaluate(n, allowlist.StageStaged, env(t, p, f, "2026-11-20T00:00:00Z"))
	g := gate(t, c, GateRenderable)
	require.False(t, g.Met)
	require.Contains(t, g.Reason, "1 egress entries cannot be rendered as calico-staged")
	require.Contains(t, g.Reason, "egress[1] networkset shop/partners (TCP/443): the flow logs recorded no labels")
	_, err := Promote(n, allowlist.StageStaged, env(t, p, f, "2026-11-20T00:00:00Z"), Change{At: at(t, "2026-11-21T00:00:00Z")})
	var refused *RefusedError
	require.ErrorAs(t, err, &refused)

	// Staged → enforced checks the enforced flavor.
	n.Rollout.Stage = allowlist.StageStaged
	e := env(t, p, f, "2026-11-20T00:00:00Z")
	e.Flavor = render.FlavorK8s
	require.Contains(t, gate(t, Evaluate(n, allowlist.StageEnforced, e), GateRenderable).Reason, "cannot be rendered as k8s")

	// Cluster facts with the set's CIDRs make it renderable.
	f.CalicoObjects = append(f.CalicoObjects, cluster.CalicoObject{Kind: "NetworkSet", Namespace: "shop", Name: "partners", Spec: map[string]any{"nets": []any{"198.18.0.0/24"}}})
	g = gate(t, Evaluate(n, allowlist.StageEnforced, env(t, p, f, "2026-11-20T00:00:00Z")), GateRenderable)
	require.True(t, g.Met, g.Reason)
	require.Equal(t, "every egress entry renders as calico", g.Reason)
}
