package goldmane_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/flows/goldmane"
	"github.com/calico-plan/calico-plan/flows/goldmane/goldmanetest"
	pb "github.com/calico-plan/calico-plan/flows/goldmanepb"
)

// Goldmane's clock, not this machine's, is read: from the times Goldmane
// names when it refuses an empty window, or, when it names none, by
// bisection over its accept/refuse answers.
func TestServerNow(t *testing.T) {
	for _, skew := range []time.Duration{-5 * time.Minute, 0, 5 * time.Minute} {
		for _, hide := range []bool{false, true} {
			now := time.Now().Add(skew).Truncate(time.Second)
			srv := startServer(t, goldmanetest.Options{Now: now, HideWindowTimes: hide})
			c := dial(t, srv)
			got, err := c.ServerNow(context.Background())
			require.NoError(t, err)
			require.Equal(t, now, got, "skew %s, times hidden %v", skew, hide)
			if hide {
				require.Greater(t, srv.Stats().Lists, 10, "bisection")
			} else {
				require.Equal(t, 1, srv.Stats().Lists, "one List")
			}
		}
	}
	// A clock more than two days off cannot be bisected: a clear error.
	srv := startServer(t, goldmanetest.Options{Now: time.Now().Add(-72 * time.Hour), HideWindowTimes: true})
	_, err := dial(t, srv).ServerNow(context.Background())
	require.ErrorContains(t, err, "cannot read the server's clock")
	// An unreachable server is a connection error, not a clock.
	srv = startServer(t, goldmanetest.Options{})
	c := dial(t, srv)
	srv.Stop()
	_, err = c.ServerNow(context.Background())
	require.Error(t, err)
	require.NotContains(t, err.Error(), "clock")
}

// Goldmane lists a key whose buckets in the window all end after the
// window's end as an empty aggregate (start and end 0, every counter 0);
// such results are not flows.
func TestListSkipsEmptyAggregates(t *testing.T) {
	srv := startServer(t, goldmanetest.Options{Now: time.Unix(t0+120, 0)})
	srv.Add(egress(1, t0), egress(2, t0), egress(2, t0+15), egress(3, t0+15))
	c := dial(t, srv)
	var got []*pb.Flow
	info, err := c.List(context.Background(), time.Unix(t0, 0), time.Unix(t0+22, 0), 0, func(r *pb.FlowResult) error {
		got = append(got, r.GetFlow())
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, int64(3), info.TotalResults, "the server lists app3 too")
	require.Equal(t, 1, info.Empty, "app3 has only the bucket that ends after the window")
	require.Equal(t, 2, info.Results)
	for _, f := range got {
		require.Equal(t, t0, f.GetStartTime())
		require.Equal(t, t0+15, f.GetEndTime())
	}
}

func TestFirstBucket(t *testing.T) {
	srv := startServer(t, goldmanetest.Options{Now: time.Unix(t0+600, 0)})
	srv.Add(egress(1, t0+5*15), egress(2, t0+9*15+3))
	c := dial(t, srv)
	first := func(lo, hi int64) (int64, bool) {
		got, ok, err := c.FirstBucket(context.Background(), time.Unix(lo, 0), time.Unix(hi, 0), 15*time.Second)
		require.NoError(t, err)
		if !ok {
			return 0, false
		}
		return got.Unix(), true
	}
	end := t0 + 600
	for _, tc := range []struct {
		lo   int64
		want int64
		ok   bool
	}{
		{t0, t0 + 75, true},
		{t0 + 40, t0 + 75, true},
		{t0 + 79, t0 + 75, true}, // the bucket that straddles lo counts
		{t0 + 90, t0 + 135, true},
		{t0 + 150, 0, false},
	} {
		got, ok := first(tc.lo, end)
		require.Equal(t, tc.ok, ok, "from %d", tc.lo-t0)
		require.Equal(t, tc.want, got, "from %d", tc.lo-t0)
	}
	_, ok := first(t0, t0+75)
	require.False(t, ok, "a bucket starting at hi is not before it")
}

// A Mark names keys of one bucket with Goldmane's ids: the same bucket
// comes back with the same ids until Goldmane restarts, which numbers the
// keys anew (or loses the bucket).
func TestCheckMark(t *testing.T) {
	srv := startServer(t, goldmanetest.Options{Now: time.Unix(t0+300, 0)})
	for k := 0; k < 12; k++ {
		srv.Add(egress(k, t0), egress(k, t0+15))
	}
	c := dial(t, srv)
	var mb goldmane.MarkBuilder
	_, err := c.List(context.Background(), time.Unix(t0, 0), time.Unix(t0+30, 0), 5, func(r *pb.FlowResult) error {
		mb.AddResult(r, 15*time.Second)
		return nil
	})
	require.NoError(t, err)
	m := mb.Mark()
	require.NotNil(t, m)
	require.Equal(t, time.Unix(t0+15, 0), m.Bucket, "the newest bucket")
	require.Len(t, m.Keys, goldmane.MarkKeys)
	// The first call after a server restart may meet the old, broken
	// connection: check once the client has reconnected.
	check := func() (restarted bool) {
		require.Eventually(t, func() bool {
			var err error
			restarted, err = c.CheckMark(context.Background(), m, 15*time.Second, 5)
			return err == nil
		}, 5*time.Second, time.Millisecond)
		return restarted
	}
	require.False(t, check())

	// Restarted, and Felix resent the bucket: same keys, new ids.
	srv.Crash()
	for k := 11; k >= 0; k-- {
		srv.Add(egress(k, t0+15))
	}
	require.NoError(t, srv.Start())
	require.True(t, check())

	// Restarted without that bucket.
	srv.Crash()
	require.NoError(t, srv.Start())
	require.True(t, check())
}
