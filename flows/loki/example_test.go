package loki_test

import (
	"context"
	"fmt"

	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/flows/loki"
	"github.com/calico-plan/calico-plan/flows/loki/lokitest"
)

// Read the observe policy's kernel LOG lines from Loki, oldest first, with
// the node each came from (here from an in-process server that speaks
// Loki's query_range API).
func ExampleClient_Read() {
	srv := lokitest.New([]lokitest.Stream{{
		Labels: map[string]string{"job": "node-journal", "transport": "kernel", "node": "node1"},
		Entries: []lokitest.Entry{
			{TS: 1779444672000000000, Line: "calico-packet: IN=cali6cfdec4abc1 OUT=ens18 SRC=10.10.1.7 DST=1.2.3.4 LEN=60 ID=1 PROTO=TCP SPT=40000 DPT=443"},
			{TS: 1779444673000000000, Line: "some other kernel message"},
		},
	}})
	defer srv.Close()
	c, err := loki.NewClient(loki.Config{URL: srv.URL})
	if err != nil {
		fmt.Println(err)
		return
	}
	sel := `{job="node-journal", transport="kernel"} |= "calico-packet: "`
	_, err = c.Read(context.Background(), sel, 1779444600000000000, 1779444700000000000, func(e flows.LokiEntry) error {
		fmt.Println(e.Time, e.Node, e.Line)
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// 1779444672000000000 node1 calico-packet: IN=cali6cfdec4abc1 OUT=ens18 SRC=10.10.1.7 DST=1.2.3.4 LEN=60 ID=1 PROTO=TCP SPT=40000 DPT=443
}
