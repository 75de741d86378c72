package goldmane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/calico-plan/calico-plan/flows/goldmanepb"
)

// Gap is a time range whose flows may be missing: Goldmane no longer had
// them when the Follower asked, because they were older than its retention
// (about an hour) or because Goldmane restarted and lost them.
type Gap struct {
	From, To time.Time
	// Restart is set when the range was lost in a Goldmane restart.
	Restart bool
}

// FollowOptions configure a Follower. OnFlow is required.
type FollowOptions struct {
	// OnFlow receives each delivered result. Stream results cover one 15 s
	// bucket; backfill (List) results aggregate one flow key over several
	// buckets. Either way no bucket of a key is delivered twice.
	OnFlow func(*pb.FlowResult) error
	// OnOpen receives, instead of OnFlow, the first result of each flow
	// key in a window that begins with nothing observed before it (Fresh,
	// or after a gap) when the key had connections open as the window's
	// first bucket with flows began, with their number (OpenConnections
	// of that bucket). Goldmane reports a connection as live in every
	// bucket it stays open, so the connections started in each bucket plus
	// these count every connection once. Nil: OnFlow gets them.
	OnOpen func(r *pb.FlowResult, n int64) error
	// OnWatermark reports that every bucket ending at or before t has been
	// delivered (or reported as a gap), and nothing ending after t has been
	// delivered except what came after the previous OnWatermark. A caller
	// that persists the effect of the flows received so far together with t
	// (and Mark), atomically, can resume with Run(ctx, t) without double
	// counting or loss.
	OnWatermark func(t time.Time) error
	// OnGap reports a range Goldmane could not supply. It is called before
	// the OnWatermark that moves past the gap.
	OnGap func(Gap) error
	// Log receives progress and retry messages, one per line; nil discards.
	Log io.Writer

	// PageSize for backfill Lists; default DefaultPageSize.
	PageSize int
	// Interval is Goldmane's bucket width; default 15 s.
	Interval time.Duration
	// BackfillLag: when the watermark is older than the server's
	// now-BackfillLag, the range up to the server's now-BackfillLag is
	// backfilled with List and the stream (which replays its last few
	// buckets itself) covers the rest; default 60 s. Buckets ending after
	// the server's now-BackfillLag may still be filling.
	BackfillLag time.Duration
	// Retention is how much history Goldmane keeps; default 1 h. What is
	// older than the server's now-Retention when it is asked for is
	// reported as a gap; a quiet period Goldmane still retains is not.
	Retention time.Duration
	// Fresh says that nothing before the watermark given to Run was
	// observed (a first run): connections already open in the first
	// bucket are reported to OnOpen.
	Fresh bool
	// Mark is the Mark saved with the watermark given to Run (nil if none).
	// The first connection lists its bucket again to detect a Goldmane
	// restart since then.
	Mark *Mark
	// ResendGrace: after detecting a Goldmane restart, the follower waits
	// this long by Goldmane's clock before reading what it has, so that
	// Felix has reconnected and resent its last minutes (Felix retries at
	// least every 10 s); default 30 s.
	ResendGrace time.Duration
	// Poll is how often Goldmane's clock is read again while waiting for
	// it; default 1 s.
	Poll time.Duration
	// OnWait, when set, is told each time the follower starts waiting for
	// Goldmane's clock to reach until (after a restart, or for a bucket
	// Goldmane streamed too early).
	OnWait func(until time.Time)
	// MinBackoff and MaxBackoff bound the exponential, jittered delay
	// between reconnection attempts; defaults 500 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// MaxRetries is the number of consecutive failed attempts after which
	// Run gives up; 0 retries forever.
	MaxRetries int
	// IdleTimeout restarts a stream that received nothing for this long
	// (a dead port-forward); default 5 min, negative disables.
	IdleTimeout time.Duration
}

// OpenConnections is the number of a single-bucket flow's connections that
// were already open when its bucket began. Felix reports as live every
// connection active during its report interval, those it started included.
func OpenConnections(f *pb.Flow) int64 {
	return max(0, f.GetNumConnectionsLive()-f.GetNumConnectionsStarted())
}

