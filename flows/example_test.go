package flows_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/calico-plan/calico-plan/flows"
)

// Decode a Calico Enterprise flows.log file: the format is detected, and
// every valid record reaches the callback as a flows.Flow.
func ExampleDecode() {
	dir, _ := os.MkdirTemp("", "flows")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "flows.log")
	os.WriteFile(path, []byte(
		`{"start_time":1700000000,"end_time":1700000300,"source_ip":null,"source_name":"-","source_name_aggr":"api-7d9c-*","source_namespace":"shop","source_type":"wep","dest_ip":"93.184.216.34","dest_name":"-","dest_name_aggr":"pub","dest_namespace":"-","dest_port":443,"dest_type":"net","proto":"tcp","action":"allow","reporter":"src","num_flows":3,"bytes_in":100,"bytes_out":20}
{"start_time":1700000000,"end_time":1700000300,"source_ip":null,"source_name":"-","source_name_aggr":"api-7d9c-*","source_namespace":"shop","source_type":"wep","dest_ip":null,"dest_name":"-","dest_name_aggr":"db-0","dest_namespace":"data","dest_port":5432,"dest_type":"wep","proto":"tcp","action":"deny","reporter":"src","num_flows":1,"bytes_in":0,"bytes_out":60}
`), 0o644)

	f, err := os.Open(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	stats, err := flows.Decode(context.Background(), f, path, flows.Options{}, func(_ int, fl *flows.Flow) error {
		dest := fl.Dest.Namespace + "/" + fl.Dest.NameAggr
		if fl.Dest.IP.IsValid() {
			dest = fl.Dest.IP.String()
		}
		fmt.Printf("%s/%s -> %s %s/%d %s (%d flows, %d bytes)\n",
			fl.Source.Namespace, fl.Source.NameAggr, dest, fl.Proto, fl.Dest.Port, fl.Action, fl.NumFlows, fl.Bytes)
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: %d records, %d bad\n", stats.Format, stats.Records, stats.Bad)
	// Output:
	// shop/api-7d9c-* -> 93.184.216.34 tcp/443 allow (3 flows, 120 bytes)
	// shop/api-7d9c-* -> data/db-0 tcp/5432 deny (1 flows, 60 bytes)
	// enterprise: 2 records, 0 bad
}
