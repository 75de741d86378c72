package goldmane_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/flows/goldmane"
	"github.com/calico-plan/calico-plan/flows/goldmane/goldmanetest"
	pb "github.com/calico-plan/calico-plan/flows/goldmanepb"
)

// addTotals returns a+b.
func addTotals(a, b map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range a {
		out[k] += v
	}
	for k, v := range b {
		out[k] += v
	}
	return out
}

// waitFor waits until the recorder's totals equal want, failing on any
// overshoot (a double count).
func (r *followRun) waitFor(t *testing.T, wantP, wantB map[string]int64) {
	t.Helper()
	require.Eventually(t, func() bool {
		gotP, gotB := r.rec.totals()
		for k, v := range gotP {
			require.LessOrEqual(t, v, wantP[k], "%s delivered more than once", k)
		}
		return equalTotals(gotP, wantP) && equalTotals(gotB, wantB)
	}, 10*time.Second, time.Millisecond)
}

// A quiet period that Goldmane still retains is not a gap: 30 minutes
// after the last watermark, with 6 quiet minutes right after it.
func TestFollowerQuietPeriodIsNotAGap(t *testing.T) {
	p := plan{buckets: 150, keys: 3}
	wm := t0 + 20*15 // buckets 0-19 were read before
	srv := startServer(t, goldmanetest.Options{Now: time.Unix(wm+1800, 0), Retention: time.Hour})
	for _, f := range p.flows() {
		if i := (f.GetStartTime() - t0) / 15; i < 20 || i >= 44 { // buckets 20-43 quiet
			srv.Add(f)
		}
	}
	c := dial(t, srv)
	r := follow(t, srv, c, time.Unix(wm, 0), nil)
	// Complete by now: buckets starting at or before now-30 (bucket 138).
	wantP, wantB := p.expected(44, 139)
	r.waitFor(t, wantP, wantB)
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	require.Empty(t, r.rec.gaps, "Goldmane still retains the quiet minutes")
	require.Zero(t, r.f.Stats().Gaps)
}

// A Goldmane restart loses what Goldmane held, except the flows of the last
// five minutes, which Felix resends (and what it sends after). Here the
// follower was cut off for ten minutes before Goldmane restarted: the range
// between its watermark and the first resent bucket is a gap, flagged as a
// restart, and nothing else is lost or counted twice.
func TestFollowerRestartLosesOnlyWhatFelixDidNotResend(t *testing.T) {
	p := plan{buckets: 80, keys: 4}
	srv := startServer(t, goldmanetest.Options{Now: time.Unix(t0+20*15+15, 0)})
	srv.Add(p.flows()...)
	c := dial(t, srv)
	r := follow(t, srv, c, time.Unix(t0, 0), nil)
	r.waitTotals(t, p, 0, 20)

	srv.Stop() // a port-forward breaks; Goldmane keeps collecting
	srv.Advance(10 * time.Minute)
	srv.Crash()
	// Felix resends the flows of its last five minutes and sends what
	// comes after: buckets from 40 on.
	crashed := srv.Now().Unix()
	resent := 0
	for _, f := range p.flows() {
		if f.GetStartTime() >= crashed-315 {
			srv.Add(f)
			resent++
		}
	}
	require.Greater(t, resent, 0)
	require.NoError(t, srv.Start())
	// The follower notices the restart and gives Felix 30 s (of
	// Goldmane's clock) to resend before it reads.
	srv.SetNow(r.rec.waited(t, 1))
	require.Equal(t, crashed+30, srv.Now().Unix())

	firstResent := t0 + 40*15
	wantP, wantB := p.expected(0, 20)
	laterP, laterB := p.expected(40, 62) // complete at now: start <= now-30
	r.waitFor(t, addTotals(wantP, laterP), addTotals(wantB, laterB))
	step(srv, 20)
	laterP, laterB = p.expected(40, 80)
	r.waitFor(t, addTotals(wantP, laterP), addTotals(wantB, laterB))

	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	require.Equal(t, []goldmane.Gap{{From: time.Unix(t0+20*15, 0), To: time.Unix(firstResent, 0), Restart: true}}, r.rec.gaps)
	require.Empty(t, r.rec.duplicate)
	require.Equal(t, int64(1), r.f.Stats().Restarts)
	require.Contains(t, r.log.String(), "Goldmane restarted")
}