// FollowStats count what a Follower did.
type FollowStats struct {
	// Delivered results; Duplicates (already delivered, dropped) and Late
	// (for buckets at or before the watermark, dropped) results.
	Delivered, Duplicates, Late int64
	// Streams opened, Reconnects after errors, backfill Fills, Gaps, and
	// Goldmane Restarts detected.
	Streams, Reconnects, Fills, Gaps, Restarts int64
}

// Follower follows Goldmane for as long as its context lives. See Run. Run
// must not be called concurrently; Watermark, Mark and Stats may be called
// from any goroutine.
type Follower struct {
	c        *Client
	opts     FollowOptions
	interval int64
	kh       *keyHasher

	mu    sync.Mutex // guards wm, mark and stats for concurrent readers
	wm    int64
	mark  *Mark // of the newest bucket with flows ending at or before wm
	stats FollowStats

	clock serverClock // the server's clock, read at each attempt

	// The bucket the stream is delivering; it becomes complete when the
	// next bucket starts. openKeys holds the keys delivered for it, with
	// Goldmane's ids.
	openStart, openEnd int64
	openKeys           map[keyHash]int64

	openCarry map[keyHash]int64 // connections open as the open bucket began, when it begins a fresh window

	fill      *fillState // a backfill to (re)do before streaming
	checkMark *Mark      // to check at the next attempt
	restarted bool       // a Goldmane restart was detected and not yet accounted for
	fresh     bool       // the next flows begin a window with nothing observed before it
}

// fillState is one backfill List of [lo, hi); kept across retries with the
// same bounds, so that the keys already delivered are skipped.
type fillState struct {
	lo, hi   int64
	keys     map[keyHash]struct{}
	oldest   int64
	marks    MarkBuilder
	prepared bool              // gaps were decided (and reported), open connections read
	open     map[keyHash]int64 // connections open as the window began, by key, not yet delivered
	passed   bool              // buckets the stream passed without a flow
}

// NewFollower returns a Follower reading from c.
func NewFollower(c *Client, opts FollowOptions) *Follower {
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	if opts.Interval <= 0 {
		opts.Interval = 15 * time.Second
	}
	if opts.BackfillLag <= 0 {
		opts.BackfillLag = 60 * time.Second
	}
	if opts.Retention <= 0 {
		opts.Retention = time.Hour
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 500 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(30*time.Second, opts.MinBackoff)
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = 5 * time.Minute
	}
	if opts.ResendGrace <= 0 {
		opts.ResendGrace = 30 * time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	return &Follower{c: c, opts: opts, interval: int64(opts.Interval / time.Second), openKeys: map[keyHash]int64{}, kh: newKeyHasher()}
}

// Watermark is the current watermark (zero before the first).
func (f *Follower) Watermark() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.wm == 0 {
		return time.Time{}
	}
	return time.Unix(f.wm, 0)
}

// Mark is the Mark that goes with the current watermark (nil when no
// bucket with flows was seen since the start or the last restart). Save it
// with the watermark and pass it back as FollowOptions.Mark.
func (f *Follower) Mark() *Mark {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mark
}

// Stats returns the counters so far.
func (f *Follower) Stats() FollowStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// callbackError carries an error returned by a caller's callback; Run
// returns it unwrapped.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }
func (e *callbackError) Unwrap() error { return e.err }

var errIdle = errors.New("goldmane: stream idle, restarting it")

// earlyError ends a stream that sent a bucket too soon after its end for
// Felix's reports of it to be in: Goldmane streams the bucket it was
// filling when it started as soon as that bucket ends (its first rollover;
// in steady state a bucket is streamed one interval after its end), and a
// stream opened in its first interval replays a bucket that has just
// ended. The bucket is read again once it is old enough.
type earlyError struct{ start, end, until int64 }

func (e *earlyError) Error() string {
	return fmt.Sprintf("Goldmane streamed bucket %s as soon as it ended (as it does right after it starts), before Felix reported it", fmtRange(e.start, e.end))
}

