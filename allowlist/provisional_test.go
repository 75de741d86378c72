package allowlist

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/profile"
)

func TestProvisionalDescribesAnAggregator(t *testing.T) {
	p := profile.Default()
	fs := demoFlows(t)
	a := aggregate(p, fs[len(fs)-300:])
	prov := NewProvisional(a, 1795000000)
	require.Equal(t, Time(1795000000), prov.From)
	require.Equal(t, a.Stats.Records, prov.Ingest.Records)
	require.Equal(t, a.Stats.Used, prov.Ingest.Used)
	require.NotEmpty(t, prov.Ingest.Skipped)
	var flowsSum int64
	for _, s := range prov.Sums {
		flowsSum += s.Flows
		require.True(t, ValidPeerKind(s.Peer.Kind))
		_, err := ParsePortSpec(s.Port)
		require.NoError(t, err)
		require.False(t, s.Flows == 0 && s.Bytes == 0)
	}
	require.Equal(t, a.Len(), len(prov.Sums))
	var want int64
	for _, ac := range a.accs {
		want += ac.ev.Flows
	}
	require.Equal(t, want, flowsSum)
	require.Equal(t, prov, NewProvisional(a, 1795000000), "deterministic")
}

// Counting a window, taking its provisional sums back out and counting it
// again (more documents included) gives what counting once gives, also
// across a save and reload of the store.
func TestSubtractProvisionalMakesRecountingExact(t *testing.T) {
	p := profile.Default()
	fs := demoFlows(t)
	cut := len(fs) * 2 / 3
	overlapFrom := cut - 400
	// The first run saw fs[:cut] but only part of the overlap (late
	// documents missing); the second reads fs[overlapFrom:].
	var firstRun, firstOverlap []int
	for i := 0; i < cut; i++ {
		if i >= overlapFrom && i%3 == 0 {
			continue // indexed late
		}
		firstRun = append(firstRun, i)
		if i >= overlapFrom {
			firstOverlap = append(firstOverlap, i)
		}
	}
	pick := func(idx []int) *Aggregator {
		a := NewAggregator(NewClassifier(p))
		for _, i := range idx {
			a.Add(&fs[i])
		}
		return a
	}
	var rest []int
	for i := overlapFrom; i < len(fs); i++ {
		rest = append(rest, i)
	}

	once, err := Open(t.TempDir(), p)
	require.NoError(t, err)
	once.Apply(aggregate(p, fs))

	dir := t.TempDir()
	st, err := Open(dir, p)
	require.NoError(t, err)
	st.Apply(pick(firstRun))
	sums := NewProvisional(pick(firstOverlap), 1)
	require.NoError(t, st.Save())
	st, err = Open(dir, p)
	require.NoError(t, err)
	require.Zero(t, st.SubtractProvisional(sums))
	st.Apply(pick(rest))
	require.Equal(t, renderStore(t, once), renderStore(t, st))
}

func TestSubtractProvisionalEdgeCases(t *testing.T) {
	p := profile.Default()
	fs := demoFlows(t)
	st, err := Open(t.TempDir(), p)
	require.NoError(t, err)
	a := aggregate(p, fs[:200])
	st.Apply(a)
	sums := NewProvisional(aggregate(p, fs[:200]), 0)
	// Twice: the second subtraction finds nothing left and stops at zero.
	require.Zero(t, st.SubtractProvisional(sums))
	require.Zero(t, st.SubtractProvisional(sums))
	for _, n := range st.Namespaces() {
		for _, m := range n.accs {
			for _, ac := range m {
				require.Zero(t, ac.ev.Flows)
				require.Zero(t, ac.ev.Bytes)
				require.NotZero(t, ac.ev.FirstSeen, "the rest of the evidence stays")
			}
		}
	}
	require.Zero(t, st.Meta.Ingest.Records)
	require.Empty(t, st.Meta.Ingest.Skipped)

	// An entry removed from the store by hand cannot be matched.
	gone := ProvisionalSum{Namespace: "nowhere", Class: "egress", Peer: Peer{Kind: PeerPublic}, Port: "TCP/443", Flows: 1}
	bad := ProvisionalSum{Namespace: fs[0].Source.Namespace, Class: "sideways", Peer: Peer{Kind: PeerPublic}, Port: "TCP/443", Flows: 1}
	require.Equal(t, 2, st.SubtractProvisional(&Provisional{Sums: []ProvisionalSum{gone, bad}}))
}
