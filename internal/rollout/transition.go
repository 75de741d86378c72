package rollout

import (
	"fmt"
	"strings"

	"github.com/calico-plan/calico-plan/allowlist"
)

// Change describes who moves a namespace, when and why.
type Change struct {
	// At is when the change happens (the wall clock, or --now).
	At     allowlist.Time
	Reason string
	By     string
	// Force promotes despite unmet gates; they are recorded.
	Force bool
	// AcceptUnknown promotes despite gates the facts cannot decide
	// (Gate.Unknown): the operator decided; they are recorded.
	AcceptUnknown bool
}

// RefusedError is a promotion refused because gates are unmet.
type RefusedError struct{ Check *Check }

func (e *RefusedError) Error() string {
	unmet := e.Check.Unmet()
	var b strings.Builder
	fmt.Fprintf(&b, "promoting %s from %s to %s refused: %d unmet gate(s):", e.Check.Namespace, e.Check.From, e.Check.To, len(unmet))
	for _, g := range unmet {
		b.WriteString("\n  - " + g.String())
	}
	b.WriteString("\nfix them, or pass --force --reason TEXT to promote anyway (recorded with the unmet gates in the namespace's rollout history)")
	for _, g := range unmet {
		if g.Unknown {
			b.WriteString("; a gate marked unknown is yours to decide: --accept-unknown promotes past it (recorded), without --force")
			break
		}
	}
	return b.String()
}

var rank = map[string]int{allowlist.StageObserve: 0, allowlist.StageStaged: 1, allowlist.StageEnforced: 2}

// Promote moves a namespace forward to staged or enforced when every gate
// for it is met, or with ch.Force despite unmet gates (the event then
// records them). Invalid transitions are errors even with Force, except
// observe → enforced, which is a gate (stage-order) Force can override.
// It returns the gate check; on refusal the error is a *RefusedError.
func Promote(n *allowlist.Namespace, to string, env Env, ch Change) (*Check, error) {
	from := Stage(n)
	switch to {
	case allowlist.StageStaged, allowlist.StageEnforced:
	default:
		return nil, fmt.Errorf("promote: --to %q: want staged or enforced (rollback moves back, to observe or staged)", to)
	}
	if _, known := rank[from]; !known && from != allowlist.StageExcluded {
		return nil, fmt.Errorf("promote: %s has unknown stage %q (want observe, staged, enforced or excluded)", n.Namespace, from)
	}
	switch {
	case from == allowlist.StageExcluded:
		return nil, fmt.Errorf("promote: %s is excluded from the rollout (stage excluded%s); put it back first: calico-plan rollback --namespace %s --to observe", n.Namespace, reasonSuffix(n.Rollout.Reason), n.Namespace)
	case from == to:
		return nil, fmt.Errorf("promote: %s is already %s (since %s)", n.Namespace, to, n.Rollout.Since)
	case rank[from] > rank[to]:
		return nil, fmt.Errorf("promote: %s is %s; moving back to %s is a rollback: calico-plan rollback --namespace %s --to %s", n.Namespace, from, to, n.Namespace, to)
	}
	c := Evaluate(n, to, env)
	unmet := c.Unmet()
	var accepted []string
	if ch.AcceptUnknown {
		kept := unmet[:0:0]
		for _, g := range unmet {
			if g.Unknown {
				accepted = append(accepted, "accepted as unknown: "+g.ID)
				continue
			}
			kept = append(kept, g)
		}
		unmet = kept
	}
	if len(unmet) > 0 && !ch.Force {
		return c, &RefusedError{Check: c}
	}
	ev := allowlist.RolloutEvent{From: from, To: to, At: ch.At, Reason: ch.Reason, By: ch.By, Unmet: accepted}
	if len(unmet) > 0 {
		ev.Forced = true
		for _, g := range unmet {
			ev.Unmet = append(ev.Unmet, g.String())
		}
	}
	record(n, ev)
	return c, nil
}

// Rollback moves a namespace back: to observe or staged (to "" means one
// stage back: enforced → staged, staged → observe), or to excluded, which
// takes it out of the rollout (it stays under the observe policy). From
// excluded, only observe is valid. No gates apply.
func Rollback(n *allowlist.Namespace, to string, ch Change) error {
	from := Stage(n)
	if to == "" {
		switch from {
		case allowlist.StageEnforced:
			to = allowlist.StageStaged
		default:
			to = allowlist.StageObserve
		}
	}
	switch to {
	case allowlist.StageObserve, allowlist.StageStaged, allowlist.StageExcluded:
	default:
		return fmt.Errorf("rollback: --to %q: want observe, staged or excluded", to)
	}
	if _, known := rank[from]; !known && from != allowlist.StageExcluded {
		return fmt.Errorf("rollback: %s has unknown stage %q (want observe, staged, enforced or excluded)", n.Namespace, from)
	}
	switch {
	case from == to:
		return fmt.Errorf("rollback: %s is already %s (since %s)", n.Namespace, to, n.Rollout.Since)
	case to == allowlist.StageExcluded:
	case from == allowlist.StageExcluded:
		if to != allowlist.StageObserve {
			return fmt.Errorf("rollback: %s is excluded; it can only go back to observe, and be promoted from there", n.Namespace)
		}
	case rank[to] > rank[from]:
		return fmt.Errorf("rollback: %s is %s; moving forward to %s is a promotion: calico-plan promote --namespace %s --to %s", n.Namespace, from, to, n.Namespace, to)
	}
	record(n, allowlist.RolloutEvent{From: from, To: to, At: ch.At, Reason: ch.Reason, By: ch.By})
	return nil
}

func record(n *allowlist.Namespace, ev allowlist.RolloutEvent) {
	r := &n.Rollout
	r.History = append(r.History, ev)
	r.Stage, r.Since, r.Reason, r.By, r.Forced = ev.To, ev.At, ev.Reason, ev.By, ev.Forced
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return ": " + r
}