// Run follows Goldmane from watermark (the zero Time: from the next bucket
// Goldmane completes, with no backfill) until ctx ends or a callback fails;
// it returns ctx.Err() or the callback's error, or a non-retryable RPC
// error (or the last error after MaxRetries).
//
// Design. Every time edge comes from Goldmane: each connection attempt
// reads the server's clock (ServerNow), and bucket times come from its
// results; this machine's clock only paces retries. The watermark W means:
// every bucket ending at or before W has been handled. Each attempt
//  1. after a failure (or with FollowOptions.Mark), lists the bucket of
//     the last Mark again: other ids mean Goldmane restarted;
//  2. completes the bucket the stream was delivering when it broke, by
//     listing exactly that bucket and delivering the keys not yet delivered;
//  3. if W is older than the server's now-BackfillLag, backfills
//     [W, now-BackfillLag) with one paged List (Goldmane aggregates it per
//     key) and moves W to its end. A gap is reported for the part older
//     than the server's retention, and after a restart for the range
//     before the oldest flow the restarted Goldmane still had (Felix
//     resends only its last minutes); a quiet period is not a gap;
//  4. streams from W. Goldmane replays the completed buckets from the one
//     containing W, then sends each bucket as it completes, in order, so a
//     result starting after the current bucket completes every earlier one
//     and W moves to its start. If the first bucket streamed starts more
//     than one interval after W (the server's history begins after W, as
//     after a Goldmane restart), step 3 runs for [W, that start) first.
//
// Results for buckets ending at or before W are dropped, and keys already
// delivered for the current bucket are dropped, so nothing is delivered
// twice (flows Felix resends to a restarted Goldmane land in their own
// buckets, which W has passed); a bucket the server still holds is always
// in a List or the stream.
func (f *Follower) Run(ctx context.Context, watermark time.Time) error {
	if f.opts.OnFlow == nil {
		return errors.New("goldmane: FollowOptions.OnFlow is required")
	}
	f.setWM(UnixArg(watermark))
	f.fresh = f.opts.Fresh
	f.checkMark = f.opts.Mark
	f.mu.Lock()
	f.mark = f.opts.Mark
	f.mu.Unlock()
	failures := 0
	for {
		progressed, err := f.attempt(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var cbe *callbackError
		if errors.As(err, &cbe) {
			return cbe.err
		}
		var early *earlyError
		if errors.As(err, &early) {
			// Not a failure: read the bucket again once it is complete.
			f.logf("%v; reading it again at %s", err, time.Unix(early.until, 0).UTC().Format(time.RFC3339))
			if werr := f.waitServer(ctx, time.Unix(early.until, 0)); werr == nil {
				continue
			} else if ctx.Err() != nil {
				return ctx.Err()
			} else {
				err = werr
			}
		}
		if !retryable(err) {
			return err
		}
		if progressed {
			failures = 0
		}
		failures++
		if f.opts.MaxRetries > 0 && failures > f.opts.MaxRetries {
			return fmt.Errorf("goldmane: giving up after %d consecutive failures: %w", failures-1, err)
		}
		// Goldmane may have restarted behind the failure.
		f.checkMark = f.Mark()
		d := f.backoff(failures)
		f.logf("reconnecting in %s (attempt %d) after: %v", d.Round(time.Millisecond), failures, err)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		f.mu.Lock()
		f.stats.Reconnects++
		f.mu.Unlock()
	}
}

func retryable(err error) bool {
	if err == nil || errors.Is(err, ErrStreamEnded) || errors.Is(err, errIdle) {
		return true
	}
	if errors.Is(err, ErrNoClock) {
		return false
	}
	switch status.Code(err) {
	case codes.InvalidArgument, codes.Unimplemented, codes.PermissionDenied, codes.Unauthenticated,
		codes.NotFound, codes.FailedPrecondition, codes.OutOfRange, codes.AlreadyExists:
		return false
	}
	return true
}

func (f *Follower) backoff(n int) time.Duration {
	d := f.opts.MinBackoff
	for i := 1; i < n && d < f.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, f.opts.MaxBackoff)
	// Jitter in [d/2, d).
	return d/2 + rand.N(d/2+1)
}

func (f *Follower) logf(format string, args ...any) {
	if f.opts.Log != nil {
		fmt.Fprintf(f.opts.Log, "goldmane: "+format+"\n", args...)
	}
}

// serverNow is the server's time now, in whole seconds.
func (f *Follower) serverNow() int64 { return f.clock.now().Unix() }

