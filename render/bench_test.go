package render

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/profile"
)

// publicAllowlist is the file of a namespace whose one entry reached n
// distinct public addresses on TCP/443 (spread over 20.0.0.0-60.255.255.255,
// deterministic).
func publicAllowlist(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	seen := make(map[netip.Addr]bool, n)
	nets := make([]netip.Prefix, 0, n)
	for len(nets) < n {
		a := netip.AddrFrom4([4]byte{byte(20 + r.IntN(41)), byte(r.IntN(256)), byte(r.IntN(256)), byte(1 + r.IntN(254))})
		if !seen[a] {
			seen[a] = true
			nets = append(nets, netip.PrefixFrom(a, 32))
		}
	}
	allowlist.SortPrefixes(nets)
	s := make([]string, len(nets))
	for i, p := range nets {
		s[i] = p.String()
	}
	doc := map[string]any{
		"version": 1, "namespace": "shop", "tier": "4-aux", "tierSource": "label",
		"rollout":     map[string]any{"stage": "observe"},
		"observation": map[string]any{"from": "2026-11-01T00:00:00Z", "to": "2026-11-20T00:00:00Z", "state": "Stable"},
		"egress": []any{map[string]any{
			"peer":  map[string]any{"kind": "public", "nets": s},
			"ports": []any{map[string]any{"port": "TCP/443", "flows": n, "bytes": 100 * n, "firstSeen": "2026-11-01T00:00:00Z", "lastSeen": "2026-11-10T00:00:00Z", "days": []string{"2026-11-01..2026-11-10"}}},
		}},
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return b
}

// BenchmarkRenderAddresses is `calico-plan render` of one namespace whose
// entry has N distinct public addresses on one port: load and validate the
// allowlist file, render the Calico policy, write it as YAML. The time
// grows about linearly with N (README, Performance).
func BenchmarkRenderAddresses(b *testing.B) {
	p := profile.Default()
	for _, n := range []int{2000, 20000, 200000} {
		file := publicAllowlist(n)
		b.Run(fmt.Sprintf("addresses=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(file)))
			for i := 0; i < b.N; i++ {
				ns, err := allowlist.ParseNamespace(file, "shop.yaml")
				if err != nil {
					b.Fatal(err)
				}
				pol, err := Namespace(ns, Options{Flavor: FlavorCalico, Profile: p, Source: "shop.yaml"})
				if err != nil {
					b.Fatal(err)
				}
				if err := EncodeYAML(io.Discard, Header("shop.yaml"), pol.Objects...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
