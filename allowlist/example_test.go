package allowlist_test

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/profile"
)

// Aggregate flows into allowlist entries, apply them to a store and save it;
// a reader opens the same directory and lists each namespace's egress.
func ExampleAggregator() {
	dir, err := os.MkdirTemp("", "allowlists")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	prof := profile.Default()

	agg := allowlist.NewAggregator(allowlist.NewClassifier(prof))
	for _, ip := range []string{"93.184.216.34", "93.184.216.35", "93.184.216.34"} {
		agg.Add(&flows.Flow{
			Start: 1700000000, End: 1700000300,
			Source:   flows.Endpoint{Type: flows.EndpointWorkload, NameAggr: "api-7d9c-*", Namespace: "shop"},
			Dest:     flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", IP: netip.MustParseAddr(ip), Port: 443},
			Proto:    flows.ProtoTCP,
			Action:   flows.ActionAllow,
			Reporter: flows.ReporterSrc,
			NumFlows: 1,
		})
	}
	st, err := allowlist.Open(dir, prof)
	if err != nil {
		fmt.Println(err)
		return
	}
	st.Apply(agg)
	if err := st.Save(); err != nil {
		fmt.Println(err)
		return
	}

	read, err := allowlist.OpenExisting(dir, prof)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ns := range read.Namespaces() {
		for _, e := range ns.Egress {
			specs, _ := e.PortSpecs()
			fmt.Printf("%s: %s %v, %d flows\n", ns.Namespace, e.Peer.Kind, e.Peer.Nets, e.Total().Flows)
			for _, s := range specs {
				fmt.Printf("  port %s/%d\n", s.Proto.CalicoName(), s.Port)
			}
		}
	}
	// Output:
	// shop: public [93.184.216.34/32 93.184.216.35/32], 3 flows
	//   port TCP/443
}
