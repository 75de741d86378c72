package observe

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows/goldmane"
	"github.com/calico-plan/calico-plan/flows/goldmane/goldmanetest"
	pb "github.com/calico-plan/calico-plan/flows/goldmanepb"
	"github.com/calico-plan/calico-plan/internal/config"
)

// lockedBuffer is a log writer safe for the follower's goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// addRange adds the flows starting in [from, to) to the server.
func addRange(srv *goldmanetest.Server, all []*pb.Flow, from, to time.Time) {
	for _, f := range all {
		if f.StartTime >= from.Unix() && f.StartTime < to.Unix() {
			srv.Add(f)
		}
	}
}

func openStore(t *testing.T) (*allowlist.Store, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := allowlist.Open(dir, config.Default())
	require.NoError(t, err)
	return st, dir
}

// A skewed clock on this machine (a laptop or WSL clock that drifted) must
// not move a List's window: the same Goldmane, observed twice 30 minutes
// apart, gives the same store whether this machine's clock is right, five
// minutes behind Goldmane's or five minutes ahead.
func TestGoldmaneListIgnoresTheLocalClock(t *testing.T) {
	all := goldmaneDemo(t, 80*time.Minute)
	now1 := gmStart.Add(50 * time.Minute)
	now2 := now1.Add(30 * time.Minute)
	type result struct {
		files        map[string]string
		flows, bytes int64
		wm           allowlist.Time
		log          string
	}
	run := func(skew time.Duration) result {
		srv, pki := startGoldmane(t, now1)
		// The bucket Goldmane is filling at now1 gets the rest of its
		// flows later, as buckets do.
		addRange(srv, all, gmStart, now1)
		c := dialGoldmane(t, srv, pki)
		st, _ := openStore(t)
		var log lockedBuffer
		opt := GoldmaneOptions{Client: c, SourceID: "goldmane:test", Log: &log, Now: func() time.Time { return srv.Now().Add(skew) }}
		_, err := GoldmaneList(context.Background(), st, opt)
		require.NoError(t, err)
		srv.SetNow(now2)
		addRange(srv, all, now1, now2)
		_, err = GoldmaneList(context.Background(), st, opt)
		require.NoError(t, err)
		fl, by := storeTotals(t, st)
		return result{namespaceFiles(t, st), fl, by, st.FindSource(allowlist.SourceGoldmane, "goldmane:test").Watermark, log.String()}
	}
	want := run(0)
	require.Equal(t, allowlist.Time(now2.Add(-time.Minute).Unix()), want.wm)
	requireSameFiles(t, expectedStore(t, all, gmStart, want.wm.T()), want.files)
	require.NotContains(t, want.log, "clock")
	for _, skew := range []time.Duration{-5 * time.Minute, 5 * time.Minute} {
		got := run(skew)
		require.Equal(t, want.flows, got.flows, "flows, this machine's clock %s off", skew)
		require.Equal(t, want.bytes, got.bytes, "bytes, this machine's clock %s off", skew)
		require.Equal(t, want.wm, got.wm, "watermark, this machine's clock %s off", skew)
		requireSameFiles(t, want.files, got.files)
		if skew > 0 {
			require.Contains(t, got.log, "Goldmane's clock is 5m0s behind this machine's")
		} else {
			require.Contains(t, got.log, "Goldmane's clock is 5m0s ahead of this machine's")
		}
	}
}

// followHarness runs GoldmaneFollow against srv, which holds the flows of
// `all` that start before its clock, with this machine's clock off by
// skew. It moves the server's clock one bucket on (adding that bucket's
// flows) each time the follower has saved a watermark at its newest
// complete bucket (every bucket must have flows),
// calls step(i) before move i, and stops once the saved watermark reaches
// target.
type followHarness struct {
	srv     *goldmanetest.Server
	c       *goldmane.Client
	all     []*pb.Flow
	skew    time.Duration
	since   time.Duration
	target  time.Time
	step    func(i int)
	st      *allowlist.Store
	dir     string
	log     lockedBuffer
	saves   atomic.Int64
	savedWM atomic.Int64
	mu      sync.Mutex // the server's clock and flows move under it
}

