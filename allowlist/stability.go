package allowlist

import (
	"fmt"
	"time"

	"github.com/calico-plan/calico-plan/profile"
)

// Stability states.
const (
	StateNoData      = "NoData"
	StateLearning    = "Learning"
	StateStabilizing = "Stabilizing"
	StateStable      = "Stable"
)

// Assessment explains a namespace's stability state.
type Assessment struct {
	State string `json:"state"`
	// Now is the time the state was judged at: the newest observed flow
	// (or --now), never the wall clock alone.
	Now Time `json:"now"`
	// WindowStart is where the usable observation window begins: the
	// namespace's first flow, or the end of the latest gap after it.
	WindowStart  Time          `json:"windowStart"`
	Observed     time.Duration `json:"-"`
	LastNewEntry Time          `json:"lastNewEntry"`
	// Quiet is how long no new entry has appeared.
	Quiet time.Duration `json:"-"`
	// ObservedHours and QuietHours repeat Observed and Quiet for JSON.
	ObservedHours float64 `json:"observedHours"`
	QuietHours    float64 `json:"quietHours"`
	// StableAt is when the namespace becomes Stable if nothing new appears.
	StableAt Time   `json:"stableAt"`
	Reason   string `json:"reason"`
}

// Assess judges a namespace: Learning while a new entry appeared within the
// stabilization period; Stable once observed for at least the minimum
// window with no new entry for the stabilization period; Stabilizing in
// between. A recorded observation gap restarts both clocks.
func Assess(n *Namespace, now Time, st profile.Stability) Assessment {
	a := Assessment{Now: now}
	if n.Observation.From == 0 || now == 0 {
		a.State = StateNoData
		a.Reason = "no flows observed"
		return a
	}
	a.WindowStart = n.Observation.From
	for _, g := range n.Observation.Gaps {
		if g.To <= now && g.To > a.WindowStart {
			a.WindowStart = g.To
		}
	}
	a.LastNewEntry = lastNewEntry(n)
	quietFrom := a.LastNewEntry
	if a.WindowStart > quietFrom {
		quietFrom = a.WindowStart
	}
	a.Observed = time.Duration(now-a.WindowStart) * time.Second
	a.Quiet = time.Duration(now-quietFrom) * time.Second
	if a.Observed < 0 {
		a.Observed = 0
	}
	if a.Quiet < 0 {
		a.Quiet = 0
	}
	a.ObservedHours, a.QuietHours = a.Observed.Hours(), a.Quiet.Hours()
	stableAt := a.WindowStart + Time(st.MinimumWindow.D()/time.Second)
	if t := quietFrom + Time(st.StabilizationPeriod.D()/time.Second); t > stableAt {
		stableAt = t
	}
	a.StableAt = stableAt
	switch {
	case a.Quiet < st.StabilizationPeriod.D():
		a.State = StateLearning
		a.Reason = fmt.Sprintf("new entry %s ago (stabilization period %s)", roundDur(a.Quiet), profile.FormatDuration(st.StabilizationPeriod.D()))
	case a.Observed >= st.MinimumWindow.D():
		a.State = StateStable
		a.Reason = fmt.Sprintf("observed %s, no new entry for %s", roundDur(a.Observed), roundDur(a.Quiet))
	default:
		a.State = StateStabilizing
		a.Reason = fmt.Sprintf("observed %s of the %s minimum window", roundDur(a.Observed), profile.FormatDuration(st.MinimumWindow.D()))
	}
	return a
}

func roundDur(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%.1fd", d.Hours()/24)
	}
	return d.Round(time.Minute).String()
}
