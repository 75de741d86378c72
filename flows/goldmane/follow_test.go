package goldmane_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/flows/goldmane"
	"github.com/calico-plan/calico-plan/flows/goldmane/goldmanetest"
	pb "github.com/calico-plan/calico-plan/flows/goldmanepb"
)

// syncBuffer is an io.Writer for the Follower's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type followRun struct {
	f    *goldmane.Follower
	rec  *recorder
	log  *syncBuffer
	stop context.CancelFunc
	done chan error
}

func follow(t *testing.T, srv *goldmanetest.Server, c *goldmane.Client, from time.Time, tweak func(*goldmane.FollowOptions)) *followRun {
	t.Helper()
	r := &followRun{rec: newRecorder(t), log: &syncBuffer{}, done: make(chan error, 1)}
	opts := goldmane.FollowOptions{
		OnFlow: r.rec.onFlow, OnGap: r.rec.onGap, OnWatermark: r.rec.onWatermark, OnWait: r.rec.onWait, Log: r.log,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, PageSize: 7, Poll: time.Millisecond,
	}
	if tweak != nil {
		tweak(&opts)
	}
	r.f = goldmane.NewFollower(c, opts)
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go func() { r.done <- r.f.Run(ctx, from) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
		if t.Failed() {
			t.Logf("follower log:\n%s", r.log.String())
		}
	})
	return r
}

