package render_test

import (
	"fmt"
	"os"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/profile"
	"github.com/calico-plan/calico-plan/render"
)

// Render one namespace's allowlist file as a staged Calico policy in YAML,
// ready for kubectl apply.
func ExampleNamespace() {
	ns, err := allowlist.ParseNamespace([]byte(`version: 1
namespace: shop
tier: 3-edge
tierSource: label
egress:
  - peer: {kind: public, nets: [93.184.216.34/32]}
    ports:
      - port: TCP/443
        flows: 3
        bytes: 120
        firstSeen: 2026-11-01T00:00:00Z
        lastSeen: 2026-11-20T00:00:00Z
`), "shop.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	pol, err := render.Namespace(ns, render.Options{Flavor: render.FlavorCalicoStaged, Profile: profile.Default(), Source: "shop.yaml"})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := render.EncodeYAML(os.Stdout, "", pol.Objects...); err != nil {
		fmt.Println(err)
	}
	// Output:
	// apiVersion: projectcalico.org/v3
	// kind: StagedNetworkPolicy
	// metadata:
	//   annotations:
	//     calico-plan.io/allowlist: shop.yaml
	//   labels:
	//     app.kubernetes.io/managed-by: calico-plan
	//   name: egress-allowlist.shop
	//   namespace: shop
	// spec:
	//   egress:
	//   - action: Allow
	//     destination:
	//       nets:
	//       - 10.96.0.10/32
	//       - 169.254.20.10/32
	//       ports:
	//       - 53
	//     metadata:
	//       annotations:
	//         calico-plan.io/entry: dns (cluster profile)
	//     protocol: UDP
	//   - action: Allow
	//     destination:
	//       nets:
	//       - 10.96.0.10/32
	//       - 169.254.20.10/32
	//       ports:
	//       - 53
	//     metadata:
	//       annotations:
	//         calico-plan.io/entry: dns (cluster profile)
	//     protocol: TCP
	//   - action: Allow
	//     destination:
	//       nets:
	//       - 93.184.216.34/32
	//       ports:
	//       - 443
	//     metadata:
	//       annotations:
	//         calico-plan.io/entry: public 93.184.216.34/32
	//     protocol: TCP
	//   - action: Deny
	//   order: 100
	//   selector: all()
	//   stagedAction: Set
	//   tier: egress-allowlist
	//   types:
	//   - Egress
}