// horizon is the oldest bucket start Goldmane certainly still holds: its
// retention back from its now, plus one bucket for the time a List takes.
func (f *Follower) horizon() int64 {
	return f.serverNow() - int64(f.opts.Retention/time.Second) + f.interval
}

func (f *Follower) attempt(ctx context.Context) (progressed bool, err error) {
	if f.clock, err = f.c.readClock(ctx); err != nil {
		return false, err
	}
	if m := f.checkMark; m != nil {
		f.checkMark = nil
		if m.Bucket.Unix() >= f.horizon() {
			restarted, err := f.c.CheckMark(ctx, m, f.opts.Interval, f.opts.PageSize)
			if err != nil {
				f.checkMark = m
				return false, err
			}
			if restarted {
				f.noteRestart(fmt.Sprintf("the flow ids of %s changed", m))
				if err := f.resendGrace(ctx); err != nil {
					return false, err
				}
			}
		}
	}
	if f.openEnd != 0 {
		if err := f.completeOpen(ctx); err != nil {
			return false, err
		}
		progressed = true
	}
	if f.fill != nil {
		if err := f.runFill(ctx); err != nil {
			return progressed, err
		}
		progressed = true
	}
	if wm := f.watermark(); wm != 0 {
		if hi := f.serverNow() - int64(f.opts.BackfillLag/time.Second); wm < hi {
			f.fill = &fillState{lo: wm, hi: hi, keys: map[keyHash]struct{}{}}
			if err := f.runFill(ctx); err != nil {
				return progressed, err
			}
			progressed = true
		}
	}
	sp, err := f.stream(ctx)
	return progressed || sp, err
}

// resendGrace waits, after a restart was detected, until Felix has had
// time to resend its last minutes to the restarted Goldmane.
func (f *Follower) resendGrace(ctx context.Context) error {
	until := f.clock.now().Add(f.opts.ResendGrace).Truncate(time.Second)
	f.logf("waiting until %s for Felix to resend its last minutes", until.UTC().Format(time.RFC3339))
	if err := f.waitServer(ctx, until); err != nil {
		return err
	}
	var err error
	f.clock, err = f.c.readClock(ctx)
	return err
}

func (f *Follower) waitServer(ctx context.Context, until time.Time) error {
	if f.opts.OnWait != nil {
		f.opts.OnWait(until)
	}
	return f.c.WaitServer(ctx, until, f.opts.Poll)
}

// noteRestart records a detected Goldmane restart: the flows after the
// watermark that the restarted Goldmane no longer has are reported as a gap
// by the next backfill, and the old Mark is void.
func (f *Follower) noteRestart(why string) {
	f.logf("Goldmane restarted (%s): it lost the flows it held, except those Felix resent", why)
	f.restarted = true
	f.mu.Lock()
	f.mark = nil
	f.stats.Restarts++
	f.mu.Unlock()
}

func (f *Follower) watermark() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wm
}

func (f *Follower) setWM(t int64) {
	f.mu.Lock()
	f.wm = t
	f.mu.Unlock()
}

// advance moves the watermark forward to t and reports it; m, when not
// nil, becomes the Mark that goes with it.
func (f *Follower) advance(t int64, m *Mark) error {
	f.mu.Lock()
	if m != nil {
		f.mark = m
	}
	if t <= f.wm {
		f.mu.Unlock()
		return nil
	}
	f.wm = t
	f.mu.Unlock()
	if f.opts.OnWatermark != nil {
		if err := f.opts.OnWatermark(time.Unix(t, 0)); err != nil {
			return &callbackError{err}
		}
	}
	return nil
}

// deliver passes r on: to OnOpen when n connections of its key were open
// as a fresh window began, else to OnFlow.
func (f *Follower) deliver(r *pb.FlowResult, n int64) error {
	f.mu.Lock()
	f.stats.Delivered++
	f.mu.Unlock()
	var err error
	if n > 0 && f.opts.OnOpen != nil {
		err = f.opts.OnOpen(r, n)
	} else {
		err = f.opts.OnFlow(r)
	}
	if err != nil {
		return &callbackError{err}
	}
	return nil
}

