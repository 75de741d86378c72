package check

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/check/policyfile"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/demo"
	"github.com/calico-plan/calico-plan/render"
)

// demoStore builds the allowlist store of the demo dataset.
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

// demoFlows writes the demo dataset as Calico Enterprise JSON lines.
func demoFlows(t testing.TB) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, demo.Generate(demo.DefaultOptions(), func(f *flows.Flow) error { return flows.WriteEnterpriseJSON(&buf, f) }))
	path := filepath.Join(t.TempDir(), "flows.log")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	return path
}

// demoNamespaces are the demo cluster's namespace labels.
func demoNamespaces() cluster.NamespaceLabels {
	out := cluster.NamespaceLabels{}
	for _, n := range demo.Namespaces(demo.DefaultOptions()) {
		out[n.Name] = n.Labels
	}
	return out
}

// renderAll renders every namespace of the store into dir (one YAML file
// per namespace, plus _tier.yaml for the Calico flavors); skip lists
// namespaces to leave out. It returns the directory.
func renderAll(t testing.TB, s *allowlist.Store, fl render.Flavor, dir string, skip ...string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	p := s.Profile()
	if fl != render.FlavorK8s {
		var b bytes.Buffer
		require.NoError(t, render.EncodeYAML(&b, render.Header(""), render.Tier(p)))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "_tier.yaml"), b.Bytes(), 0o644))
	}
next:
	for _, n := range s.Namespaces() {
		for _, x := range skip {
			if x == n.Namespace {
				continue next
			}
		}
		pol, err := render.Namespace(n, render.Options{Flavor: fl, Profile: p, Source: "allowlists/" + n.Namespace + ".yaml"})
		require.NoError(t, err, n.Namespace)
		var b bytes.Buffer
		require.NoError(t, render.EncodeYAML(&b, render.Header("allowlists/"+n.Namespace+".yaml"), pol.Objects...))
		require.NoError(t, os.WriteFile(filepath.Join(dir, n.Namespace+".yaml"), b.Bytes(), 0o644))
	}
	return dir
}

// runCheck loads the policies and checks the flows file.
func runCheck(t testing.TB, flowsPath string, cfg Config, policies ...string) *Report {
	t.Helper()
	pf := policyfile.Load(policies, nil)
	ins, err := flows.ExpandInputs([]string{flowsPath})
	require.NoError(t, err)
	cfg.KeepFlows = true
	r, err := Run(context.Background(), pf, ins, cfg)
	require.NoError(t, err)
	return r
}

// observeGNP is the target cluster's observe GlobalNetworkPolicy.
const observeGNP = `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: wave1-egress-observe-tier34
  annotations:
    security.viktorbarzin.me/wave: "1"
spec:
  order: 2000
  selector: all()
  namespaceSelector: tier in {"3-edge", "4-aux"}
  types: [Egress]
  egress:
    - action: Log
    - action: Allow
`

// flowsInputs expands one flow file path.
func flowsInputs(path string) ([]flows.Input, error) { return flows.ExpandInputs([]string{path}) }
