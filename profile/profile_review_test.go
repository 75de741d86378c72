package profile

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Profile values that end up in rendered policy (selectors, names) are
// validated, so that a typo gives a clear error here instead of a policy
// Calico rejects or a selector that means something else.
func TestProfileValuesThatReachPolicyAreValidated(t *testing.T) {
	for in, want := range map[string]string{
		"version: 1\ndns: {form: selector, namespace: \"kube'system\"}\n":          `dns.namespace: "kube'system" is not a valid namespace name`,
		"version: 1\ndns: {form: selector, selector: \"k8s-app == kube-dns\"}\n":   `dns.selector: invalid selector`,
		"version: 1\ndns: {form: selector, selector: \"global()\"}\n":              `dns.selector: "global()": global() is only valid`,
		"version: 1\nrollout: {observePolicy: {name: observe.tier34}}\n":           `rollout.observePolicy.name: "observe.tier34"`,
		"version: 1\nrollout: {observePolicy: {name: Observe}}\n":                  `rollout.observePolicy.name: "Observe"`,
		"version: 1\nrollout: {observePolicy: {tiers: [\"4-aux\", \"a\\\"b\"]}}\n": `rollout.observePolicy.tiers: "a\"b" is not a valid label value`,
		"version: 1\npolicy: {tier: adminnetworkpolicy}\n":                         `policy.tier: "adminnetworkpolicy" is a tier Calico reserves`,
	} {
		_, err := Parse([]byte(in), "p.yaml")
		require.ErrorContains(t, err, want, in)
	}
	for _, ok := range []string{
		"version: 1\nrollout: {observePolicy: {name: default.observe}}\n",
		"version: 1\ndns: {form: selector, namespace: openshift-dns, selector: \"dns.operator.openshift.io/daemonset-dns == 'default'\"}\n",
	} {
		_, err := Parse([]byte(ok), "p.yaml")
		require.NoError(t, err, ok)
	}
}
