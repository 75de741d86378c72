//go:build e2e

package kube

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/internal/cluster"
)

// TestRBACLimitedUsers: what users with less than the read-only access
// 'calico-plan snapshot --help' lists get from the real API server.
func TestRBACLimitedUsers(t *testing.T) {
	// No permissions at all: namespaces are required, so it fails, naming
	// the verb and resource to grant.
	nobody, err := env.srv.kubeconfig("e2e-nobody", nil)
	require.NoError(t, err)
	for _, cmd := range [][]string{
		{"snapshot"},
		{"waves", "--store", env.store},
	} {
		_, errs, err := calicoPlan(append(cmd, "--kubeconfig", nobody)...)
		require.Error(t, err, cmd)
		require.Contains(t, errs, `kube: list namespaces on `+env.srv.url+` is forbidden by RBAC: grant the verb "list" on "namespaces" (cluster-wide) to this user, or work offline with --cluster FILE`, cmd)
		require.Contains(t, errs, `User "e2e-nobody" cannot list resource "namespaces"`, "the API server's own message is kept")
	}

	// Namespaces only: the snapshot records what it could not read, says
	// which gates that affects, and those gates count as unmet.
	mustKubectl(t, "create", "clusterrole", "e2e-ns-reader", "--verb=list", "--resource=namespaces")
	mustKubectl(t, "create", "clusterrolebinding", "e2e-ns-reader", "--clusterrole=e2e-ns-reader", "--user=e2e-ns-reader")
	reader, err := env.srv.kubeconfig("e2e-ns-reader", nil)
	require.NoError(t, err)
	out, errs := mustCalicoPlan(t, "snapshot", "--kubeconfig", reader)
	facts, err := cluster.ParseSnapshot([]byte(out), "stdout")
	require.NoError(t, err)
	missing := map[string]string{}
	for _, m := range facts.Missing {
		missing[m.Resource] = m.Reason
	}
	for _, res := range []string{"cronjobs.batch", "nodes", "networkpolicies.networking.k8s.io"} {
		require.Equal(t, `list `+res+` is forbidden by RBAC (grant "list" on "`+res+`" to check this)`, missing[res], res)
		require.Contains(t, errs, "warning: could not check "+res+": list "+res+" is forbidden by RBAC", res)
	}
	for _, k := range cluster.CalicoKinds {
		res := k.Resource + ".projectcalico.org"
		require.Equal(t, `list `+res+` is forbidden by RBAC (grant "list" on "`+res+`" to check this)`, missing[res], res)
	}
	require.Len(t, facts.Namespaces, len(namespaceLabels(t)))

	waves, _ := mustCalicoPlan(t, "waves", "--store", env.store, "--kubeconfig", reader, "-o", "json")
	require.Contains(t, waves, "cronjob-facts", "CronJob gates cannot be checked, so they are unmet")
	full, _ := mustCalicoPlan(t, "waves", "--store", env.store, "--kubeconfig", env.srv.admin, "-o", "json")
	require.NotContains(t, full, "cronjob-facts", "with list on CronJobs the gate is met")

	// A certificate the API server does not trust.
	other, err := newPKI(t.TempDir())
	require.NoError(t, err)
	crt, key, err := other.issue("mallory", []string{"system:masters"}, false)
	require.NoError(t, err)
	untrusted, err := env.srv.writeKubeconfig("untrusted", crt, key)
	require.NoError(t, err)
	_, errs, err = calicoPlan("snapshot", "--kubeconfig", untrusted)
	require.Error(t, err)
	require.Contains(t, errs, "kube: list namespaces on "+env.srv.url+": the API server rejected the credentials (expired or invalid token or certificate): log in again or pick another --context/--kubeconfig, or work offline with --cluster FILE")
	require.False(t, strings.Contains(errs, string(key)), "no key material in messages")
}
