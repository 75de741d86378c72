package rollout

import (
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/demo"
)

var update = flag.Bool("update", false, "rewrite golden files")

// demoStore builds the store from the demo dataset, as render's tests do.
func demoStore(t testing.TB, p *config.Profile) *allowlist.Store {
	t.Helper()
	s, err := allowlist.Open(t.TempDir(), p)
	require.NoError(t, err)
	a := allowlist.NewAggregator(allowlist.NewClassifier(p))
	require.NoError(t, demo.Generate(demo.DefaultOptions(), func(f *flows.Flow) error { a.Add(f); return nil }))
	s.Apply(a)
	_, err = s.Render()
	require.NoError(t, err)
	return s
}

// demoFacts is a snapshot of the demo cluster: its namespaces and labels
// plus the weekly nextcloud-backup CronJob.
func demoFacts() *cluster.Facts {
	f := cluster.New()
	f.Source = "demo snapshot"
	for _, n := range demo.Namespaces(demo.DefaultOptions()) {
		f.Namespaces = append(f.Namespaces, cluster.Namespace{Name: n.Name, Labels: n.Labels})
	}
	f.CronJobs = []cluster.CronJob{{Namespace: "nextcloud", Name: "nextcloud-backup", Schedule: "0 3 * * 0", PodPattern: cluster.PodPatternFor("nextcloud-backup")}}
	f.Normalize()
	return f
}

// at parses an RFC 3339 time.
func at(t testing.TB, s string) allowlist.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	require.NoError(t, err)
	return allowlist.Time(tm.Unix())
}
