package rollout

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/config"
)

func TestPromoteToStaged(t *testing.T) {
	p := config.Default()
	n := observed(t, "ns", "2026-11-01T00:00:00Z", "2026-11-20T00:00:00Z")
	ch := Change{At: at(t, "2026-11-21T09:00:00Z"), Reason: "wave 1", By: "viktor"}
	c, err := Promote(n, allowlist.StageStaged, env(t, p, factsWith("ns"), "2026-11-20T00:00:00Z"), ch)
	require.NoError(t, err)
	require.True(t, c.OK())
	require.Equal(t, allowlist.Rollout{Stage: allowlist.StageStaged, Since: ch.At, Reason: "wave 1", By: "viktor",
		History: []allowlist.RolloutEvent{{From: "observe", To: "staged", At: ch.At, Reason: "wave 1", By: "viktor"}}}, n.Rollout)
}

func TestPromoteRefusedListsUnmetGates(t *testing.T) {
	p := config.Default()
	n := observed(t, "ns", "2026-11-01T00:00:00Z", "2026-11-20T00:00:00Z", "web-5d6e7-*")
	facts := factsWith("ns", cluster.CronJob{Name: "backup", Schedule: "0 3 * * 0"})
	before := n.Rollout
	_, err := Promote(n, allowlist.StageStaged, env(t, p, facts, "2026-11-20T00:00:00Z"), Change{At: at(t, "2026-11-21T00:00:00Z")})
	var refused *RefusedError
	require.ErrorAs(t, err, &refused)
	require.Contains(t, err.Error(), "promoting ns from observe to staged refused: 1 unmet gate(s):\n  - cronjob-seen/backup: pods never seen in flows")
	require.Contains(t, err.Error(), "pass --force --reason TEXT")
	require.Equal(t, before, n.Rollout, "a refusal changes nothing")

	// --force records the unmet gates.
	ch := Change{At: at(t, "2026-11-21T00:00:00Z"), Reason: "backup only writes to NFS", By: "viktor", Force: true}
	_, err = Promote(n, allowlist.StageStaged, env(t, p, facts, "2026-11-20T00:00:00Z"), ch)
	require.NoError(t, err)
	require.Equal(t, allowlist.StageStaged, n.Rollout.Stage)
	require.True(t, n.Rollout.Forced)
	ev := n.Rollout.History[0]
	require.True(t, ev.Forced)
	require.Len(t, ev.Unmet, 1)
	require.Contains(t, ev.Unmet[0], "cronjob-seen/backup: pods never seen")
	require.Equal(t, "backup only writes to NFS", ev.Reason)
}

func TestPromoteInvalidTransitions(t *testing.T) {
	p := config.Default()
	e := env(t, p, factsWith("ns"), "2026-11-20T00:00:00Z")
	ch := Change{At: at(t, "2026-11-21T00:00:00Z")}

	// observe → enforced skips staged: refused without force, even when
	// every other gate is met.
	n := observed(t, "ns", "2026-11-01T00:00:00Z", "2026-11-20T00:00:00Z")
	c, err := Promote(n, allowlist.StageEnforced, e, ch)
	require.ErrorContains(t, err, "stage-order: observe → enforced skips the staged stage")
	require.Len(t, c.Unmet(), 1)
	require.Equal(t, allowlist.StageObserve, n.Rollout.Stage)
	forced := ch
	forced.Force = true
	_, err = Promote(n, allowlist.StageEnforced, e, forced)
	require.NoError(t, err)
	require.Equal(t, allowlist.StageEnforced, n.Rollout.Stage)
	require.Contains(t, n.Rollout.History[0].Unmet[0], "stage-order")

	// enforced → staged is a rollback; enforced → enforced is a no-op.
	_, err = Promote(n, allowlist.StageStaged, e, forced)
	require.ErrorContains(t, err, "moving back to staged is a rollback: calico-plan rollback --namespace ns --to staged")
	_, err = Promote(n, allowlist.StageEnforced, e, forced)
	require.ErrorContains(t, err, "ns is already enforced")
	_, err = Promote(n, allowlist.StageObserve, e, forced)
	require.ErrorContains(t, err, `--to "observe": want staged or enforced`)

	ex := observed(t, "ns", "2026-11-01T00:00:00Z", "2026-11-20T00:00:00Z")
	ex.Rollout = allowlist.Rollout{Stage: allowlist.StageExcluded, Reason: "BitTorrent peers"}
	_, err = Promote(ex, allowlist.StageStaged, e, forced)
	require.ErrorContains(t, err, "excluded from the rollout (stage excluded: BitTorrent peers)")
}

func TestRollback(t *testing.T) {
	ch := func(at allowlist.Time, r string) Change { return Change{At: at, Reason: r, By: "oncall"} }
	n := observed(t, "ns", "2026-11-01T00:00:00Z", "2026-11-20T00:00:00Z")
	n.Rollout = allowlist.Rollout{Stage: allowlist.StageEnforced, Since: at(t, "2026-11-20T00:00:00Z")}

	// Default: one stage back.
	require.NoError(t, Rollback(n, "", ch(at(t, "2026-11-21T00:00:00Z"), "authentik lost its DB")))
	require.Equal(t, allowlist.StageStaged, n.Rollout.Stage)
	require.Equal(t, at(t, "2026-11-21T00:00:00Z"), n.Rollout.Since, "the staged clock restarts")
	require.NoError(t, Rollback(n, "", ch(at(t, "2026-11-22T00:00:00Z"), "")))
	require.Equal(t, allowlist.StageObserve, n.Rollout.Stage)
	require.Equal(t, []allowlist.RolloutEvent{
		{From: "enforced", To: "staged", At: at(t, "2026-11-21T00:00:00Z"), Reason: "authentik lost its DB", By: "oncall"},
		{From: "staged", To: "observe", At: at(t, "2026-11-22T00:00:00Z"), By: "oncall"},
	}, n.Rollout.History)

	require.ErrorContains(t, Rollback(n, "observe", ch(1, "")), "ns is already observe")
	require.ErrorContains(t, Rollback(n, "staged", ch(1, "")), "moving forward to staged is a promotion")
	require.ErrorContains(t, Rollback(n, "enforced", ch(1, "")), `--to "enforced": want observe, staged or excluded`)

	// Excluded: out of the rollout, and back to observe only.
	require.NoError(t, Rollback(n, "excluded", ch(2, "BitTorrent: stays in Log+Allow")))
	require.Equal(t, allowlist.StageExcluded, n.Rollout.Stage)
	require.ErrorContains(t, Rollback(n, "staged", ch(3, "")), "it can only go back to observe")
	require.NoError(t, Rollback(n, "", ch(3, "")))
	require.Equal(t, allowlist.StageObserve, n.Rollout.Stage)
}
