package check

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/check/policyfile"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/demo"
	"github.com/calico-plan/calico-plan/render"
)

// BenchmarkCheckClusterScale replays about a million flow records of a
// 200-namespace cluster against 500 policies: the calico flavor of every
// namespace, the staged flavor of every namespace and the k8s flavor of
// 100 of them. One op is the whole check: decoding the flows file, loading
// the policy files and evaluating every record (the goal: under 5 s).
func BenchmarkCheckClusterScale(b *testing.B) {
	p := config.Default()
	opts := demo.DefaultOptions()
	opts.Replicas, opts.Days, opts.Interval = 12, 10, 15*time.Minute
	dir := b.TempDir()
	flowsPath := filepath.Join(dir, "flows.log")
	f, err := os.Create(flowsPath)
	require.NoError(b, err)
	w := bufio.NewWriterSize(f, 1<<20)
	s, err := allowlist.Open(filepath.Join(dir, "store"), p)
	require.NoError(b, err)
	a := allowlist.NewAggregator(allowlist.NewClassifier(p))
	records := 0
	require.NoError(b, demo.Generate(opts, func(fl *flows.Flow) error {
		records++
		a.Add(fl)
		return flows.WriteEnterpriseJSON(w, fl)
	}))
	require.NoError(b, w.Flush())
	require.NoError(b, f.Close())
	s.Apply(a)
	_, err = s.Render()
	require.NoError(b, err)
	require.GreaterOrEqual(b, len(s.Namespaces()), 200)

	calico := renderAll(b, s, render.FlavorCalico, filepath.Join(dir, "calico"))
	staged := renderAll(b, s, render.FlavorCalicoStaged, filepath.Join(dir, "staged"))
	require.NoError(b, os.Remove(filepath.Join(staged, "_tier.yaml"))) // the calico directory has it
	// The k8s flavor of the first 100 namespaces it can render without
	// cluster facts (network-set peers need the sets' CIDRs).
	k8s := filepath.Join(dir, "k8s")
	require.NoError(b, os.MkdirAll(k8s, 0o755))
	n8s := 0
	for _, n := range s.Namespaces() {
		pol, err := render.Namespace(n, render.Options{Flavor: render.FlavorK8s, Profile: p})
		if err != nil {
			continue
		}
		var buf bytes.Buffer
		require.NoError(b, render.EncodeYAML(&buf, render.Header(""), pol.Objects...))
		require.NoError(b, os.WriteFile(filepath.Join(k8s, n.Namespace+".yaml"), buf.Bytes(), 0o644))
		if n8s++; n8s == 100 {
			break
		}
	}
	cfg := Config{Profile: p, NamespaceLabels: demoNamespacesOf(opts)}
	b.ResetTimer()
	for b.Loop() {
		pf := policyfile.Load([]string{calico, k8s, staged}, nil)
		require.Zero(b, pf.Errors(), "%v", pf.Problems)
		ins, err := flows.ExpandInputs([]string{flowsPath})
		require.NoError(b, err)
		r, err := Run(context.Background(), pf, ins, cfg)
		require.NoError(b, err)
		if r.Summary.Flows != records || r.Policies < 500 {
			b.Fatalf("checked %d of %d records against %d policies", r.Summary.Flows, records, r.Policies)
		}
	}
	b.ReportMetric(float64(records), "records")
}

// demoNamespacesOf are the namespace labels of a generated cluster.
func demoNamespacesOf(opts demo.Options) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, n := range demo.Namespaces(opts) {
		out[n.Name] = n.Labels
	}
	return out
}
