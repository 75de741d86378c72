package render

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/demo"
	"github.com/calico-plan/calico-plan/internal/pods"
	"github.com/calico-plan/calico-plan/profile"
)

// ossDemoStore is the demo cluster as Calico OSS sees it: Goldmane flows
// (no addresses) plus the observe policy's kernel LOG lines, attributed with
// the pod listing (what 'make demo' observes for its OSS part).
func ossDemoStore(t testing.TB, p *profile.Profile) *allowlist.Store {
	t.Helper()
	s, err := allowlist.Open(t.TempDir(), p)
	require.NoError(t, err)
	a := allowlist.NewAggregator(allowlist.NewClassifier(p))
	var kern bytes.Buffer
	podList, err := demo.PacketLog(demo.DefaultOptions(), &kern, func(f *flows.Flow) error {
		g := *f
		g.Source.IP, g.Dest.IP = netip.Addr{}, netip.Addr{} // Goldmane carries no addresses
		a.Add(&g)
		return nil
	})
	require.NoError(t, err)
	idx := pods.NewIndex("")
	require.NoError(t, idx.Load(podList, "pods.json"))
	st, err := flows.Decode(context.Background(), &kern, "kern.log", flows.Options{Packets: &flows.PacketLogOptions{Pods: idx}}, func(_ int, f *flows.Flow) error {
		a.Add(f)
		return nil
	})
	require.NoError(t, err)
	require.Zero(t, st.Bad)
	require.Zero(t, st.Packets.Unattributed)
	s.Apply(a)
	labels := map[string]map[string]string{}
	for _, n := range demo.Namespaces(demo.DefaultOptions()) {
		labels[n.Name] = n.Labels
	}
	s.SetNamespaceLabels(labels)
	_, err = s.Render()
	require.NoError(t, err)
	return s
}

func TestGoldenDemoOSS(t *testing.T) {
	p := profile.Default()
	s := ossDemoStore(t, p)
	var buf bytes.Buffer
	for _, n := range s.Namespaces() {
		if !strings.HasPrefix(n.Tier, "3-") && !strings.HasPrefix(n.Tier, "4-") {
			continue // the observe policy logs tiers 3-edge and 4-aux only
		}
		require.Empty(t, n.AddressGaps(), "%s: every public port has packet-log addresses", n.Namespace)
		pol, err := Namespace(n, Options{Flavor: FlavorCalicoStaged, Profile: p, Source: "allowlists/" + n.Namespace + ".yaml"})
		require.NoError(t, err, n.Namespace)
		require.NoError(t, EncodeYAML(&buf, Header("allowlists/"+n.Namespace+".yaml"), pol.Objects...))
	}
	out := buf.String()
	require.NotContains(t, out, "0.0.0.0/0", "no rule allows any public address")
	require.Contains(t, out, "calico-plan.io/evidence: packet-log")
	golden := filepath.Join("testdata", "demo-oss-calico-staged.yaml")
	if *update {
		require.NoError(t, os.WriteFile(golden, buf.Bytes(), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test ./render -update")
	require.Equal(t, string(want), out, "golden %s differs; run go test ./render -update and review the diff", golden)
}
