package check

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/check/policyfile"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/render"
)

// The store's evidence replayed as flows: the policies rendered from the
// store allow every allowlist entry (its flow counts kept), and a
// would-deny entry the allowlist lacks is reported as would-deny.
func TestReplayStoreAgainstItsOwnPolicies(t *testing.T) {
	st := demoStore(t, config.Default())
	p := st.Profile()
	var want int64
	for _, n := range st.Namespaces() {
		if p.Excluded(n.Namespace) {
			continue
		}
		for _, set := range [][]allowlist.Entry{n.Egress, n.Denied, n.WouldDeny} {
			for _, e := range set {
				for _, pe := range e.Ports {
					want += pe.Flows
				}
			}
		}
	}
	r := ReplayStore(st, p)
	require.Empty(t, r.Skipped)
	var got int64
	for _, f := range r.Flows {
		got += f.NumFlows
	}
	require.Equal(t, want, got, "every flow of the evidence is replayed once")

	var skip []string
	for _, n := range st.Namespaces() {
		if p.Excluded(n.Namespace) {
			skip = append(skip, n.Namespace)
			continue
		}
		if _, err := render.Namespace(n, render.Options{Flavor: render.FlavorCalico, Profile: p}); err != nil {
			skip = append(skip, n.Namespace) // servarr: not renderable as enforced
		}
	}
	dir := renderAll(t, st, render.FlavorCalico, filepath.Join(t.TempDir(), "policies"), skip...)
	check := func(r *Replay) *Report {
		rep, err := Run(context.Background(), policyfile.Load([]string{dir}, nil), nil, Config{Profile: p, NamespaceLabels: demoNamespaces(), Replay: r.Flows})
		require.NoError(t, err)
		return rep
	}
	rep := check(r)
	require.Equal(t, len(r.Flows), rep.Summary.Flows)
	require.Zero(t, rep.Summary.WouldDeny, "%+v", rep.Groups)

	// A flow the staged policy reported as would-deny, never folded in.
	n := st.Namespace("recruiter-responder")
	n.WouldDeny = append(n.WouldDeny, allowlist.Entry{Peer: allowlist.Peer{Kind: allowlist.PeerPublic, Nets: []string{"198.18.0.7/32"}},
		Workloads: []string{"recruiter-responder-api-*"},
		Ports:     []allowlist.PortEvidence{{Port: "TCP/8443", Evidence: allowlist.Evidence{Flows: 8, FirstSeen: 1795478400, LastSeen: 1795564800}}}})
	rep = check(ReplayStore(st, p))
	require.Equal(t, 1, rep.Summary.WouldDeny)
	gs, _ := rep.groupsWith(StatusWouldDeny)
	require.Len(t, gs, 1)
	require.EqualValues(t, 8, gs[0].Flows)
	require.Equal(t, "recruiter-responder/recruiter-responder-api-*", gs[0].Source)
}