// openAt lists the bucket starting at t and returns, by key, the
// connections that were open as it began.
func (f *Follower) openAt(ctx context.Context, t int64) (map[keyHash]int64, error) {
	open := map[keyHash]int64{}
	_, err := f.c.ListBucket(ctx, time.Unix(t, 0), f.opts.Interval, f.opts.PageSize, func(r *pb.FlowResult) error {
		if n := OpenConnections(r.GetFlow()); n > 0 {
			open[f.kh.sum(r.GetFlow().GetKey())] = n
		}
		return nil
	})
	return open, err
}

// takeCarry returns and forgets the open connections of key h.
func takeCarry(m map[keyHash]int64, h keyHash) int64 {
	n := m[h]
	if n > 0 {
		delete(m, h)
	}
	return n
}

func (f *Follower) count(p *int64) {
	f.mu.Lock()
	*p++
	f.mu.Unlock()
}

// openMark is the Mark of the open bucket's delivered keys.
func (f *Follower) openMark() *Mark {
	var mb MarkBuilder
	for h, id := range f.openKeys {
		mb.add(f.openStart, h, id)
	}
	return mb.Mark()
}

// completeOpen delivers what the broken stream had not yet delivered of the
// bucket it was on. Goldmane's List includes exactly the windows inside
// [gte, lt), so [openStart, openEnd) is that one bucket. A key delivered
// before that comes back under another id, or not at all, means Goldmane
// restarted in between.
func (f *Follower) completeOpen(ctx context.Context) error {
	for {
		f.logf("completing bucket %s with List", fmtRange(f.openStart, f.openEnd))
		listed := 0
		changed := false
		_, err := f.c.ListRequest(ctx, &pb.FlowListRequest{StartTimeGte: f.openStart, StartTimeLt: f.openEnd, PageSize: int64(f.opts.PageSize)},
			func(r *pb.FlowResult) error {
				h := f.kh.sum(r.GetFlow().GetKey())
				if id, dup := f.openKeys[h]; dup {
					listed++
					if id != r.GetId() && id > 0 {
						changed = true
					}
					f.count(&f.stats.Duplicates)
					return nil
				}
				f.openKeys[h] = r.GetId()
				return f.deliver(r, takeCarry(f.openCarry, h))
			})
		if err != nil {
			return err
		}
		// A bucket Goldmane still retains comes back with the keys
		// delivered, under the same ids, unless Goldmane restarted. Then
		// list it again once Felix has resent it: the keys delivered
		// before are not delivered again.
		if f.restarted || !(changed || (listed == 0 && f.openStart >= f.horizon())) {
			break
		}
		f.noteRestart(fmt.Sprintf("bucket %s came back with other flow ids", fmtRange(f.openStart, f.openEnd)))
		if err := f.resendGrace(ctx); err != nil {
			return err
		}
	}
	end := f.openEnd
	m := f.openMark()
	f.openStart, f.openEnd, f.openCarry = 0, 0, nil
	clear(f.openKeys)
	return f.advance(end, m)
}

// runFill runs (or resumes) the pending backfill.
func (f *Follower) runFill(ctx context.Context) error {
	fs := f.fill
	if !fs.prepared {
		if err := f.prepareFill(ctx, fs); err != nil {
			return err
		}
	}
	if fs.passed {
		f.logf("listing %s, which the stream passed without flows", fmtRange(fs.lo, fs.hi))
	} else {
		f.logf("backfilling %s with List", fmtRange(fs.lo, fs.hi))
	}
	// Buckets that start within one interval before lo end after it, so
	// none of them was delivered (lo need not be on a bucket boundary).
	req := &pb.FlowListRequest{StartTimeGte: fs.lo - (f.interval - 1), StartTimeLt: fs.hi, PageSize: int64(f.opts.PageSize)}
	for pass := 0; pass < 3 && fs.lo < fs.hi; pass++ {
		info, err := f.c.ListRequest(ctx, req, func(r *pb.FlowResult) error {
			fl := r.GetFlow()
			h := f.kh.sum(fl.GetKey())
			if e := fl.GetEndTime(); e > 0 {
				fs.marks.add(e-f.interval, h, r.GetId())
			}
			if _, dup := fs.keys[h]; dup {
				f.count(&f.stats.Duplicates)
				return nil
			}
			fs.keys[h] = struct{}{}
			if st := fl.GetStartTime(); st > 0 && (fs.oldest == 0 || st < fs.oldest) {
				fs.oldest = st
			}
			return f.deliver(r, takeCarry(fs.open, h))
		})
		if err != nil {
			return err
		}
		// Results move between pages when buckets expire while paging; a
		// second pass picks up any that were skipped.
		if !info.Unstable {
			break
		}
	}
	f.fill = nil
	f.count(&f.stats.Fills)
	return f.advance(fs.hi, fs.marks.Mark())
}

