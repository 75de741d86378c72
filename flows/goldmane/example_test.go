package goldmane_test

import (
	"context"
	"fmt"
	"time"

	"github.com/calico-plan/calico-plan/flows/goldmane"
	"github.com/calico-plan/calico-plan/flows/goldmane/goldmanetest"
	pb "github.com/calico-plan/calico-plan/flows/goldmanepb"
)

// List the flows Goldmane aggregated over a window, over mTLS (here from an
// in-process Goldmane with a test PKI).
func ExampleClient_List() {
	pki, err := goldmanetest.NewPKI()
	if err != nil {
		fmt.Println(err)
		return
	}
	srv, err := goldmanetest.NewServer(goldmanetest.Options{PKI: pki, Now: time.Unix(1_700_000_000, 0)})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := srv.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Stop()
	for _, start := range []int64{1_699_999_955, 1_699_999_970} {
		srv.Add(&pb.Flow{
			Key: &pb.FlowKey{
				SourceName: "api-*", SourceNamespace: "shop", SourceType: pb.EndpointType_WorkloadEndpoint,
				DestName: "pub", DestNamespace: "-", DestType: pb.EndpointType_Network, DestPort: 443,
				DestServiceName: "-", DestServiceNamespace: "-", DestServicePortName: "-",
				Proto: "tcp", Reporter: pb.Reporter_Src, Action: pb.Action_Allow,
			},
			StartTime: start, NumConnectionsStarted: 2,
		})
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := goldmane.Dial(ctx, goldmane.Config{Addr: srv.Addr(), CertPEM: pki.ClientCertPEM, KeyPEM: pki.ClientKeyPEM, CAPEM: pki.CAPEM})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	_, err = c.List(ctx, time.Unix(1_699_999_900, 0), time.Unix(1_700_000_000, 0), 100, func(r *pb.FlowResult) error {
		k := r.GetFlow().GetKey()
		fmt.Printf("%s/%s -> %s:%d %s, %d connections\n", k.GetSourceNamespace(), k.GetSourceName(), k.GetDestName(), k.GetDestPort(), k.GetAction(), r.GetFlow().GetNumConnectionsStarted())
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// shop/api-* -> pub:443 Allow, 4 connections
}