// A quick restart: Felix resends the buckets the follower already counted
// (under new ids, which show the restart); they are not counted again, and
// no gap is recorded because nothing after the watermark was lost.
func TestFollowerRestartResentFlowsCountOnce(t *testing.T) {
	p := plan{buckets: 60, keys: 5}
	srv := startServer(t, goldmanetest.Options{Now: time.Unix(t0+20*15+15, 0)})
	srv.Add(p.flows()...)
	c := dial(t, srv)
	r := follow(t, srv, c, time.Unix(t0, 0), nil)
	r.waitTotals(t, p, 0, 20)

	srv.Crash()
	crashed := srv.Now().Unix()
	// Felix resends in its own order: ids come out different.
	fs := p.flows()
	for i := len(fs) - 1; i >= 0; i-- {
		if fs[i].GetStartTime() >= crashed-315 {
			srv.Add(fs[i])
		}
	}
	require.NoError(t, srv.Start())
	srv.SetNow(r.rec.waited(t, 1)) // the follower gives Felix time to resend
	step(srv, 40)
	r.waitTotals(t, p, 0, 60)

	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	require.Empty(t, r.rec.gaps)
	require.Empty(t, r.rec.duplicate)
	require.Equal(t, int64(1), r.f.Stats().Restarts)
	require.Greater(t, r.f.Stats().Duplicates, int64(0), "the resent part of the open bucket is dropped")
}

// Felix reports every connection active during a bucket as live, so a
// connection open for an hour is live in 240 buckets. A fresh follower
// counts connections where they start, plus those already open as its
// window's first bucket began (reported through OnOpen), each once.
func TestFollowerOpenConnectionsAtAFreshStart(t *testing.T) {
	// app1: one connection open since before the data, one from bucket 3
	// to 30, one short in bucket 12. app2: short ones only.
	flows := felixFlows(1, [][2]int{{-50, 200}, {3, 30}, {12, 12}}, 40)
	flows = append(flows, felixFlows(2, [][2]int{{0, 0}, {5, 5}, {5, 6}}, 40)...)
	srv := startServer(t, goldmanetest.Options{Now: time.Unix(t0+40*15+30, 0)})
	srv.Add(flows...)
	c := dial(t, srv)

	var mu sync.Mutex
	started := map[string]int64{}
	open := map[string]int64{}
	var live int64
	opts := goldmane.FollowOptions{
		Fresh: true,
		OnFlow: func(r *pb.FlowResult) error {
			mu.Lock()
			defer mu.Unlock()
			started[r.GetFlow().GetKey().GetSourceName()] += r.GetFlow().GetNumConnectionsStarted()
			live += r.GetFlow().GetNumConnectionsLive()
			return nil
		},
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
	}
	opts.OnOpen = func(r *pb.FlowResult, n int64) error {
		mu.Lock()
		open[r.GetFlow().GetKey().GetSourceName()] += n
		mu.Unlock()
		return opts.OnFlow(r)
	}
	f := goldmane.NewFollower(c, opts)
	ctx, cancel := contextWithCleanup(t)
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, time.Unix(t0, 0)) }()
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return started[appName(1)]+open[appName(1)] == 3 && started[appName(2)] == 3
	}, 10*time.Second, time.Millisecond)
	// Buckets 0-39 are complete; the stream keeps the last ones coming.
	require.Eventually(t, func() bool { return f.Watermark().Unix() >= t0+39*15 }, 10*time.Second, time.Millisecond)
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, map[string]int64{appName(1): 1}, open, "the connection open before the window, once")
	require.Equal(t, int64(2), started[appName(1)])
	require.Greater(t, live, int64(40), "live counts repeat the long connections in every bucket")
}

