package goldmane

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/calico-plan/calico-plan/flows/goldmanepb"
)

// Gap is a time range whose flows may be missing: Goldmane no longer had them
// (older than its ~1 h retention, or lost in a Goldmane restart) when the
// Follower asked.
type Gap struct{ From, To time.Time }

// FollowOptions configure a Follower. OnFlow is required.
type FollowOptions struct {
	// OnFlow receives each delivered result. Stream results cover one 15 s
	// bucket; backfill (List) results aggregate one flow key over several
	// buckets. Either way no bucket of a key is delivered twice.
	OnFlow func(*pb.FlowResult) error
	// OnWatermark reports that every bucket ending at or before t has been
	// delivered (or reported as a gap), and nothing ending after t has been
	// delivered except what came after the previous OnWatermark. A caller
	// that persists the effect of the flows received so far together with t,
	// atomically, can resume with Run(ctx, t) without double counting or
	// loss.
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
	// BackfillLag: when the watermark is older than now-BackfillLag, the
	// gap up to now-BackfillLag is backfilled with List and the stream
	// (which replays its last few buckets itself) covers the rest; default
	// 60 s.
	BackfillLag time.Duration
	// Retention is how much history Goldmane keeps; default 1 h. It only
	// matters when a backfill returns nothing: the part of the range older
	// than now-Retention is then reported as a gap.
	Retention time.Duration
	// GapTolerance: a backfill whose oldest flow starts at least this much
	// after the watermark reports a gap; default Interval.
	GapTolerance time.Duration
	// MinBackoff and MaxBackoff bound the exponential, jittered delay
	// between reconnection attempts; defaults 500 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// MaxRetries is the number of consecutive failed attempts after which
	// Run gives up; 0 retries forever.
	MaxRetries int
	// IdleTimeout restarts a stream that received nothing for this long
	// (a dead port-forward); default 5 min, negative disables.
	IdleTimeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// FollowStats count what a Follower did.
type FollowStats struct {
	// Delivered results; Duplicates (already delivered, dropped) and Late
	// (for buckets at or before the watermark, dropped) results.
	Delivered, Duplicates, Late int64
	// Streams opened, Reconnects after errors, backfill Fills, Gaps.
	Streams, Reconnects, Fills, Gaps int64
}

// Follower follows Goldmane for as long as its context lives. See Run. Run
// must not be called concurrently; Watermark and Stats may be called from
// any goroutine.
type Follower struct {
	c        *Client
	opts     FollowOptions
	interval int64

	mu    sync.Mutex // guards wm and stats for concurrent readers
	wm    int64
	stats FollowStats

	// The bucket the stream is delivering; it becomes complete when the
	// next bucket starts. openKeys holds the keys delivered for it.
	openStart, openEnd int64
	openKeys           map[keyHash]struct{}

	fill *fillState // a backfill to (re)do before streaming
	buf  []byte
	h    hash.Hash
}

type keyHash [16]byte

// fillState is one backfill List of [lo, hi); kept across retries with the
// same bounds, so that the keys already delivered are skipped.
type fillState struct {
	lo, hi int64
	keys   map[keyHash]struct{}
	oldest int64
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
	if opts.GapTolerance <= 0 {
		opts.GapTolerance = opts.Interval
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
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Follower{c: c, opts: opts, interval: int64(opts.Interval / time.Second), openKeys: map[keyHash]struct{}{}, h: fnv.New128a()}
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

// Run follows Goldmane from watermark (the zero Time: from the next bucket
// Goldmane completes, with no backfill) until ctx ends or a callback fails;
// it returns ctx.Err() or the callback's error, or a non-retryable RPC
// error (or the last error after MaxRetries).
//
// Design. The watermark W means: every bucket ending at or before W has been
// handled. Each connection attempt
//  1. completes the bucket the stream was delivering when it broke, by
//     listing exactly that bucket and delivering the keys not yet delivered;
//  2. if W is older than now-BackfillLag, backfills [W, now-BackfillLag)
//     with one paged List (Goldmane aggregates it per key), reports a gap
//     when the oldest flow returned starts well after W, and moves W to
//     the end of the backfill;
//  3. streams from W. Goldmane replays the completed buckets from the one
//     containing W, then sends each bucket as it completes, in order, so a
//     result starting after the current bucket completes every earlier one
//     and W moves to its start. If the first bucket streamed starts more
//     than one interval after W (the server's history begins after W, as
//     after a Goldmane restart), step 2 runs for [W, that start) first.
//
// Results for buckets ending at or before W are dropped, and keys already
// delivered for the current bucket are dropped, so nothing is delivered
// twice; a bucket the server still holds is always in a List or the stream.
func (f *Follower) Run(ctx context.Context, watermark time.Time) error {
	if f.opts.OnFlow == nil {
		return errors.New("goldmane: FollowOptions.OnFlow is required")
	}
	f.setWM(UnixArg(watermark))
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

func (f *Follower) attempt(ctx context.Context) (progressed bool, err error) {
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
		if hi := f.opts.Now().Add(-f.opts.BackfillLag).Unix(); wm < hi {
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

// advance moves the watermark forward to t and reports it.
func (f *Follower) advance(t int64) error {
	f.mu.Lock()
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

func (f *Follower) deliver(r *pb.FlowResult) error {
	f.mu.Lock()
	f.stats.Delivered++
	f.mu.Unlock()
	if err := f.opts.OnFlow(r); err != nil {
		return &callbackError{err}
	}
	return nil
}

func (f *Follower) count(p *int64) {
	f.mu.Lock()
	*p++
	f.mu.Unlock()
}

func (f *Follower) hash(k *pb.FlowKey) keyHash {
	f.buf, _ = proto.MarshalOptions{Deterministic: true}.MarshalAppend(f.buf[:0], k)
	f.h.Reset()
	_, _ = f.h.Write(f.buf)
	var out keyHash
	f.h.Sum(out[:0])
	return out
}

// completeOpen delivers what the broken stream had not yet delivered of the
// bucket it was on. Goldmane's List includes exactly the windows inside
// [gte, lt), so [openStart, openEnd) is that one bucket.
func (f *Follower) completeOpen(ctx context.Context) error {
	f.logf("completing bucket %s with List", fmtRange(f.openStart, f.openEnd))
	_, err := f.c.ListRequest(ctx, &pb.FlowListRequest{StartTimeGte: f.openStart, StartTimeLt: f.openEnd, PageSize: int64(f.opts.PageSize)},
		func(r *pb.FlowResult) error {
			h := f.hash(r.GetFlow().GetKey())
			if _, dup := f.openKeys[h]; dup {
				f.count(&f.stats.Duplicates)
				return nil
			}
			f.openKeys[h] = struct{}{}
			return f.deliver(r)
		})
	if err != nil {
		return err
	}
	end := f.openEnd
	f.openStart, f.openEnd = 0, 0
	clear(f.openKeys)
	return f.advance(end)
}

// runFill runs (or resumes) the pending backfill.
func (f *Follower) runFill(ctx context.Context) error {
	fs := f.fill
	f.logf("backfilling %s with List", fmtRange(fs.lo, fs.hi))
	// Buckets that start within one interval before lo end after it, so
	// none of them was delivered (lo need not be on a bucket boundary).
	req := &pb.FlowListRequest{StartTimeGte: fs.lo - (f.interval - 1), StartTimeLt: fs.hi, PageSize: int64(f.opts.PageSize)}
	for pass := 0; pass < 3; pass++ {
		info, err := f.c.ListRequest(ctx, req, func(r *pb.FlowResult) error {
			h := f.hash(r.GetFlow().GetKey())
			if _, dup := fs.keys[h]; dup {
				f.count(&f.stats.Duplicates)
				return nil
			}
			fs.keys[h] = struct{}{}
			if st := r.GetFlow().GetStartTime(); st > 0 && (fs.oldest == 0 || st < fs.oldest) {
				fs.oldest = st
			}
			return f.deliver(r)
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
	if g, ok := f.gapFor(fs); ok {
		f.count(&f.stats.Gaps)
		f.logf("gap: no flows for %s", fmtRange(g.From.Unix(), g.To.Unix()))
		if f.opts.OnGap != nil {
			if err := f.opts.OnGap(g); err != nil {
				return &callbackError{err}
			}
		}
	}
	f.fill = nil
	f.count(&f.stats.Fills)
	return f.advance(fs.hi)
}

// gapFor decides whether a backfill found a gap. Goldmane does not say
// where its history begins, so a gap is inferred: flows exist, but the
// oldest starts at least GapTolerance after the watermark (expired, or lost
// in a Goldmane restart; it can also be a quiet period, which is reported
// too, to stay on the safe side). When nothing at all came back, only the
// part older than the retention horizon is certainly missing.
func (f *Follower) gapFor(fs *fillState) (Gap, bool) {
	tol := int64(f.opts.GapTolerance / time.Second)
	if fs.oldest != 0 {
		if fs.oldest-fs.lo >= tol {
			return Gap{From: time.Unix(fs.lo, 0), To: time.Unix(fs.oldest, 0)}, true
		}
		return Gap{}, false
	}
	horizon := min(f.opts.Now().Add(-f.opts.Retention).Unix(), fs.hi)
	if horizon > fs.lo {
		return Gap{From: time.Unix(fs.lo, 0), To: time.Unix(horizon, 0)}, true
	}
	return Gap{}, false
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
	f.count(&f.stats.Streams)
	first := true
	err = f.c.StreamRequest(sctx, &pb.FlowStreamRequest{StartTimeGte: from}, func(r *pb.FlowResult) error {
		if timer != nil {
			timer.Reset(f.opts.IdleTimeout)
		}
		progressed = true
		if first {
			first = false
			// The server skipped buckets after the watermark: fetch them
			// (and detect the gap) before going on.
			if wm, st := f.watermark(), r.GetFlow().GetStartTime(); wm != 0 && st-wm > f.interval {
				f.fill = &fillState{lo: wm, hi: st, keys: map[keyHash]struct{}{}}
				if err := f.runFill(sctx); err != nil {
					return err
				}
			}
		}
		return f.onStreamResult(r)
	})
	return progressed, err
}

func (f *Follower) onStreamResult(r *pb.FlowResult) error {
	fl := r.GetFlow()
	s, e := fl.GetStartTime(), fl.GetEndTime()
	if e <= f.watermark() {
		f.count(&f.stats.Late)
		return nil
	}
	if s > f.openStart {
		// Goldmane streams buckets in order: every bucket that started
		// before this one is complete.
		if err := f.advance(s); err != nil {
			return err
		}
		f.openStart, f.openEnd = s, e
		clear(f.openKeys)
	}
	h := f.hash(fl.GetKey())
	if _, dup := f.openKeys[h]; dup {
		f.count(&f.stats.Duplicates)
		return nil
	}
	f.openKeys[h] = struct{}{}
	return f.deliver(r)
}

func fmtRange(from, to int64) string {
	return fmt.Sprintf("[%s, %s)", time.Unix(from, 0).UTC().Format(time.RFC3339), time.Unix(to, 0).UTC().Format(time.RFC3339))
}