// prepareFill decides, before a backfill lists anything, what it cannot
// have and reports it as a gap: the part older than Goldmane's retention
// (by its clock), and after a restart the range before the oldest flow the
// restarted Goldmane has (all of it when it has none; Felix resends only
// its last minutes). A range without flows that Goldmane still retains is
// a quiet period, not a gap. A window that begins after a gap, or fresh,
// counts the connections open as its first bucket with flows began.
func (f *Follower) prepareFill(ctx context.Context, fs *fillState) error {
	horizon := f.horizon()
	var g Gap
	// A fresh window was promised nothing before it: what has expired
	// there is not a gap.
	if fs.lo < horizon && !f.fresh {
		g = Gap{From: time.Unix(fs.lo, 0), To: time.Unix(min(horizon, fs.hi), 0)}
		fs.lo = min(horizon, fs.hi)
	}
	var first int64
	found := false
	if f.restarted || f.fresh || !g.From.IsZero() {
		s, ok, err := f.c.FirstBucket(ctx, time.Unix(fs.lo, 0), time.Unix(fs.hi, 0), f.opts.Interval)
		if err != nil {
			return err
		}
		first, found = s.Unix(), ok
	}
	if f.restarted {
		lost := fs.hi
		if found {
			lost = max(first, fs.lo)
		}
		if lost-fs.lo >= f.interval {
			if g.From.IsZero() {
				g.From = time.Unix(fs.lo, 0)
			}
			g.To, g.Restart = time.Unix(lost, 0), true
		}
	}
	if !g.From.IsZero() {
		f.count(&f.stats.Gaps)
		why := "older than Goldmane's retention"
		if g.Restart {
			why = "lost in a Goldmane restart"
		}
		f.logf("gap: no flows for %s (%s)", fmtRange(g.From.Unix(), g.To.Unix()), why)
		if f.opts.OnGap != nil {
			if err := f.opts.OnGap(g); err != nil {
				return &callbackError{err}
			}
		}
		f.fresh = true
	}
	f.restarted = false
	if f.fresh && found {
		open, err := f.openAt(ctx, first)
		if err != nil {
			return err
		}
		fs.open = open
		f.fresh = false
	}
	fs.prepared = true
	return nil
}

