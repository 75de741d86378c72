package diff

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/demo"
	"github.com/calico-plan/calico-plan/render"
)

// demoStore builds and saves the allowlist store of the demo dataset in dir.
func demoStore(t testing.TB, p *config.Profile, dir string) *allowlist.Store {
	t.Helper()
	s, err := allowlist.Open(dir, p)
	require.NoError(t, err)
	a := allowlist.NewAggregator(allowlist.NewClassifier(p))
	require.NoError(t, demo.Generate(demo.DefaultOptions(), func(f *flows.Flow) error { a.Add(f); return nil }))
	s.Apply(a)
	require.NoError(t, s.Save())
	s, err = allowlist.Open(dir, p)
	require.NoError(t, err)
	return s
}

// renderDir renders the store like 'render --all --allow-unstable --out dir'.
func renderDir(t testing.TB, s *allowlist.Store, fl render.Flavor, dir string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	p := s.Profile()
	if fl != render.FlavorK8s {
		var b bytes.Buffer
		require.NoError(t, render.EncodeYAML(&b, render.Header(""), render.Tier(p)))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "_tier.yaml"), b.Bytes(), 0o644))
	}
	for _, n := range s.Namespaces() {
		if p.Excluded(n.Namespace) {
			continue
		}
		pol, err := render.Namespace(n, render.Options{Flavor: fl, Profile: p, Source: "allowlists/" + n.Namespace + ".yaml"})
		if err != nil {
			continue
		}
		var b bytes.Buffer
		require.NoError(t, render.EncodeYAML(&b, render.Header("allowlists/"+n.Namespace+".yaml"), pol.Objects...))
		require.NoError(t, os.WriteFile(filepath.Join(dir, n.Namespace+".yaml"), b.Bytes(), 0o644))
	}
	return dir
}

// editNamespace hand-edits a namespace file of the store the way a user
// would: load, change, write back.
func editNamespace(t testing.TB, storeDir, ns string, edit func(n *allowlist.Namespace)) {
	t.Helper()
	path := filepath.Join(storeDir, ns+".yaml")
	n, err := allowlist.LoadNamespaceFile(path)
	require.NoError(t, err)
	edit(n)
	b, err := yaml.Marshal(n)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

func reopen(t testing.TB, s *allowlist.Store) *allowlist.Store {
	t.Helper()
	s, err := allowlist.Open(s.Dir, s.Profile())
	require.NoError(t, err)
	return s
}

func mustPrefix(t testing.TB, s string) netip.Prefix {
	t.Helper()
	p, err := netip.ParsePrefix(s)
	require.NoError(t, err)
	return p
}

func parsePrefixes(t testing.TB, ss ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, mustPrefix(t, s))
	}
	return out
}
