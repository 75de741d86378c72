package goldmane_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/flows/goldmane"
	"github.com/calico-plan/calico-plan/flows/goldmane/goldmanetest"
	pb "github.com/calico-plan/calico-plan/flows/goldmanepb"
)

func heapAfterGC() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestFollowerSoak streams 1,000,000 flows (1,000 buckets of 1,000 keys)
// through the in-process server over mTLS and checks that the heap after the
// run is within 2x of the heap after the first 10,000.
func TestFollowerSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test: 1,000,000 flows")
	}
	const total, perBucket = 1_000_000, 1_000
	keys := make([]*pb.FlowKey, perBucket)
	labels := make([][]string, perBucket)
	for k := range keys {
		keys[k] = egress(k, 0).GetKey()
		labels[k] = []string{"app=" + appName(k), "pod-template-hash=7d9c5f", fmt.Sprintf("shard=%d", k%7)}
	}
	srv := startServer(t, goldmanetest.Options{
		// Every bucket streamed ended well before the server's now.
		Now: time.Unix(t0+total/perBucket*15+60, 0),
		StreamSource: func(ctx context.Context, req *pb.FlowStreamRequest, send func(*pb.FlowResult) error) error {
			for i := 0; i < total; i++ {
				b, k := int64(i/perBucket), i%perBucket
				st := req.GetStartTimeGte() + b*15
				err := send(&pb.FlowResult{Id: int64(k + 1), Flow: &pb.Flow{
					Key: keys[k], StartTime: st, EndTime: st + 15, SourceLabels: labels[k],
					PacketsIn: 1, PacketsOut: 2, BytesIn: 100, BytesOut: 200, NumConnectionsStarted: 1,
				}})
				if err != nil {
					return err
				}
			}
			<-ctx.Done()
			return ctx.Err()
		},
	})
	c := dial(t, srv)

	done := errors.New("soak done")
	var n, packets int64
	var heapFirst, heapLast uint64
	marks := 0
	f := goldmane.NewFollower(c, goldmane.FollowOptions{
		OnFlow: func(r *pb.FlowResult) error {
			n++
			packets += r.GetFlow().GetPacketsIn()
			switch n {
			case 10_000:
				heapFirst = heapAfterGC()
			case total:
				heapLast = heapAfterGC()
				return done
			}
			return nil
		},
		OnWatermark: func(time.Time) error { marks++; return nil },
		BackfillLag: 24 * time.Hour, // all from the stream
	})
	start := time.Now()
	err := f.Run(context.Background(), time.Unix(t0, 0))
	elapsed := time.Since(start)
	require.ErrorIs(t, err, done)
	t.Logf("soak: %d flows in %s (%.0f flows/s); heap after GC: %.1f MiB after 10,000, %.1f MiB after %d (ratio %.2f)",
		n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(),
		float64(heapFirst)/(1<<20), float64(heapLast)/(1<<20), n, float64(heapLast)/float64(heapFirst))
	require.Equal(t, int64(total), packets)
	require.Equal(t, int64(total), f.Stats().Delivered)
	require.Equal(t, total/perBucket-1, marks, "the watermark moves once per completed bucket")
	require.LessOrEqual(t, heapLast, 2*heapFirst, "memory must stay flat over a long follow")
}
