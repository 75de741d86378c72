package diff

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/demo"
	"github.com/calico-plan/calico-plan/internal/rollout"
	"github.com/calico-plan/calico-plan/render"
)

// writeDesired writes a desired state as 'render --rollout --out dir' does.
func writeDesired(t *testing.T, d *rollout.Desired, dir string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, u := range d.Units {
		var b bytes.Buffer
		require.NoError(t, render.EncodeYAML(&b, render.Header(""), u.Objects...))
		require.NoError(t, os.WriteFile(filepath.Join(dir, u.Name+".yaml"), b.Bytes(), 0o644))
	}
}

func desired(t *testing.T, st *allowlist.Store) *rollout.Desired {
	t.Helper()
	d, err := rollout.DesiredState(st, rollout.NewEnv(st, demo.Cluster(demo.DefaultOptions()), 0), rollout.DesiredOptions{})
	require.NoError(t, err)
	return d
}

// diff --against a rollout directory compares like with like: each
// namespace in its stage, the observe policy by the namespaces it covers,
// stage changes weighed; not 88 additions and a false promotion.
func TestFilesAgainstARolloutDirectory(t *testing.T) {
	p := config.Default()
	st := demoStore(t, p, t.TempDir())
	editNamespace(t, st.Dir, "recruiter-responder", func(n *allowlist.Namespace) {
		n.Rollout.Stage = allowlist.StageStaged
		n.WouldDeny = []allowlist.Entry{{Peer: allowlist.Peer{Kind: allowlist.PeerPublic, Nets: []string{"104.18.32.7/32"}},
			Ports: []allowlist.PortEvidence{{Port: "TCP/443", Evidence: allowlist.Evidence{Flows: 8, FirstSeen: 1795478400, LastSeen: 1795564800, Days: allowlist.DaySet{allowlist.DayOf(1795478400), allowlist.DayOf(1795564800)}}}}}}
	})
	editNamespace(t, st.Dir, "n8n", func(n *allowlist.Namespace) { n.Rollout.Stage = allowlist.StageEnforced })
	st = reopen(t, st)
	dir := filepath.Join(t.TempDir(), "policies")
	writeDesired(t, desired(t, st), dir)

	// Without the desired state: every observe namespace looks added and
	// the staged one looks promoted.
	rep := Files(st, []string{dir}, Options{Profile: p})
	require.Equal(t, ExitChanges, rep.Summary.ExitCode)
	require.Greater(t, rep.Summary.Added, 50)

	rep = Files(st, []string{dir}, Options{Profile: p, Desired: desired(t, st)})
	require.Equal(t, ExitNoChanges, rep.Summary.ExitCode, "%+v", rep.Namespaces)
	require.Equal(t, 2, rep.Compared)
	require.Contains(t, strings.Join(rep.Notes, "\n"), "compared with the desired rollout")

	// The next PR: recruiter-responder enforced, n8n rolled back, forgejo staged.
	editNamespace(t, st.Dir, "recruiter-responder", func(n *allowlist.Namespace) { n.Rollout.Stage = allowlist.StageEnforced })
	editNamespace(t, st.Dir, "n8n", func(n *allowlist.Namespace) { n.Rollout.Stage = allowlist.StageObserve })
	editNamespace(t, st.Dir, "forgejo", func(n *allowlist.Namespace) { n.Rollout.Stage = allowlist.StageStaged })
	st = reopen(t, st)
	nl := cluster.NamespaceLabels{}
	for _, n := range demo.Namespaces(demo.DefaultOptions()) {
		nl[n.Name] = n.Labels
	}
	rep = Files(st, []string{dir}, Options{Profile: p, Desired: desired(t, st), NamespaceLabels: nl})
	require.Equal(t, ExitChanges, rep.Summary.ExitCode)
	require.Equal(t, 3, rep.Summary.StageChanges)
	require.EqualValues(t, 8, rep.Summary.FlowsDropped)
	require.Zero(t, rep.Summary.FlowsCut, "lifting n8n's enforcement cuts nothing")
	by := map[string]NamespaceDiff{}
	for _, d := range rep.Namespaces {
		by[d.Namespace] = d
	}
	require.Equal(t, "staged", by["recruiter-responder"].Stage.From)
	require.Equal(t, "enforced", by["recruiter-responder"].Stage.To)
	require.True(t, by["n8n"].DropsNothing)
	require.Equal(t, "observe", by["forgejo"].Stage.From)
	require.Equal(t, []PolicyChange{
		{Policy: "GlobalNetworkPolicy " + p.Rollout.ObservePolicy.Name, Change: "no longer logs and allows the egress of forgejo (their own policy decides)"},
		{Policy: "GlobalNetworkPolicy " + p.Rollout.ObservePolicy.Name, Change: "logs and allows the egress of n8n again"},
	}, by[""].Policies)
	var b strings.Builder
	require.NoError(t, WriteText(&b, rep))
	require.Contains(t, b.String(), "recruiter-responder: staged -> enforced, +0 -0, enforcement drops 8 flows")
	require.Contains(t, b.String(), "not dropped: the namespace's new stage enforces nothing")

	// --rollout off: the old comparison.
	rep = Files(st, []string{dir}, Options{Profile: p, Desired: desired(t, st), Rollout: RolloutOff})
	require.Greater(t, rep.Summary.Added, 50)
}
