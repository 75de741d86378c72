package observe

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows/goldmane"
	"github.com/calico-plan/calico-plan/flows/goldmane/goldmanetest"
	pb "github.com/calico-plan/calico-plan/flows/goldmanepb"
	"github.com/calico-plan/calico-plan/internal/config"
)

// storeTotals sums the flows and bytes of every egress and denied entry.
func storeTotals(t *testing.T, st *allowlist.Store) (flowsN, bytes int64) {
	t.Helper()
	_, err := st.Render() // builds the entries
	require.NoError(t, err)
	for _, n := range st.Namespaces() {
		for _, list := range [][]allowlist.Entry{n.Egress, n.Denied} {
			for _, e := range list {
				tot := e.Total()
				flowsN += tot.Flows
				bytes += tot.Bytes
			}
		}
	}
	return flowsN, bytes
}

// Goldmane aligns its 15 s buckets to its own start, not to the epoch, so
// one bucket straddles UTC midnight. GoldmaneList lists one UTC day at a
// time and Goldmane returns only the buckets that lie wholly inside a
// window: the straddling bucket must still be listed (by the next day's
// window), not lost.
func TestGoldmaneListKeepsTheBucketAcrossMidnight(t *testing.T) {
	all := goldmaneDemo(t, 3*time.Hour)
	pki, err := goldmanetest.NewPKI()
	require.NoError(t, err)
	// Goldmane started 7 s after a 15 s epoch boundary.
	now1 := gmStart.Add(110 * time.Minute) // 23:50
	srv, err := goldmanetest.NewServer(goldmanetest.Options{PKI: pki, Now: now1, Origin: gmStart.Add(7 * time.Second), Retention: time.Hour})
	require.NoError(t, err)
	require.NoError(t, srv.Start())
	t.Cleanup(srv.Stop)
	add := func(from, to time.Time) {
		for _, f := range all {
			if f.StartTime >= from.Unix() && f.StartTime < to.Unix() {
				srv.Add(f)
			}
		}
	}
	add(gmStart, now1)
	c := dialGoldmane(t, srv, pki)
	st, err := allowlist.Open(t.TempDir(), config.Default())
	require.NoError(t, err)
	clock := now1
	opt := GoldmaneOptions{Client: c, SourceID: "goldmane:test", Now: func() time.Time { return clock }}
	first, err := GoldmaneList(context.Background(), st, opt)
	require.NoError(t, err)

	// Half an hour later, across midnight.
	clock = gmStart.Add(140 * time.Minute) // 00:20
	srv.SetNow(clock)
	add(now1, clock)
	second, err := GoldmaneList(context.Background(), st, opt)
	require.NoError(t, err)
	require.Equal(t, first.To, second.From)
	require.Empty(t, second.Gaps)

	// Every flow in a bucket Goldmane still held at the first run and that
	// ends by the watermark, counted once.
	want, err := allowlist.Open(t.TempDir(), config.Default())
	require.NoError(t, err)
	m := &mapper{agg: allowlist.NewAggregator(allowlist.NewClassifier(want.Profile()))}
	for _, f := range all {
		b := srv.BucketStart(time.Unix(f.StartTime, 0)).Unix()
		if b >= now1.Add(-time.Hour).Unix() && b+15 <= second.To.Unix() {
			require.NoError(t, m.add(&pb.FlowResult{Flow: f}))
		}
	}
	want.Apply(m.agg)
	wantFlows, wantBytes := storeTotals(t, want)
	gotFlows, gotBytes := storeTotals(t, st)
	require.Equal(t, wantBytes, gotBytes, "bytes")
	require.Equal(t, wantFlows, gotFlows, "flows")
}

// When a listing is repeated because results shifted while paging, the
// flows of the discarded attempts are not counted in the results (nor in
// the source record's count).
func TestGoldmaneListRetriesCountOnce(t *testing.T) {
	all := goldmaneDemo(t, time.Hour)
	now := gmStart.Add(50 * time.Minute)
	run := func(unstable bool) (*GoldmaneResult, *allowlist.Store) {
		srv, pki := startGoldmane(t, now)
		for _, f := range all {
			if f.StartTime < now.Unix() {
				srv.Add(f)
			}
		}
		var calls atomic.Int64
		shift := grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			err := invoker(ctx, method, req, reply, cc, opts...)
			if r, ok := reply.(*pb.FlowListResult); ok && unstable && r.GetMeta() != nil {
				// Every other page reports one more result: data arriving.
				r.Meta.TotalResults += calls.Add(1) % 2
			}
			return err
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := goldmane.Dial(ctx, goldmane.Config{Addr: srv.Addr(), CertPEM: pki.ClientCertPEM, KeyPEM: pki.ClientKeyPEM, CAPEM: pki.CAPEM,
			DialOptions: []grpc.DialOption{shift}})
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		st, err := allowlist.Open(t.TempDir(), config.Default())
		require.NoError(t, err)
		res, err := GoldmaneList(context.Background(), st, GoldmaneOptions{Client: c, SourceID: "goldmane:test", PageSize: 20, AllowPartial: unstable,
			Now: func() time.Time { return now }})
		require.NoError(t, err)
		return res, st
	}
	stable, _ := run(false)
	shifted, st := run(true)
	require.Greater(t, stable.Results, int64(20))
	require.Equal(t, stable.Results, shifted.Results)
	require.Equal(t, stable.Results, st.FindSource(allowlist.SourceGoldmane, "goldmane:test").Records)
	require.NotEmpty(t, st.Meta.Warnings)
}