// moveTo moves the server's clock to t, adding the flows of the time
// passed.
func (h *followHarness) moveTo(t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if now := h.srv.Now(); t.After(now) {
		addRange(h.srv, h.all, now, t)
		h.srv.SetNow(t)
	}
}

func (h *followHarness) run(t *testing.T) {
	t.Helper()
	h.st, h.dir = openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- GoldmaneFollow(ctx, h.st, FollowOptions{
			GoldmaneOptions: GoldmaneOptions{Client: h.c, SourceID: "goldmane:test", Since: h.since, Log: &h.log,
				Now: func() time.Time { return h.srv.Now().Add(h.skew) }},
			Checkpoint: time.Nanosecond,
			Save: func() error {
				h.saves.Add(1)
				h.savedWM.Store(int64(h.st.FindSource(allowlist.SourceGoldmane, "goldmane:test").Watermark))
				return h.st.Save()
			},
			Follow: goldmane.FollowOptions{MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Poll: time.Millisecond,
				// The follower waits for Goldmane's clock (after a
				// restart): time passes.
				OnWait: h.moveTo},
		})
	}()
	poll := time.NewTicker(time.Millisecond)
	defer poll.Stop()
	deadline := time.After(60 * time.Second)
	for i := 0; h.savedWM.Load() < h.target.Unix(); {
		select {
		case err := <-done:
			t.Fatalf("follow ended: %v\n%s", err, h.log.String())
		case <-deadline:
			t.Fatalf("the follower never reached %s (saved %s)\n%s", h.target.UTC(), time.Unix(h.savedWM.Load(), 0).UTC(), h.log.String())
		case <-poll.C:
		}
		now := h.srv.Now()
		if h.savedWM.Load() < now.Add(-30*time.Second).Unix() {
			continue // not caught up: the newest complete bucket starts at now-30s
		}
		if h.step != nil {
			h.step(i)
		}
		i++
		h.moveTo(h.srv.Now().Add(15 * time.Second))
	}
	cancel()
	require.NoError(t, <-done)
}

// The same for --follow, with a stream reset and a dropped connection on
// the way: every run ends with the evidence of a run without skew.
func TestGoldmaneFollowIgnoresTheLocalClock(t *testing.T) {
	all := goldmaneDemo(t, 45*time.Minute)
	start := gmStart.Add(20 * time.Minute)
	target := gmStart.Add(35 * time.Minute)
	type result struct {
		files        map[string]string
		flows, bytes int64
		wm           allowlist.Time
	}
	run := func(skew time.Duration) result {
		srv, pki := startGoldmane(t, start)
		addRange(srv, all, gmStart, start)
		h := &followHarness{srv: srv, c: dialGoldmane(t, srv, pki), all: all, skew: skew, since: 20 * time.Minute, target: target,
			step: func(i int) {
				switch i {
				case 10:
					srv.FailStreamsAfter(5, false) // the stream resets mid-bucket
				case 30:
					require.NoError(t, srv.Restart()) // the connection drops
				}
			}}
		h.run(t)
		fl, by := storeTotals(t, h.st)
		return result{namespaceFiles(t, h.st), fl, by, h.st.FindSource(allowlist.SourceGoldmane, "goldmane:test").Watermark}
	}
	want := run(0)
	require.Equal(t, allowlist.Time(target.Unix()), want.wm)
	requireSameFiles(t, expectedStore(t, all, gmStart, want.wm.T()), want.files)
	for _, skew := range []time.Duration{-5 * time.Minute, 5 * time.Minute} {
		got := run(skew)
		require.Equal(t, want.flows, got.flows, "flows, this machine's clock %s off", skew)
		require.Equal(t, want.bytes, got.bytes, "bytes, this machine's clock %s off", skew)
		require.Equal(t, want.wm, got.wm)
		requireSameFiles(t, want.files, got.files)
	}
}

