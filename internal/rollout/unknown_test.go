package rollout

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/config"
)

// With only a Namespace list, a namespace whose flows show no CronJob pods
// has unknown CronJobs: not a failed gate, the operator decides with
// AcceptUnknown. One whose flows show CronJob pods still fails.
func TestCronJobFactsUnknownWithNamespaceList(t *testing.T) {
	p := config.Default()
	st := demoStore(t, p)
	facts := cluster.FromNamespaceLabels(demoFacts().NamespaceLabels(), "namespaces ns.yaml")
	env := NewEnv(st, facts, 0)

	c := Evaluate(st.Namespace("proxy"), allowlist.StageStaged, env)
	require.Len(t, c.Unmet(), 1)
	g := c.Unmet()[0]
	require.Equal(t, GateCronJobFacts, g.ID)
	require.True(t, g.Unknown)
	require.Len(t, c.Unknown(), 1)

	c = Evaluate(st.Namespace("nextcloud"), allowlist.StageStaged, env)
	for _, g := range c.Unmet() {
		if g.ID == GateCronJobFacts {
			require.False(t, g.Unknown, "nextcloud-backup pods were seen: their schedule matters")
			require.Contains(t, g.Reason, "nextcloud-backup-")
		}
	}

	// Without any facts it stays a failed gate.
	c = Evaluate(st.Namespace("proxy"), allowlist.StageStaged, NewEnv(st, nil, 0))
	require.False(t, c.Unmet()[0].Unknown)

	n := st.Namespace("proxy")
	_, err := Promote(n, allowlist.StageStaged, env, Change{At: env.Now})
	var refused *RefusedError
	require.ErrorAs(t, err, &refused)
	require.Contains(t, err.Error(), "--accept-unknown")
	_, err = Promote(n, allowlist.StageStaged, env, Change{At: env.Now, AcceptUnknown: true})
	require.NoError(t, err)
	require.Equal(t, allowlist.StageStaged, n.Rollout.Stage)
	require.False(t, n.Rollout.Forced)
	require.Equal(t, []string{"accepted as unknown: cronjob-facts"}, n.Rollout.History[0].Unmet)

	// AcceptUnknown does not pass a failed gate.
	_, err = Promote(st.Namespace("n8n"), allowlist.StageStaged, env, Change{At: env.Now, AcceptUnknown: true})
	require.ErrorAs(t, err, &refused)
}

// The plan names the next wave, which of its namespaces are ready and the
// gates that block the others.
func TestPlanNextWave(t *testing.T) {
	p := config.Default()
	st := demoStore(t, p)
	env := NewEnv(st, demoFacts(), 0)
	plan := MakePlan(st, env, PlanOptions{})
	require.NotNil(t, plan.Next)
	require.Equal(t, 1, plan.Next.Number)
	require.Equal(t, allowlist.StageStaged, plan.Next.To)
	require.Empty(t, plan.Next.Ready)
	require.Len(t, plan.Next.Blocked, 1)
	require.Equal(t, "recruiter-responder", plan.Next.Blocked[0].Name)

	// The pilot staged and enforced: wave 2 is next.
	rr := st.Namespace("recruiter-responder")
	rr.Rollout.Stage = allowlist.StageEnforced
	plan = MakePlan(st, env, PlanOptions{})
	require.Equal(t, 2, plan.Next.Number)
	require.Contains(t, plan.Next.Ready, "proxy")
	require.Equal(t, "calico-plan promote --wave 2 --to staged", plan.Next.Command)
	var b bytes.Buffer
	require.NoError(t, plan.WriteText(&b))
	require.Contains(t, b.String(), "next: wave 2 (4-aux) to staged: ")
	require.Contains(t, b.String(), "promote the ready ones (")
}