// waitTotals waits until the recorder's totals equal the plan's for buckets
// [from, to), failing on any overshoot (a double count).
func (r *followRun) waitTotals(t *testing.T, p plan, from, to int) {
	t.Helper()
	wantP, wantB := p.expected(from, to)
	deadline := time.Now().Add(10 * time.Second)
	for {
		gotP, gotB := r.rec.totals()
		for k, v := range gotP {
			require.LessOrEqual(t, v, wantP[k], "%s delivered more than once", k)
		}
		if equalTotals(gotP, wantP) && equalTotals(gotB, wantB) {
			return
		}
		if time.Now().After(deadline) {
			require.Equal(t, wantP, gotP, "packets (one per bucket and key)")
			require.Equal(t, wantB, gotB, "bytes (bit i = bucket i)")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func equalTotals(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// step advances the server clock one bucket at a time.
func step(srv *goldmanetest.Server, n int) {
	for i := 0; i < n; i++ {
		srv.Advance(15 * time.Second)
	}
}

func TestFollowerRestartMidStream(t *testing.T) {
	p := plan{buckets: 40, keys: 6}
	// At t0+90 buckets 0-4 are complete.
	srv := startServer(t, goldmanetest.Options{Now: time.Unix(t0+90, 0)})
	srv.Add(p.flows()...)
	c := dial(t, srv)
	r := follow(t, srv, c, time.Unix(t0, 0), nil)

	// Buckets 0-1 come from the initial backfill (watermark < now-60s),
	// 2-4 from the stream's replay.
	r.waitTotals(t, p, 0, 5)
	require.Equal(t, int64(1), r.f.Stats().Fills)
	require.Equal(t, time.Unix(t0+60, 0), r.f.Watermark(), "bucket 4 is the open one")

	// Bucket 5 (4 keys) breaks after 3 results: the server goes away
	// mid-bucket.
	stopped := srv.Stopped()
	srv.FailStreamsAfter(3, true)
	step(srv, 1)
	<-stopped
	// Down for 5 minutes while 20 more buckets complete; the follower
	// fails to reconnect at least once before the server is back.
	srv.Advance(5 * time.Minute)
	require.Eventually(t, func() bool { return r.f.Stats().Reconnects >= 2 }, 5*time.Second, time.Millisecond)
	require.NoError(t, srv.Start())
	// Everything the server holds comes back exactly once: the rest of
	// bucket 5 (List of that bucket), 6-22 (backfill List), 23-25 (stream
	// replay), then live buckets as they complete.
	r.waitTotals(t, p, 0, 26)
	step(srv, 14)
	r.waitTotals(t, p, 0, 40)
	require.Eventually(t, func() bool { return !r.f.Watermark().Before(time.Unix(t0+39*15, 0)) }, 5*time.Second, 5*time.Millisecond)

	st := r.f.Stats()
	require.GreaterOrEqual(t, st.Reconnects, int64(1))
	require.Equal(t, int64(2), st.Fills)
	require.GreaterOrEqual(t, st.Duplicates, int64(3), "the 3 results of bucket 5 seen before the break are dropped")
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	require.Empty(t, r.rec.duplicate)
	require.Empty(t, r.rec.gaps, "the server kept everything")
	require.Contains(t, r.log.String(), "reconnecting in")
	require.Contains(t, r.log.String(), "backfilling")
	t.Logf("follower log:\n%s", r.log.String())
}

func TestFollowerStreamResetMidBucket(t *testing.T) {
	p := plan{buckets: 12, keys: 6}
	srv := startServer(t, goldmanetest.Options{Now: time.Unix(t0+60, 0)})
	srv.Add(p.flows()...)
	c := dial(t, srv)
	// Starting from a recent watermark needs no backfill: the stream
	// replays buckets 0-2.
	r := follow(t, srv, c, time.Unix(t0+10, 0), nil)
	r.waitTotals(t, p, 0, 3)
	require.Equal(t, int64(0), r.f.Stats().Fills)

	// Reset the stream twice in the middle of buckets; no restart.
	srv.FailStreamsAfter(2, false)
	step(srv, 1)
	r.waitTotals(t, p, 0, 4)
	srv.FailStreamsAfter(5, false)
	step(srv, 2)
	r.waitTotals(t, p, 0, 6)
	step(srv, 6)
	r.waitTotals(t, p, 0, 12)
	st := r.f.Stats()
	require.GreaterOrEqual(t, st.Reconnects, int64(2))
	require.GreaterOrEqual(t, st.Streams, int64(3))
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	require.Empty(t, r.rec.duplicate)
	require.Empty(t, r.rec.gaps)
}

func TestFollowerRetentionGap(t *testing.T) {
	// An hour of buckets, of which the server keeps the last 10 minutes.
	now := t0 + 3600
	srv := startServer(t, goldmanetest.Options{Now: time.Unix(t0, 0), Retention: 10 * time.Minute})
	for i := 0; i < 240; i++ {
		srv.Add(egress(1, t0+int64(i)*15), egress(2, t0+int64(i)*15))
	}
	srv.SetNow(time.Unix(now, 0))
	oldest := srv.Buckets()[0]
	require.Equal(t, time.Unix(now-600, 0), oldest)

	c := dial(t, srv)
	r := follow(t, srv, c, time.Unix(t0, 0), func(o *goldmane.FollowOptions) { o.Retention = 10 * time.Minute })
	// Buckets complete by now: start <= now-30. The oldest bucket, which
	// may expire while it is listed, is left to the gap.
	horizon := oldest.Add(15 * time.Second)
	want := int64((now-30-horizon.Unix())/15 + 1)
	require.Eventually(t, func() bool {
		p, _ := r.rec.totals()
		return p[appName(1)] == want && p[appName(2)] == want
	}, 10*time.Second, 5*time.Millisecond)

	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	require.Equal(t, []goldmane.Gap{{From: time.Unix(t0, 0), To: horizon}}, r.rec.gaps)
	require.Equal(t, int64(1), r.f.Stats().Gaps)
	// The gap is reported before the watermark moves past it.
	require.NotEmpty(t, r.rec.marks)
	require.Equal(t, time.Unix(now-60, 0), r.rec.marks[0])
	require.Contains(t, r.log.String(), "gap: no flows for [")
}

func TestFollowerGapWhenNothingRetained(t *testing.T) {
	now := t0 + 7200
	srv := startServer(t, goldmanetest.Options{Now: time.Unix(now, 0), Retention: time.Hour})
	c := dial(t, srv)
	r := follow(t, srv, c, time.Unix(t0, 0), nil)
	require.Eventually(t, func() bool { return r.f.Stats().Fills == 1 }, 5*time.Second, 5*time.Millisecond)
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	// Nothing came back: what is older than the retention horizon is lost
	// (plus one bucket, which may expire while it is being listed).
	require.Equal(t, []goldmane.Gap{{From: time.Unix(t0, 0), To: time.Unix(now-3600+15, 0)}}, r.rec.gaps)
}

// After a Goldmane restart its history begins after the watermark, and a
// stream from the watermark replays nothing: the Follower notices that the
// first bucket streamed starts well after the watermark, lists what the
// server has before it, and reports the missing range as a gap.
func TestFollowerServerHistoryStartsAfterWatermark(t *testing.T) {
	now := t0 + 1200
	srv := startServer(t, goldmanetest.Options{Now: time.Unix(t0, 0), Retention: 5 * time.Minute})
	for i := 0; i < 100; i++ {
		for k := 0; k < 3; k++ {
			srv.Add(egress(k, t0+int64(i)*15))
		}
	}
	srv.SetNow(time.Unix(now, 0)) // history: buckets from t0+900 (bucket 60)
	c := dial(t, srv)
	// The watermark is recent enough for no backfill before streaming
	// (BackfillLag 10 min) but older than the server's history.
	r := follow(t, srv, c, time.Unix(t0+780, 0), func(o *goldmane.FollowOptions) {
		o.BackfillLag = 10 * time.Minute
		o.Retention = 5 * time.Minute
	})
	// The stream is open (the server took its starting point) and has
	// nothing to replay.
	require.Eventually(t, func() bool { return srv.Stats().Streams == 1 }, 5*time.Second, time.Millisecond)
	require.Equal(t, int64(0), r.f.Stats().Delivered)

	// Bucket 79 completes; by then bucket 60 has expired too.
	step(srv, 1)
	want := func(n int64) func() bool {
		return func() bool {
			p, _ := r.rec.totals()
			return p[appName(0)] == n && p[appName(1)] == n && p[appName(2)] == n
		}
	}
	// Bucket 61 may expire while it is listed (it is the oldest Goldmane
	// holds): it is left to the gap.
	require.Eventually(t, want(18), 5*time.Second, 5*time.Millisecond, "buckets 62-79")
	step(srv, 3)
	require.Eventually(t, want(21), 5*time.Second, 5*time.Millisecond, "buckets 62-82")

	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	require.Equal(t, []goldmane.Gap{{From: time.Unix(t0+780, 0), To: time.Unix(t0+930, 0)}}, r.rec.gaps)
	require.Empty(t, r.rec.duplicate)
	require.Equal(t, int64(1), r.f.Stats().Fills)
}

func TestFollowerCallbackErrorStops(t *testing.T) {
	srv := startServer(t, goldmanetest.Options{Now: time.Unix(t0+90, 0)})
	srv.Add(plan{buckets: 5, keys: 2}.flows()...)
	c := dial(t, srv)
	boom := errors.New("disk full")
	n := 0
	f := goldmane.NewFollower(c, goldmane.FollowOptions{
		OnFlow: func(*pb.FlowResult) error {
			n++
			if n == 3 {
				return boom
			}
			return nil
		},
	})
	err := f.Run(context.Background(), time.Unix(t0, 0))
	require.ErrorIs(t, err, boom)
	require.Equal(t, boom, err, "returned as is")
	require.Equal(t, 3, n)
}

func TestFollowerGivesUp(t *testing.T) {
	srv := startServer(t, goldmanetest.Options{})
	c := dial(t, srv)
	srv.Stop()
	f := goldmane.NewFollower(c, goldmane.FollowOptions{
		OnFlow: func(*pb.FlowResult) error { return nil }, MaxRetries: 3, MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond,
	})
	err := f.Run(context.Background(), time.Time{})
	require.Error(t, err)
	require.Contains(t, err.Error(), "giving up after 3 consecutive failures")
	require.Equal(t, int64(3), f.Stats().Reconnects)
}

// The checkpoint contract: a caller that commits what it received only at
// OnWatermark, and resumes from the committed watermark after a crash,
// counts every bucket exactly once.
func TestFollowerResumeFromCheckpoint(t *testing.T) {
	p := plan{buckets: 30, keys: 5}
	srv := startServer(t, goldmanetest.Options{Now: time.Unix(t0+150, 0)})
	srv.Add(p.flows()...)
	c := dial(t, srv)

	committed := map[string]int64{}
	committedBytes := map[string]int64{}
	mark := time.Unix(t0, 0) // the caller's stored watermark
	run := func(from time.Time, crashAfter int) (fills int64) {
		pending, pendingBytes := map[string]int64{}, map[string]int64{}
		n := 0
		crash := errors.New("crash")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		f := goldmane.NewFollower(c, goldmane.FollowOptions{
			PageSize: 4,
			OnFlow: func(r *pb.FlowResult) error {
				n++
				if n == crashAfter {
					return crash // the process dies: pending is lost
				}
				pending[r.GetFlow().GetKey().GetSourceName()] += r.GetFlow().GetPacketsIn()
				pendingBytes[r.GetFlow().GetKey().GetSourceName()] += r.GetFlow().GetBytesIn()
				return nil
			},
			OnWatermark: func(t time.Time) error {
				for k, v := range pending {
					committed[k] += v
				}
				for k, v := range pendingBytes {
					committedBytes[k] += v
				}
				clear(pending)
				clear(pendingBytes)
				mark = t
				if t.Unix() >= t0+29*15 {
					cancel()
				}
				return nil
			},
		})
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx, from) }()
		// The server's clock moves one bucket on each time the follower
		// has caught up with it (its watermark is at the newest complete
		// bucket), so the watermark moves one bucket at a time.
		poll := time.NewTicker(time.Millisecond)
		defer poll.Stop()
		for {
			select {
			case err := <-done:
				if crashAfter > 0 {
					require.ErrorIs(t, err, crash)
				} else {
					require.ErrorIs(t, err, context.Canceled)
				}
				return f.Stats().Fills
			case <-poll.C:
				if wm := f.Watermark(); !wm.IsZero() && wm.Unix() >= srv.Now().Unix()-45 {
					srv.Advance(15 * time.Second)
				}
			}
		}
	}
	run(time.Unix(t0, 0), 3) // dies during the initial backfill (5 results)
	run(mark, 17)            // dies in the stream, mid-bucket
	run(mark, 0)             // runs to the end
	wantP, wantB := p.expected(0, 29)
	require.Equal(t, wantP, committed)
	require.Equal(t, wantB, committedBytes)
}
