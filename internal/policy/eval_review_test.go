package policy

import (
	"fmt"
	"testing"
)

// A rule selector compiles to an IP set of the endpoints (and network sets)
// it selects; a bare external address is in none of them, even for
// selectors an empty label set satisfies (all(), !has(k), k != 'v').
func TestSelectorNeverMatchesBareNetwork(t *testing.T) {
	const gnp = `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: cluster-only}
spec:
  selector: all()
  types: [Egress]
  egress:
  - action: Allow
    destination: {selector: %s}
`
	web := pod("shop", "app", "web")
	for _, sel := range []string{"all()", `"!has(role)"`, `"role != 'db'"`} {
		runEvalCases(t, []evalCase{
			{
				name:      "selector " + sel + " allows a pod",
				manifests: fmt.Sprintf(gnp, sel),
				flow:      tcp(web, pod("db", "app", "pg"), 5432),
				egress:    "allow default/cluster-only#0", ingress: "allow profile", allowed: true,
			},
			{
				name:      "selector " + sel + " does not allow a public address",
				manifests: fmt.Sprintf(gnp, sel),
				flow:      tcp(web, network("8.8.8.8"), 443),
				egress:    "deny default/cluster-only#eot", ingress: "n/a", allowed: false,
			},
		})
	}
	// notSelector: a bare address is never selected, so the rule matches.
	runEvalCases(t, []evalCase{{
		name: "notSelector all() matches a public address",
		manifests: `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: external-only}
spec:
  selector: all()
  types: [Egress]
  egress:
  - action: Allow
    destination: {notSelector: all()}
`,
		flow:   tcp(web, network("8.8.8.8"), 443),
		egress: "allow default/external-only#0", ingress: "n/a", allowed: true,
	}})
}