// A quiet period that Goldmane still retains is not a gap: a run 30
// minutes after the last one, whose first 6 minutes were quiet, records
// none (a gap would restart the stability clock).
func TestGoldmaneListQuietPeriodIsNotAGap(t *testing.T) {
	all := goldmaneDemo(t, 80*time.Minute)
	now1 := gmStart.Add(50 * time.Minute)
	w1 := now1.Add(-time.Minute)
	var kept []*pb.Flow
	for _, f := range all {
		if s := f.StartTime; s < w1.Unix() || s >= w1.Add(6*time.Minute).Unix() {
			kept = append(kept, f)
		}
	}
	srv, pki := startGoldmane(t, now1)
	addRange(srv, kept, gmStart, now1)
	c := dialGoldmane(t, srv, pki)
	st, _ := openStore(t)
	opt := GoldmaneOptions{Client: c, SourceID: "goldmane:test"}
	first, err := GoldmaneList(context.Background(), st, opt)
	require.NoError(t, err)
	require.Equal(t, w1, first.Watermark)

	now2 := now1.Add(30 * time.Minute)
	srv.SetNow(now2)
	addRange(srv, kept, now1, now2)
	second, err := GoldmaneList(context.Background(), st, opt)
	require.NoError(t, err)
	require.Empty(t, second.Gaps)
	require.Empty(t, st.Meta.Gaps)
	requireSameFiles(t, expectedStore(t, kept, gmStart, second.Watermark), namespaceFiles(t, st))
}

// Goldmane restarts lose its memory; Felix resends the flows of its last
// five minutes. A run after a restart detects it (the flow ids of the last
// bucket it read changed), records a gap for exactly the range the
// restarted Goldmane no longer has, and counts no resent flow twice.
func TestGoldmaneListAcrossARestart(t *testing.T) {
	all := goldmaneDemo(t, 80*time.Minute)
	now1 := gmStart.Add(50 * time.Minute)
	for _, tc := range []struct {
		name    string
		crashAt time.Duration // after the first run
		lost    bool
	}{
		{"restart 20 minutes later: the resend does not reach back to the watermark", 20 * time.Minute, true},
		{"restart 2 minutes later: the resend covers everything after the watermark", 2 * time.Minute, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, pki := startGoldmane(t, now1)
			addRange(srv, all, gmStart, now1)
			c := dialGoldmane(t, srv, pki)
			st, _ := openStore(t)
			var log lockedBuffer
			// Waiting for Goldmane's clock (after a restart), time passes.
			opt := GoldmaneOptions{Client: c, SourceID: "goldmane:test", Log: &log, Poll: time.Millisecond, OnWait: srv.SetNow}
			first, err := GoldmaneList(context.Background(), st, opt)
			require.NoError(t, err)
			require.NotNil(t, st.FindSource(allowlist.SourceGoldmane, "goldmane:test").Mark)

			crash := now1.Add(tc.crashAt)
			srv.SetNow(crash)
			addRange(srv, all, now1, crash)
			srv.Crash()
			// Felix resends what it pushed in its last five minutes (a
			// bucket's flows are pushed when its report interval ends),
			// in its cache's order: the keys get other ids.
			resent := crash.Add(-5*time.Minute - 15*time.Second).Truncate(15 * time.Second)
			for i := len(all) - 1; i >= 0; i-- {
				if f := all[i]; f.StartTime >= resent.Unix() && f.StartTime < crash.Unix() {
					srv.Add(f)
				}
			}
			require.NoError(t, srv.Start())
			now2 := crash.Add(5 * time.Minute)
			srv.SetNow(now2)
			addRange(srv, all, crash, now2)

			var second *GoldmaneResult
			require.Eventually(t, func() bool { // the first call may meet the broken connection
				second, err = GoldmaneList(context.Background(), st, opt)
				return err == nil
			}, 5*time.Second, time.Millisecond)
			require.True(t, second.Restarted)
			require.Contains(t, log.String(), "Goldmane restarted since the last run")
			var want []*pb.Flow
			var gaps []allowlist.Gap
			if tc.lost {
				require.Len(t, second.Gaps, 1)
				g := second.Gaps[0]
				require.Equal(t, allowlist.Time(first.Watermark.Unix()), g.From)
				require.Equal(t, allowlist.Time(resent.Unix()), g.To, "the gap ends at the first resent bucket")
				require.Contains(t, g.Reason, "restarted")
				gaps = second.Gaps
				for _, f := range all {
					if f.StartTime < g.From.T().Unix() || f.StartTime >= g.To.T().Unix() {
						want = append(want, f)
					}
				}
			} else {
				require.Empty(t, second.Gaps)
				want = all
			}
			requireSameFiles(t, expectedStore(t, want, gmStart, second.Watermark, gaps...), namespaceFiles(t, st))
			// The new Goldmane's ids are the mark now: a third run sees no
			// restart.
			third, err := GoldmaneList(context.Background(), st, opt)
			require.NoError(t, err)
			require.False(t, third.Restarted)
			require.Empty(t, third.Gaps)
		})
	}
}

