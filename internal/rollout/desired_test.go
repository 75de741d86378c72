package rollout

import (
	"testing"

	"github.com/stretchr/testify/require"
	v1 "k8s.io/api/networking/v1"

	v3 "github.com/projectcalico/api/pkg/apis/projectcalico/v3"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/demo"
	"github.com/calico-plan/calico-plan/render"
)

// The desired state puts each namespace in the flavor its stage calls for,
// leaves observe namespaces out, and the observe policy leaves staged and
// enforced namespaces out by name.
func TestDesiredStateFollowsTheStages(t *testing.T) {
	p := config.Default()
	st := demoStore(t, p)
	st.Namespace("recruiter-responder").Rollout.Stage = allowlist.StageStaged
	st.Namespace("n8n").Rollout.Stage = allowlist.StageEnforced
	env := NewEnv(st, demo.Cluster(demo.DefaultOptions()), 0)

	d, err := DesiredState(st, env, DesiredOptions{})
	require.NoError(t, err)
	require.True(t, d.Rollout)
	var names []string
	for _, u := range d.Units {
		names = append(names, u.Name)
	}
	require.Equal(t, []string{"_tier", "_observe-policy", "n8n", "recruiter-responder"}, names)
	require.Equal(t, 2, d.Namespaces)
	rr := d.Unit("recruiter-responder")
	require.Equal(t, render.FlavorCalicoStaged, rr.Flavor)
	require.IsType(t, &v3.StagedNetworkPolicy{}, rr.Objects[0])
	n8n := d.Unit("n8n")
	require.Equal(t, render.FlavorCalico, n8n.Flavor)
	require.IsType(t, &v3.NetworkPolicy{}, n8n.Objects[0])
	gnp := d.Units[1].Objects[0].(*v3.GlobalNetworkPolicy)
	require.Contains(t, gnp.Spec.NamespaceSelector, `kubernetes.io/metadata.name not in {"n8n", "recruiter-responder"}`)
	require.Len(t, d.Labels, 2)
	require.Contains(t, d.Messages, "warning: n8n is enforced but Learning (new entry 24h0m0s ago (stabilization period 3d)): rendered anyway, since leaving it out would lift enforcement; review with 'calico-plan explain --namespace n8n'")

	// k8s for enforced namespaces; staged ones stay Calico staged.
	d, err = DesiredState(st, env, DesiredOptions{Enforced: render.FlavorK8s})
	require.NoError(t, err)
	require.IsType(t, &v1.NetworkPolicy{}, d.Unit("n8n").Objects[0])
	require.IsType(t, &v3.StagedNetworkPolicy{}, d.Unit("recruiter-responder").Objects[0])

	_, err = DesiredState(st, env, DesiredOptions{Enforced: render.FlavorCalicoStaged})
	require.ErrorContains(t, err, "the stage decides")

	// A partial source refuses enforced namespaces, not staged ones.
	st.Meta.Sources = append(st.Meta.Sources, allowlist.SourceRecord{Kind: "file", ID: "x.log", Partial: true})
	_, err = DesiredState(st, env, DesiredOptions{})
	require.ErrorContains(t, err, "enforced here: n8n")
	d, err = DesiredState(st, env, DesiredOptions{AllowPartial: true})
	require.NoError(t, err)
	require.Contains(t, d.Messages, "warning: source file x.log was read partially, so allowlists may miss entries")
}

// One wave: only its namespaces and their labels, no observe policy.
func TestDesiredStateOfAWave(t *testing.T) {
	p := config.Default()
	st := demoStore(t, p)
	st.Namespace("recruiter-responder").Rollout.Stage = allowlist.StageStaged
	env := NewEnv(st, demoFacts(), 0)
	d, err := DesiredState(st, env, DesiredOptions{Wave: 1})
	require.NoError(t, err)
	require.False(t, d.Rollout)
	require.Equal(t, "wave 1", d.What())
	require.Nil(t, d.Unit("n8n"))
	require.NotNil(t, d.Unit("recruiter-responder"))
	for _, u := range d.Units {
		require.NotEqual(t, "_observe-policy", u.Name)
	}
	_, err = DesiredState(st, env, DesiredOptions{Wave: 99})
	require.ErrorContains(t, err, "wave 99 does not exist")
}

