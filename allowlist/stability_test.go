package allowlist

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/profile"
)

func TestAssessStates(t *testing.T) {
	st := profile.Default().Stability // 7d minimum, 72h stabilization
	day := Time(86400)
	t0 := Time(1763000000)
	ns := func(from Time, firstSeens ...Time) *Namespace {
		n := &Namespace{Observation: Observation{From: from}}
		for _, fs := range firstSeens {
			n.Egress = append(n.Egress, Entry{Ports: []PortEvidence{{Port: "TCP/1", Evidence: Evidence{FirstSeen: fs}}}})
		}
		return n
	}
	cases := []struct {
		name string
		n    *Namespace
		now  Time
		want string
	}{
		{"no data", &Namespace{}, t0, StateNoData},
		{"new entry yesterday", ns(t0, t0, t0+9*day), t0 + 10*day, StateLearning},
		{"quiet 3 days but only 5 days observed", ns(t0, t0+2*day), t0 + 5*day, StateStabilizing},
		{"exactly at both thresholds", ns(t0, t0+4*day), t0 + 7*day, StateStable},
		{"observed long, quiet long", ns(t0, t0), t0 + 14*day, StateStable},
		{"just under stabilization", ns(t0, t0+11*day+1), t0 + 14*day, StateLearning},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Assess(tc.n, tc.now, st).State)
		})
	}
	// A gap restarts both clocks.
	n := ns(t0, t0)
	n.Observation.Gaps = []Gap{{From: t0 + 5*day, To: t0 + 6*day, Source: "goldmane", Reason: "retention"}}
	a := Assess(n, t0+10*day, st)
	require.Equal(t, StateStabilizing, a.State)
	require.Equal(t, t0+6*day, a.WindowStart)
	require.Equal(t, 4*24*time.Hour, a.Observed)
	require.Equal(t, t0+13*day, a.StableAt)
	n.Observation.Gaps[0].To = t0 + 9*day
	require.Equal(t, StateLearning, Assess(n, t0+10*day, st).State)
}