// A first run that starts as far back as Goldmane retains records no gap
// for what expired meanwhile: nothing before its window was observed.
func TestFollowerFreshStartRecordsNoGap(t *testing.T) {
	p := plan{buckets: 300, keys: 2}
	now := t0 + 290*15
	srv := startServer(t, goldmanetest.Options{Now: time.Unix(now, 0), Retention: time.Hour})
	srv.Add(p.flows()...)
	c := dial(t, srv)
	// As far back as retained, less a few seconds: the clock moved on
	// between reading where to start and starting.
	r := follow(t, srv, c, time.Unix(now-3600-5, 0), func(o *goldmane.FollowOptions) { o.Fresh = true })
	require.Eventually(t, func() bool { return r.f.Stats().Fills == 1 }, 10*time.Second, time.Millisecond)
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	require.Empty(t, r.rec.gaps)
}

// Right after it starts, Goldmane streams the bucket it was filling as
// soon as that bucket ends (its first rollover), before Felix has
// reported it, and a stream opened then replays a bucket that has just
// ended. The follower takes neither: it reads such a bucket again once it
// is one interval old, and misses none of Felix's late reports.
func TestFollowerWaitsForBucketsGoldmaneStreamsEarly(t *testing.T) {
	p := plan{buckets: 16, keys: 4}
	start := t0 + 10*15 // Goldmane starts; bucket 10 is filling
	srv := startServer(t, goldmanetest.Options{Now: time.Unix(start, 0), EarlyFirstStream: true})
	var late []*pb.Flow
	for _, f := range p.flows() {
		switch i := (f.GetStartTime() - t0) / 15; {
		case i < 10:
			srv.Add(f)
		case i == 10 && f.GetKey().GetSourceName() == appName(1):
			srv.Add(f) // reported before the bucket ended
		default:
			late = append(late, f)
		}
	}
	c := dial(t, srv)
	r := follow(t, srv, c, time.Unix(t0+8*15, 0), nil)
	// Bucket 9 ended as the stream opened: it is read 20 s after its end.
	require.Equal(t, time.Unix(t0+10*15+20, 0), r.rec.waited(t, 1))
	// Bucket 10 ends and is streamed at once; Felix's other reports of it
	// arrive after that.
	srv.SetNow(time.Unix(start+15, 0))
	for _, f := range late {
		if (f.GetStartTime()-t0)/15 == 10 {
			srv.Add(f)
		}
	}
	srv.SetNow(time.Unix(start+20, 0))
	require.Equal(t, time.Unix(t0+11*15+20, 0), r.rec.waited(t, 2), "bucket 10, streamed as it ended")
	srv.SetNow(time.Unix(start+35, 0))
	for _, f := range late {
		if (f.GetStartTime()-t0)/15 > 10 {
			srv.Add(f)
		}
	}
	step(srv, 6)
	r.waitTotals(t, p, 8, 16)
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	require.Empty(t, r.rec.duplicate)
	require.Empty(t, r.rec.gaps)
	require.Contains(t, r.log.String(), "as soon as it ended")
}

// The bucket Goldmane streams as soon as it ends, right after it starts,
// usually has no flow yet (Felix reports an interval when it ends), so the
// stream sends nothing for it. The follower lists the buckets the stream
// passed without flows before it goes on.
func TestFollowerListsBucketsTheStreamPassedEmpty(t *testing.T) {
	p := plan{buckets: 20, keys: 4}
	start := t0 + 10*15 // Goldmane starts; bucket 10 is filling, empty
	srv := startServer(t, goldmanetest.Options{Now: time.Unix(start, 0), EarlyFirstStream: true})
	c := dial(t, srv)
	r := follow(t, srv, c, time.Unix(start, 0), nil)
	require.Eventually(t, func() bool { st := srv.Stats(); return st.Streams == 1 && st.Rounds == 1 }, 5*time.Second, time.Millisecond)
	// Bucket 10 ends and is streamed at once, empty; then Felix reports it.
	rounds := srv.Stats().Rounds
	srv.SetNow(time.Unix(start+15, 0))
	require.Eventually(t, func() bool { return srv.Stats().Rounds > rounds }, 5*time.Second, time.Millisecond)
	for _, f := range p.flows() {
		if (f.GetStartTime()-t0)/15 >= 10 {
			srv.Add(f)
		}
	}
	step(srv, 10)
	r.waitTotals(t, p, 10, 20)
	require.Contains(t, r.log.String(), "which the stream passed without flows")
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	require.Empty(t, r.rec.duplicate)
	require.Empty(t, r.rec.gaps)
}