// stream runs one Stream RPC from the watermark.
func (f *Follower) stream(ctx context.Context) (progressed bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idle := false
	var timer *time.Timer
	if f.opts.IdleTimeout > 0 {
		var mu sync.Mutex
		timer = time.AfterFunc(f.opts.IdleTimeout, func() {
			mu.Lock()
			idle = true
			mu.Unlock()
			cancel()
		})
		defer func() {
			timer.Stop()
			mu.Lock()
			if idle && ctx.Err() == nil {
				err = errIdle
			}
			mu.Unlock()
		}()
	}
	from := f.watermark()
	if from > f.serverNow()-f.interval {
		// A watermark in the bucket Goldmane is filling, or later (a
		// store written with a skewed clock): Goldmane would replay its
		// whole ring from there (the ring wraps). Stream from its now and
		// drop what the watermark has passed. A watermark at the end of
		// the last bucket streamed is at least an interval old.
		from = 0
	}
	f.count(&f.stats.Streams)
	first := true
	err = f.c.StreamRequest(sctx, &pb.FlowStreamRequest{StartTimeGte: from}, func(r *pb.FlowResult) error {
		if timer != nil {
			timer.Reset(f.opts.IdleTimeout)
		}
		progressed = true
		if err := f.checkEarly(sctx, r); err != nil {
			return err
		}
		st, wm := r.GetFlow().GetStartTime(), f.watermark()
		if r.GetFlow().GetEndTime() > wm && st > f.openStart {
			// A new bucket. The stream sends nothing for a bucket without
			// flows, so it passed the buckets between the last one (or
			// the watermark) and this one as empty. They may not have
			// been: right after Goldmane starts, it streams the bucket it
			// was filling as soon as that bucket ends, before Felix has
			// reported it, and a stream opened then replays one that has
			// just ended; and after the watermark, the server's history
			// may begin later (a restart). List them before going on.
			if f.openEnd != 0 {
				if err := f.advance(f.openEnd, f.openMark()); err != nil {
					return err
				}
				f.openStart, f.openEnd, f.openCarry = 0, 0, nil
				clear(f.openKeys)
				wm = f.watermark()
			}
			if wm != 0 && st > wm {
				f.fill = &fillState{lo: wm, hi: st, keys: map[keyHash]struct{}{}, passed: true}
				if err := f.runFill(sctx); err != nil {
					return err
				}
			} else if first {
				// The stream goes on from the watermark: nothing lost.
				f.restarted = false
			}
			first = false
			if f.fresh {
				// This bucket begins a fresh window.
				open, err := f.openAt(sctx, r.GetFlow().GetStartTime())
				if err != nil {
					return err
				}
				f.fresh = false
				return f.onStreamResult(r, open)
			}
		}
		return f.onStreamResult(r, nil)
	})
	return progressed, err
}

// checkEarly returns an *earlyError for the first result of a bucket that
// was streamed too soon after its end for Felix's reports of it to be in.
func (f *Follower) checkEarly(ctx context.Context, r *pb.FlowResult) error {
	s, e := r.GetFlow().GetStartTime(), r.GetFlow().GetEndTime()
	early := func() bool { return e > f.watermark() && s > f.openStart && f.serverNow()-e < f.interval*2/3 }
	if !early() {
		return nil
	}
	// Make sure with a fresh reading of the server's clock (the last one
	// is extrapolated).
	var err error
	if f.clock, err = f.c.readClock(ctx); err != nil {
		return err
	}
	if early() {
		// Nothing of it is delivered; it is read again one interval (and
		// a margin) after its end.
		return &earlyError{start: s, end: e, until: e + f.interval + 5}
	}
	return nil
}

// onStreamResult delivers a streamed result; open, when r starts a new
// bucket that begins a fresh window, holds the connections open as it
// began.
func (f *Follower) onStreamResult(r *pb.FlowResult, open map[keyHash]int64) error {
	fl := r.GetFlow()
	s, e := fl.GetStartTime(), fl.GetEndTime()
	if e <= f.watermark() {
		f.count(&f.stats.Late)
		return nil
	}
	if s > f.openStart {
		// Goldmane streams buckets in order: every bucket that started
		// before this one is complete.
		var m *Mark
		if f.openEnd != 0 {
			m = f.openMark()
		}
		if err := f.advance(s, m); err != nil {
			return err
		}
		f.openStart, f.openEnd, f.openCarry = s, e, open
		clear(f.openKeys)
	}
	h := f.kh.sum(fl.GetKey())
	if _, dup := f.openKeys[h]; dup {
		f.count(&f.stats.Duplicates)
		return nil
	}
	f.openKeys[h] = r.GetId()
	return f.deliver(r, takeCarry(f.openCarry, h))
}

func fmtRange(from, to int64) string {
	return fmt.Sprintf("[%s, %s)", time.Unix(from, 0).UTC().Format(time.RFC3339), time.Unix(to, 0).UTC().Format(time.RFC3339))
}

// OpenAt lists the bucket starting at t and returns, by key digest
// (KeyDigest), the connections that were open as it began.
func (c *Client) OpenAt(ctx context.Context, t time.Time, interval time.Duration, pageSize int) (map[string]int64, error) {
	kh := newKeyHasher()
	open := map[string]int64{}
	_, err := c.ListBucket(ctx, t, interval, pageSize, func(r *pb.FlowResult) error {
		if n := OpenConnections(r.GetFlow()); n > 0 {
			open[kh.sum(r.GetFlow().GetKey()).String()] = n
		}
		return nil
	})
	return open, err
}
