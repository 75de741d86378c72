package elasticsearch_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/calico-plan/calico-plan/flows"
	es "github.com/calico-plan/calico-plan/flows/elasticsearch"
	"github.com/calico-plan/calico-plan/flows/elasticsearch/estest"
)

// printSink prints what the source delivers: with aggregations pushed down,
// one bucket per allowlist key with the evidence Elasticsearch summed.
type printSink struct{}

func (printSink) Bucket(b *es.Bucket) error {
	f := &b.Flow
	fmt.Printf("%s -> %s %s/%d: %d documents, %d flows, %d bytes\n",
		f.Source.Namespace, f.Dest.IP, f.Proto, f.Dest.Port, b.Docs, b.Flows, b.Bytes)
	return nil
}

func (printSink) Flow(*flows.Flow, bool) error { return nil }

// Observe Calico Enterprise flow logs in Elasticsearch with the aggregation
// pushed down (here an in-process server that speaks the documented API).
func ExampleClient_Observe() {
	srv, err := estest.NewServer(estest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	index := "tigera_secure_ee_flows.cluster.fluentd-20261113-000001"
	srv.CreateIndex(index, nil)
	var fs []flows.Flow
	for i := int64(0); i < 3; i++ {
		fs = append(fs, flows.Flow{
			Start: 1763000000 + 300*i, End: 1763000300 + 300*i,
			Source:   flows.Endpoint{Type: flows.EndpointWorkload, NameAggr: "api-*", Namespace: "shop", Labels: []string{"app=api"}},
			Dest:     flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", IP: netip.MustParseAddr("93.184.216.34"), Port: 443, Labels: []string{}},
			Proto:    flows.ProtoTCP,
			Action:   flows.ActionAllow,
			Reporter: flows.ReporterSrc,
			NumFlows: 2, Bytes: 1000,
		})
	}
	if _, err := srv.AddFlows(index, "cluster", fs); err != nil {
		fmt.Println(err)
		return
	}

	c, err := es.NewClient(es.Config{URL: srv.URL})
	if err != nil {
		fmt.Println(err)
		return
	}
	q := es.Query{From: time.Unix(1762990000, 0), To: time.Unix(1763010000, 0)}
	if _, err := c.Observe(context.Background(), q, printSink{}); err != nil {
		fmt.Println(err)
	}
	// Output:
	// shop -> 93.184.216.34 tcp/443: 3 documents, 6 flows, 3000 bytes
}