// The observe policy is explicit in the profile: by default it is managed
// only on a cluster that has it, so a cluster without one never gets an
// allow-all policy from the default profile; always creates it, never
// leaves it alone; name, order, selector and the Log rule come from the
// profile.
func TestDesiredStateObservePolicyManagement(t *testing.T) {
	p := config.Default()
	st := demoStore(t, p)
	st.Namespace("recruiter-responder").Rollout.Stage = allowlist.StageStaged
	has := func(d *Desired) bool {
		for _, u := range d.Units {
			if u.Name == "_observe-policy" {
				return true
			}
		}
		return false
	}
	withGNP := demo.Cluster(demo.DefaultOptions())
	withoutGNP := demo.Cluster(demo.DefaultOptions())
	withoutGNP.CalicoObjects = nil

	d, err := DesiredState(st, NewEnv(st, withGNP, 0), DesiredOptions{})
	require.NoError(t, err)
	require.True(t, has(d), "the cluster has it: managed")

	d, err = DesiredState(st, NewEnv(st, withoutGNP, 0), DesiredOptions{})
	require.NoError(t, err)
	require.False(t, has(d), "the cluster lacks it: never created silently")
	require.Contains(t, d.Messages, "note: the cluster has no GlobalNetworkPolicy wave1-egress-observe-tier34, so none is rendered: the profile (rollout.observePolicy.manage: existing) never creates an allow-all policy; set manage: always to create one")

	d, err = DesiredState(st, NewEnv(st, nil, 0), DesiredOptions{})
	require.NoError(t, err)
	require.False(t, has(d))
	require.Contains(t, d.Messages[len(d.Messages)-1], "without cluster facts it is unknown whether the cluster has it")
	d, err = DesiredState(st, NewEnv(st, cluster.FromNamespaceLabels(withGNP.NamespaceLabels(), "ns.yaml"), 0), DesiredOptions{})
	require.NoError(t, err)
	require.False(t, has(d), "a Namespace list has no Calico objects")

	q, err := config.Parse([]byte("rollout:\n  observePolicy:\n    manage: always\n    name: observe-all\n    order: 3000\n    selector: app != 'noisy'\n    log: false\n"), "p.yaml")
	require.NoError(t, err)
	st2 := demoStore(t, q)
	st2.Namespace("recruiter-responder").Rollout.Stage = allowlist.StageStaged
	d, err = DesiredState(st2, NewEnv(st2, withoutGNP, 0), DesiredOptions{})
	require.NoError(t, err)
	require.True(t, has(d))
	gnp := d.Units[1].Objects[0].(*v3.GlobalNetworkPolicy)
	require.Equal(t, "observe-all", gnp.Name)
	require.Equal(t, 3000.0, *gnp.Spec.Order)
	require.Equal(t, "app != 'noisy'", gnp.Spec.Selector)
	require.Equal(t, []v3.Rule{{Action: v3.Allow}}, gnp.Spec.Egress, "log: false: no Log rule")

	q, err = config.Parse([]byte("rollout:\n  observePolicy:\n    manage: never\n"), "p.yaml")
	require.NoError(t, err)
	st3 := demoStore(t, q)
	st3.Namespace("recruiter-responder").Rollout.Stage = allowlist.StageStaged
	d, err = DesiredState(st3, NewEnv(st3, withGNP, 0), DesiredOptions{})
	require.NoError(t, err)
	require.False(t, has(d))
	require.Contains(t, d.Messages[len(d.Messages)-1], "manage: never): make sure it leaves out the staged and enforced namespaces (recruiter-responder)")

	_, err = config.Parse([]byte("rollout:\n  observePolicy:\n    manage: sometimes\n"), "p.yaml")
	require.ErrorContains(t, err, "rollout.observePolicy.manage: \"sometimes\": want existing, always or never")
}
