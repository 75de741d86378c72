package profile

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDefaultMatchesTargetCluster(t *testing.T) {
	p := Default()
	require.Equal(t, "tier", p.Tiers.LabelKey)
	require.Equal(t, []string{"4-aux", "3-edge", "2-gpu", "1-cluster", "0-core"}, p.Tiers.Order)
	require.True(t, p.IsDNSAddress(netip.MustParseAddr("169.254.20.10")))
	require.True(t, p.IsDNSAddress(netip.MustParseAddr("10.96.0.10")))
	require.False(t, p.IsDNSAddress(netip.MustParseAddr("10.96.0.53")))
	require.True(t, p.IsPrivate(netip.MustParseAddr("10.0.20.100")))
	require.False(t, p.IsPrivate(netip.MustParseAddr("169.254.20.10")))
	require.True(t, p.IsPrivate(netip.MustParseAddr("::ffff:192.168.1.1")), "v4-mapped addresses are unmapped")
	require.Equal(t, 7*24*time.Hour, p.Stability.MinimumWindow.D())
	require.Equal(t, 72*time.Hour, p.Stability.StabilizationPeriod.D())
	require.True(t, p.IsNoiseLabel("pod-template-hash"))
	require.False(t, p.IsNoiseLabel("app"))
	require.True(t, p.Excluded("kube-system"))
	require.Equal(t, []string{"recruiter-responder"}, p.Rollout.Pinned)
}

func TestParseOverridesAndErrors(t *testing.T) {
	p, err := Parse([]byte("version: 1\nstability:\n  minimumWindow: 14d\nlabels:\n  noise: [\"team-*\"]\n"), "p.yaml")
	require.NoError(t, err)
	require.Equal(t, 14*24*time.Hour, p.Stability.MinimumWindow.D())
	require.Equal(t, 72*time.Hour, p.Stability.StabilizationPeriod.D(), "keys not set keep their defaults")
	require.True(t, p.IsNoiseLabel("team-a"))
	require.False(t, p.IsNoiseLabel("pod-template-hash"), "a list replaces the default list")

	for in, want := range map[string]string{
		"version: 1\nstabilty: {}\n":                       `p.yaml:2: stabilty: unknown key`,
		"version: 2\n":                                     "version: 2 is not supported",
		"version: 1\ndns: {form: magic}\n":                 `dns.form: "magic" is not`,
		"version: 1\ndns: {addresses: [\"10.0.0.300\"]}\n": `invalid address "10.0.0.300"`,
		"version: 1\npolicy: {tier: default}\n":            `policy.tier: "default" is not a valid non-default tier`,
		"version: 1\npolicy: {tierOrder: 2000000}\n":       "must be below the default tier",
		"version: 1\nstability: {minimumWindow: 7x}\n":     `invalid duration "7x"`,
		"version: 1\ntiers: {deferred: [9-x]}\n":           `tiers.deferred: "9-x" is not in tiers.order`,
		"version: 1\nexcludedNamespaces: [Kube_System]\n":  `excludedNamespaces: "Kube_System"`,
	} {
		_, err := Parse([]byte(in), "p.yaml")
		require.ErrorContains(t, err, want, in)
	}
}

func TestTierFor(t *testing.T) {
	p := Default()
	p.Tiers.NameRules = []NameRule{{Prefix: "aux-", Tier: "4-aux"}}
	tier, from := p.TierFor("shop", map[string]string{"tier": "3-edge"})
	require.Equal(t, "3-edge", tier)
	require.Equal(t, "label", from)
	tier, from = p.TierFor("aux-x", nil)
	require.Equal(t, "4-aux", tier)
	require.Equal(t, "name-rule", from)
	_, from = p.TierFor("other", map[string]string{})
	require.Equal(t, "", from)
}

func TestDurations(t *testing.T) {
	d, err := ParseDuration("1.5d")
	require.NoError(t, err)
	require.Equal(t, 36*time.Hour, d)
	require.Equal(t, "7d", FormatDuration(7*24*time.Hour))
	require.Equal(t, "1h30m0s", FormatDuration(90*time.Minute))
}

func TestAtFileNamesFileLineFieldProblem(t *testing.T) {
	require.Equal(t, `p.yaml:3: x: unknown key; p.yaml:5: y: unknown key`, AtFile("p.yaml", "line 3: x: unknown key; line 5: y: unknown key"))
	require.Equal(t, `c.yaml:2: not a snapshot: did not find expected node content`, AtFile("c.yaml", "not a snapshot: yaml: line 2: did not find expected node content"))
	require.Equal(t, `n.yaml: version 9 is not supported`, AtFile("n.yaml", "version 9 is not supported"))
}
