package flows

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Every trace-string example of flow-logs.md §3, plus the legacy spellings
// of every policy kind (§3.2 tables) and the parsing rules of §3.3.
func TestParsePolicyHitReferenceExamples(t *testing.T) {
	cases := []struct {
		in   string
		want PolicyHit
	}{
		// §3.2 generation 1: four parts, no rule index.
		{"0|__PROFILE__|__PROFILE__.kns.kube-system|allow",
			PolicyHit{Index: 0, Kind: KindProfile, Name: "kns.kube-system", Action: ActionAllow, RuleIndex: RuleUnknown}},
		// §3.2 generation 2.
		{"0|calico-system|kube-system/calico-system.cluster-dns|allow|0",
			PolicyHit{Index: 0, Tier: "calico-system", Kind: KindCalicoNetworkPolicy, Namespace: "kube-system", Name: "cluster-dns", Action: ActionAllow, RuleIndex: 0}},
		{"1|app-hipstershop|hipstershop/app-hipstershop.checkoutservice|deny|-1",
			PolicyHit{Index: 1, Tier: "app-hipstershop", Kind: KindCalicoNetworkPolicy, Namespace: "hipstershop", Name: "checkoutservice", Action: ActionDeny, RuleIndex: RuleEndOfTier}},
		{"0|namespace-isolation|curl-ns/namespace-isolation.staged:curl-ns-vfzgh|allow|3",
			PolicyHit{Index: 0, Tier: "namespace-isolation", Kind: KindStagedNetworkPolicy, Namespace: "curl-ns", Name: "curl-ns-vfzgh", Action: ActionAllow, RuleIndex: 3}},
		// §3.2 generation 3.
		{"0|tier|gnp:name|allow|0",
			PolicyHit{Index: 0, Tier: "tier", Kind: KindGlobalNetworkPolicy, Name: "name", Action: ActionAllow}},
		{"1|tier|snp:namespace/name|deny|0",
			PolicyHit{Index: 1, Tier: "tier", Kind: KindStagedNetworkPolicy, Namespace: "namespace", Name: "name", Action: ActionDeny}},
		{"1|default|sknp:namespace/name|deny|3",
			PolicyHit{Index: 1, Tier: "default", Kind: KindStagedKubernetesNetworkPolicy, Namespace: "namespace", Name: "name", Action: ActionDeny, RuleIndex: 3}},
		{"1|__PROFILE__|pro:kns.default|allow|0",
			PolicyHit{Index: 1, Kind: KindProfile, Name: "kns.default", Action: ActionAllow}},
		{"0|kube-admin|kcnp:name|deny|1",
			PolicyHit{Index: 0, Tier: "kube-admin", Kind: KindClusterNetworkPolicy, Name: "name", Action: ActionDeny, RuleIndex: 1}},
		// §3.2 legacy name part by kind.
		{"0|t1|t1.gp|allow|0", PolicyHit{Tier: "t1", Kind: KindGlobalNetworkPolicy, Name: "gp", Action: ActionAllow}},
		{"0|t1|ns/t1.np|allow|0", PolicyHit{Tier: "t1", Kind: KindCalicoNetworkPolicy, Namespace: "ns", Name: "np", Action: ActionAllow}},
		{"0|default|ns/knp.default.kp|deny|2", PolicyHit{Tier: "default", Kind: KindKubernetesNetworkPolicy, Namespace: "ns", Name: "kp", Action: ActionDeny, RuleIndex: 2}},
		{"0|t1|t1.staged:sgp|allow|0", PolicyHit{Tier: "t1", Kind: KindStagedGlobalNetworkPolicy, Name: "sgp", Action: ActionAllow}},
		{"0|t1|ns/t1.staged:snp|pass|0", PolicyHit{Tier: "t1", Kind: KindStagedNetworkPolicy, Namespace: "ns", Name: "snp", Action: ActionPass}},
		{"0|default|ns/staged:knp.default.skp|deny|-1", PolicyHit{Tier: "default", Kind: KindStagedKubernetesNetworkPolicy, Namespace: "ns", Name: "skp", Action: ActionDeny, RuleIndex: RuleEndOfTier}},
		{"0|adminnetworkpolicy|kanp.adminnetworkpolicy.anp1|allow|0", PolicyHit{Tier: "adminnetworkpolicy", Kind: KindAdminNetworkPolicy, Name: "anp1", Action: ActionAllow}},
		{"0|baselineadminnetworkpolicy|kbanp.baselineadminnetworkpolicy.default|deny|0", PolicyHit{Tier: "baselineadminnetworkpolicy", Kind: KindBaselineAdminNetworkPolicy, Name: "default", Action: ActionDeny}},
		{"2|__PROFILE__|__PROFILE__.kns.shop|allow|0", PolicyHit{Index: 2, Kind: KindProfile, Name: "kns.shop", Action: ActionAllow}},
		{"2|__PROFILE__|__PROFILE__.ksa.shop.default|allow|0", PolicyHit{Index: 2, Kind: KindProfile, Name: "ksa.shop.default", Action: ActionAllow}},
		// §3.2 generation-3 short kinds not shown above.
		{"0|t|np:ns/n|allow|0", PolicyHit{Tier: "t", Kind: KindCalicoNetworkPolicy, Namespace: "ns", Name: "n", Action: ActionAllow}},
		{"0|t|sgnp:n|allow|0", PolicyHit{Tier: "t", Kind: KindStagedGlobalNetworkPolicy, Name: "n", Action: ActionAllow}},
		{"0|default|knp:ns/n|allow|0", PolicyHit{Tier: "default", Kind: KindKubernetesNetworkPolicy, Namespace: "ns", Name: "n", Action: ActionAllow}},
		{"3|t|eot:__NO_MATCH__|deny|-1", PolicyHit{Index: 3, Tier: "t", Kind: KindEndOfTier, Name: "__NO_MATCH__", Action: ActionDeny, RuleIndex: RuleEndOfTier}},
		{"0|adminnetworkpolicy|kanp:a|allow|0", PolicyHit{Tier: "adminnetworkpolicy", Kind: KindAdminNetworkPolicy, Name: "a", Action: ActionAllow}},
		{"0|baselineadminnetworkpolicy|kbanp:b|deny|0", PolicyHit{Tier: "baselineadminnetworkpolicy", Kind: KindBaselineAdminNetworkPolicy, Name: "b", Action: ActionDeny}},
		// §3.3 rule 3: staged: before the tier, as in the Docs datatypes example.
		{"1|tier2|ns2/staged:tier1.policy1|deny|1",
			PolicyHit{Index: 1, Tier: "tier2", Kind: KindStagedNetworkPolicy, Namespace: "ns2", Name: "policy1", Action: ActionDeny, RuleIndex: 1}},
		// §3.3 rule 2: text before ':' that is not a kind keeps the legacy parser.
		{"0|tier|ns/tier.staged:name|allow|0", PolicyHit{Tier: "tier", Kind: KindStagedNetworkPolicy, Namespace: "ns", Name: "name", Action: ActionAllow}},
		// §3.3 rule 4: the rest of a legacy name may contain dots.
		{"0|t|ns/t.my.dotted.policy|allow|0", PolicyHit{Tier: "t", Kind: KindCalicoNetworkPolicy, Namespace: "ns", Name: "my.dotted.policy", Action: ActionAllow}},
		// §3.1: "-" and -2 mean an unknown rule index.
		{"0|t|t.p|allow|-", PolicyHit{Tier: "t", Kind: KindGlobalNetworkPolicy, Name: "p", Action: ActionAllow, RuleIndex: RuleUnknown}},
		{"0|t|t.p|allow|-2", PolicyHit{Tier: "t", Kind: KindGlobalNetworkPolicy, Name: "p", Action: ActionAllow, RuleIndex: RuleUnknown}},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParsePolicyHit(c.in)
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
}

func TestParsePolicyHitMalformed(t *testing.T) {
	for _, in := range []string{
		"",
		"0|t|t.p",            // three parts
		"0|t|t.p|allow|0|x",  // six parts
		"x|t|t.p|allow|0",    // index not a number
		"-1|t|t.p|allow|0",   // negative index
		"0||t.p|allow|0",     // empty tier
		"0|t|t.p|accept|0",   // unknown action
		"0|t|t.p|allow|-3",   // rule index below -2
		"0|t|t.p|allow|one",  // rule index not a number
		"0|t||allow|0",       // empty name
		"0|t|gnp:|allow|0",   // gen 3 with empty name
		"0|t|/t.p|allow|0",   // empty namespace
		"0|t|np:ns/|allow|0", // gen 3 with empty name after namespace
		"0|t|ns/knp.default.|deny|0",
	} {
		_, err := ParsePolicyHit(in)
		require.Error(t, err, "%q", in)
		var te *TraceError
		require.ErrorAs(t, err, &te)
		require.Equal(t, in, te.Entry)
	}
}

// The observability sample lists its hits out of index order (§3.1:
// entries are stored unordered).
func TestParseTraceSortsByIndex(t *testing.T) {
	hits, err := ParseTrace([]string{
		"1|app-hipstershop|hipstershop/app-hipstershop.checkoutservice|deny|-1",
		"0|security|security.tenant-histershop|pass|0",
	})
	require.NoError(t, err)
	require.Len(t, hits, 2)
	require.Equal(t, 0, hits[0].Index)
	require.Equal(t, KindGlobalNetworkPolicy, hits[0].Kind)
	require.Equal(t, "tenant-histershop", hits[0].Name)
	require.Equal(t, 1, hits[1].Index)
	v, ok := Verdict(hits)
	require.True(t, ok)
	require.Equal(t, "checkoutservice", v.Name)
	require.Equal(t, ActionDeny, v.Action)

	// A bad entry is reported, the good ones kept.
	hits, err = ParseTrace([]string{"0|t|t.p|allow|0", "garbage"})
	require.Error(t, err)
	require.Len(t, hits, 1)
}

// §3.4: a pass followed by the profile's allow.
func TestVerdictPassThenProfile(t *testing.T) {
	hits, err := ParseTrace([]string{
		"1|__PROFILE__|__PROFILE__.kns.kube-system|allow|0",
		"0|calico-system|kube-system/calico-system.cluster-dns|pass|1",
	})
	require.NoError(t, err)
	v, ok := Verdict(hits)
	require.True(t, ok)
	require.Equal(t, KindProfile, v.Kind)
	require.Equal(t, "kns.kube-system", v.Name)
	_, ok = Verdict(hits[:1])
	require.False(t, ok, "a lone pass decides nothing")
}

func TestPolicyHitEndOfTierTrigger(t *testing.T) {
	h := PolicyHit{Index: 2, Tier: "app", Kind: KindEndOfTier, Action: ActionDeny, RuleIndex: RuleEndOfTier,
		Trigger: &PolicyHit{Kind: KindStagedNetworkPolicy, Namespace: "shop", Name: "restrict", Tier: "app", Action: ActionAllow, RuleIndex: 0}}
	p := h.Policy()
	require.Equal(t, KindStagedNetworkPolicy, p.Kind)
	require.Equal(t, 2, p.Index)
	require.Equal(t, ActionDeny, p.Action)
	require.Equal(t, RuleEndOfTier, p.RuleIndex)
	require.Nil(t, p.Trigger)
	require.True(t, h.Staged(), "staged end-of-tier deny: the breakage signal of §3.4")
	require.True(t, h.EndOfTier())
	require.Equal(t, "2|app|snp:shop/restrict|deny|-1", h.String())
	back, err := ParsePolicyHit(h.String())
	require.NoError(t, err)
	require.Equal(t, p, back)
}

// String renders generation 3, which parses back to the same hit.
func TestPolicyHitStringRoundTrip(t *testing.T) {
	for _, in := range []string{
		"0|calico-system|kube-system/calico-system.cluster-dns|allow|0",
		"0|__PROFILE__|__PROFILE__.kns.kube-system|allow",
		"1|tier2|ns2/staged:tier1.policy1|deny|1",
		"0|default|ns/staged:knp.default.skp|deny|-1",
		"0|kube-admin|kcnp:name|deny|1",
	} {
		h, err := ParsePolicyHit(in)
		require.NoError(t, err)
		back, err := ParsePolicyHit(h.String())
		require.NoError(t, err, h.String())
		require.Equal(t, h, back, "%s -> %s", in, h.String())
	}
}