// felixFlows is what Felix reports for shop/app1 -> pub:443 in the 15 s
// buckets 0..buckets-1 from gmStart, for connections conns[i] = first and
// last bucket (felix/collector/flowlog): every connection active in a
// bucket is live there, those beginning in it are started too; bytes are
// 10 per live connection.
func felixFlows(conns [][2]int, buckets int) []*pb.Flow {
	var out []*pb.Flow
	for i := 0; i < buckets; i++ {
		var started, live int64
		for _, c := range conns {
			if i >= c[0] && i <= c[1] {
				live++
				if i == c[0] {
					started++
				}
			}
		}
		if live == 0 {
			continue
		}
		out = append(out, &pb.Flow{
			Key: &pb.FlowKey{
				SourceName: "app1-*", SourceNamespace: "shop", SourceType: pb.EndpointType_WorkloadEndpoint,
				DestName: "pub", DestNamespace: "-", DestType: pb.EndpointType_Network, DestPort: 443,
				DestServiceName: "-", DestServiceNamespace: "-", DestServicePortName: "-",
				Proto: "tcp", Reporter: pb.Reporter_Src, Action: pb.Action_Allow,
			},
			StartTime: gmStart.Unix() + int64(i)*15, SourceLabels: []string{"app=app1"},
			NumConnectionsStarted: started, NumConnectionsLive: live, BytesOut: 10 * live, PacketsOut: live,
		})
	}
	return out
}

// liveBytes is the bytes felixFlows reports for buckets [lo, hi).
func liveBytes(conns [][2]int, lo, hi int) int64 {
	var b int64
	for i := lo; i < hi; i++ {
		for _, c := range conns {
			if i >= c[0] && i <= c[1] {
				b += 10
			}
		}
	}
	return b
}

// Felix reports a connection as live in every bucket it stays open, and
// Goldmane sums live counts across a List's buckets: one connection open
// for an hour would add 240 flows. Each connection counts once: where it
// starts, or, when it was already open as the observation began, there.
func TestGoldmaneLongLivedConnectionsCountOnce(t *testing.T) {
	conns := [][2]int{
		{-100, 1000}, // open since before the data, for hours
		{20, 60},     // open when the window begins (bucket 41)
		{10, 30},     // over before the window begins
		{100, 300},   // begins in the window, still open at its end
		{150, 150},   // short
		{200, 205},
	}
	all := felixFlows(conns, 400)
	now := gmStart.Add(70 * time.Minute)
	// The first run reads what Goldmane retains: from bucket 41 (an hour
	// back, less the bucket that may expire while it is listed).
	const lo = 41

	t.Run("List", func(t *testing.T) {
		srv, pki := startGoldmane(t, now)
		addRange(srv, all, gmStart, now)
		st, _ := openStore(t)
		res, err := GoldmaneList(context.Background(), st, GoldmaneOptions{Client: dialGoldmane(t, srv, pki), SourceID: "goldmane:test"})
		require.NoError(t, err)
		require.Equal(t, gmStart.Add(lo*15*time.Second), res.From)
		hi := int(res.Watermark.Sub(gmStart) / (15 * time.Second))
		flows, bytes := storeTotals(t, st)
		require.Equal(t, int64(5), flows, "2 open as the window began + 3 begun in it")
		require.Equal(t, liveBytes(conns, lo, hi), bytes)
	})

	t.Run("follow", func(t *testing.T) {
		srv, pki := startGoldmane(t, now)
		addRange(srv, all, gmStart, now)
		target := gmStart.Add(80 * time.Minute)
		h := &followHarness{srv: srv, c: dialGoldmane(t, srv, pki), all: all, target: target}
		h.run(t)
		flows, bytes := storeTotals(t, h.st)
		require.Equal(t, int64(5), flows, "2 open as the window began + 3 begun in it")
		require.Equal(t, liveBytes(conns, lo, 320), bytes)
	})
}
