package goldmane_test

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/calico-plan/calico-plan/flows/goldmane"
	"github.com/calico-plan/calico-plan/flows/goldmane/goldmanetest"
	pb "github.com/calico-plan/calico-plan/flows/goldmanepb"
)

func TestListPaging(t *testing.T) {
	srv := startServer(t, goldmanetest.Options{Now: time.Unix(t0+300, 0)})
	a, b := t0+15, t0+60
	for k := 0; k < 25; k++ {
		srv.Add(egress(k, a))
	}
	for k := 20; k < 30; k++ {
		srv.Add(egress(k, b))
	}
	c := dial(t, srv)

	byName := map[string]*pb.Flow{}
	ids := map[int64]bool{}
	info, err := c.List(context.Background(), time.Time{}, time.Time{}, 10, func(r *pb.FlowResult) error {
		name := r.GetFlow().GetKey().GetSourceName()
		require.NotContains(t, byName, name, "a key is listed once per window")
		byName[name] = r.GetFlow()
		ids[r.GetId()] = true
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 3, info.Pages)
	require.Equal(t, 30, info.Results)
	require.Equal(t, int64(30), info.TotalResults)
	require.False(t, info.Unstable)
	require.Len(t, ids, 30)
	require.Equal(t, time.Unix(a, 0), info.Oldest)
	require.Equal(t, time.Unix(b, 0), info.Newest)

	// Keys 20-24 are in both buckets: List aggregates them over the window.
	f := byName[appName(22)]
	require.Equal(t, int64(2), f.GetPacketsIn())
	require.Equal(t, a, f.GetStartTime())
	require.Equal(t, b+15, f.GetEndTime())
	require.Equal(t, int64(1), byName[appName(3)].GetPacketsIn())

	// An exact page size boundary still ends.
	info, err = c.List(context.Background(), time.Time{}, time.Time{}, 15, func(*pb.FlowResult) error { return nil })
	require.NoError(t, err)
	require.Equal(t, 2, info.Pages)

	// The callback's error stops the listing and comes back as is.
	stop := errors.New("stop")
	n := 0
	info, err = c.List(context.Background(), time.Time{}, time.Time{}, 10, func(*pb.FlowResult) error {
		n++
		if n == 12 {
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop)
	require.Equal(t, 2, info.Pages)
}

func TestListTimeFilters(t *testing.T) {
	now := t0 + 120
	srv := startServer(t, goldmanetest.Options{Now: time.Unix(now, 0)})
	starts := []int64{t0, t0 + 15, t0 + 30, t0 + 120} // the last one is still filling at now
	for i, st := range starts {
		srv.Add(egress(i, st))
	}
	c := dial(t, srv)
	names := func(from, to time.Time) []string {
		var out []string
		_, err := c.List(context.Background(), from, to, 0, func(r *pb.FlowResult) error {
			out = append(out, r.GetFlow().GetKey().GetSourceName())
			return nil
		})
		require.NoError(t, err)
		sort.Strings(out)
		return out
	}
	// A bucket is in [from, to) when it starts at or after from and ends at
	// or before to.
	require.Equal(t, []string{appName(1)}, names(time.Unix(t0+15, 0), time.Unix(t0+30, 0)))
	require.Equal(t, []string{appName(1), appName(2)}, names(time.Unix(t0+15, 0), time.Unix(t0+45, 0)))
	require.Equal(t, []string{appName(1)}, names(time.Unix(t0+15, 0), time.Unix(t0+44, 0)), "a bucket ending after `to` is left out")
	// Zero from = oldest, zero to = now (the filling bucket ends after now).
	require.Equal(t, []string{appName(0), appName(1), appName(2)}, names(time.Time{}, time.Time{}))

	// Relative times through the raw request: the last 90 s = [t0+30, now).
	var got []string
	_, err := c.ListRequest(context.Background(), &pb.FlowListRequest{StartTimeGte: -90}, func(r *pb.FlowResult) error {
		got = append(got, r.GetFlow().GetKey().GetSourceName())
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []string{appName(2)}, got)

	// An empty window is refused by the server (Goldmane's plain error
	// arrives as Unknown), with its status kept.
	_, err = c.List(context.Background(), time.Unix(t0+30, 0), time.Unix(t0+30, 0), 0, func(*pb.FlowResult) error { return nil })
	require.Error(t, err)
	require.Equal(t, codes.Unknown, status.Code(err))
	require.Contains(t, err.Error(), srv.Addr())
}

func TestStreamSeveralBuckets(t *testing.T) {
	srv := startServer(t, goldmanetest.Options{Now: time.Unix(t0+60, 0)})
	for i := 0; i < 6; i++ {
		srv.Add(realisticFlows(t0 + int64(i)*15)...)
	}
	c := dial(t, srv)

	type rec struct {
		start int64
		name  string
	}
	got := make(chan rec, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- c.Stream(ctx, time.Unix(t0, 0), func(r *pb.FlowResult) error {
			f := r.GetFlow()
			require.Equal(t, f.GetStartTime()+15, f.GetEndTime(), "one bucket per result")
			got <- rec{f.GetStartTime(), f.GetKey().GetSourceName() + "->" + f.GetKey().GetDestName()}
			return nil
		})
	}()
	// At now = t0+60 buckets 0-2 are complete (a bucket is sent one
	// interval after it ends); then each 15 s completes one more.
	var recs []rec
	take := func(n int) {
		for i := 0; i < n; i++ {
			select {
			case r := <-got:
				recs = append(recs, r)
			case <-time.After(5 * time.Second):
				t.Fatalf("only %d results", len(recs))
			}
		}
	}
	take(3 * 4)
	srv.Advance(15 * time.Second)
	take(4)
	srv.Advance(30 * time.Second)
	take(8)
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)

	seen := map[rec]bool{}
	for i, r := range recs {
		require.False(t, seen[r], "duplicate %v", r)
		seen[r] = true
		if i > 0 {
			require.GreaterOrEqual(t, r.start, recs[i-1].start, "buckets arrive in order")
		}
	}
	require.Len(t, seen, 24)
	require.True(t, seen[rec{t0 + 75, "worker-*->pub"}])
	select {
	case r := <-got:
		t.Fatalf("unexpected extra result %v", r)
	default:
	}

	// From "now" (zero) the stream starts with the next bucket to complete.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	srv.Add(egress(99, t0+90))
	var first *pb.Flow
	go func() {
		errc <- c.Stream(ctx2, time.Time{}, func(r *pb.FlowResult) error {
			first = r.GetFlow()
			cancel2()
			return nil
		})
	}()
	// The bucket completes only once the stream is registered (the server
	// counts a stream when it has taken its starting point).
	require.Eventually(t, func() bool { return srv.Stats().Streams == 2 }, 5*time.Second, time.Millisecond)
	srv.Advance(15 * time.Second)
	require.ErrorIs(t, <-errc, context.Canceled)
	require.NotNil(t, first)
	require.Equal(t, t0+90, first.GetStartTime())
}

func TestStreamEndsWhenServerStops(t *testing.T) {
	srv := startServer(t, goldmanetest.Options{Now: time.Unix(t0+60, 0)})
	srv.Add(egress(1, t0))
	c := dial(t, srv)
	err := c.Stream(context.Background(), time.Unix(t0, 0), func(*pb.FlowResult) error {
		srv.Stop()
		return nil
	})
	require.Error(t, err)
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
}

func TestUnixArg(t *testing.T) {
	require.Equal(t, int64(0), goldmane.UnixArg(time.Time{}))
	require.Equal(t, t0, goldmane.UnixArg(time.Unix(t0, 0)))
}
