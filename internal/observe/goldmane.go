package observe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/flows/goldmane"
	pb "github.com/calico-plan/calico-plan/flows/goldmanepb"
)

// GoldmaneOptions configure observing Goldmane (Calico OSS 3.30+).
type GoldmaneOptions struct {
	Client *goldmane.Client
	// SourceID names the source in the store; it must stay the same from
	// run to run (a port-forward's local address does not).
	SourceID string
	// Since bounds the first run (no watermark yet) to the last Since by
	// Goldmane's clock: 0 reads everything Goldmane retains (about an
	// hour).
	Since time.Duration
	// Interval is Goldmane's bucket width (15 s).
	Interval time.Duration
	// Retention is how much history Goldmane keeps (about 1 h).
	Retention time.Duration
	// Lag: only buckets that ended at least Lag before Goldmane's now are
	// read, because flows reach Goldmane up to a flush interval after
	// their bucket ends; default 60 s.
	Lag time.Duration
	// ResendGrace: after detecting a Goldmane restart, wait this long by
	// Goldmane's clock before reading what the restarted Goldmane has, so
	// that Felix has reconnected and resent its last minutes; default 30 s.
	ResendGrace time.Duration
	// Poll is how often Goldmane's clock is read while waiting for it
	// (default 1 s); OnWait, when set, is told when a wait begins.
	Poll     time.Duration
	OnWait   func(until time.Time)
	PageSize int
	// Tee receives every flow read, as the Goldmane JSON lines (protojson)
	// that observe --from and check --flows read back: a flow file for CI
	// on Calico OSS, where Goldmane keeps no history. A List attempt that
	// is retried writes nothing; nil discards.
	Tee io.Writer
	// AllowPartial downgrades an unstable listing to a warning recorded in
	// the store instead of an error.
	AllowPartial bool
	// Log receives progress and retry messages; nil discards.
	Log io.Writer
	// Now is this machine's clock; default time.Now. It sets no window
	// edge (those come from Goldmane's clock): it is only compared with
	// Goldmane's, to warn of a skewed clock.
	Now func() time.Time
}

func (o *GoldmaneOptions) defaults() {
	if o.Interval <= 0 {
		o.Interval = 15 * time.Second
	}
	if o.Retention <= 0 {
		o.Retention = time.Hour
	}
	if o.Lag <= 0 {
		o.Lag = 60 * time.Second
	}
	if o.ResendGrace <= 0 {
		o.ResendGrace = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// GoldmaneResult reports one Goldmane observation.
type GoldmaneResult struct {
	From, To  time.Time
	Results   int64
	Unmapped  int64
	Examples  []string
	Gaps      []allowlist.Gap
	Stats     allowlist.Stats
	Watermark time.Time
	// Restarted is set when Goldmane restarted since the watermark.
	Restarted bool
	// Skew is Goldmane's clock minus this machine's.
	Skew time.Duration
}

// mapper converts Goldmane results into the aggregator, counting flows it
// cannot map (for example an enum value from a newer Calico).
type mapper struct {
	agg      *allowlist.Aggregator
	f        flows.Flow
	unmapped int64
	examples []string
	// open holds, by key digest, the connections that were open as a
	// fresh window began, for the key's first result.
	open map[string]int64
	// tee: keep every mapped flow in teeBuf as a Goldmane JSON line.
	tee    bool
	teeBuf []byte
}

func (m *mapper) add(r *pb.FlowResult) error { return m.addOpen(r, 0) }

// addOpen adds r with n more connections: connections that were open as a
// fresh window began (Goldmane counts a connection only in the bucket it
// starts in; see FillFromGoldmane).
func (m *mapper) addOpen(r *pb.FlowResult, n int64) error {
	if err := flows.FillFromGoldmane(&m.f, r.GetFlow()); err != nil {
		m.unmapped++
		if len(m.examples) < 5 {
			m.examples = append(m.examples, err.Error())
		}
		return nil
	}
	if len(m.open) > 0 {
		d := goldmane.KeyDigest(r.GetFlow().GetKey())
		n += m.open[d]
		delete(m.open, d)
	}
	m.f.NumFlows += n
	m.agg.Add(&m.f)
	if m.tee {
		m.teeBuf = flows.AppendGoldmaneJSON(m.teeBuf, &m.f, true)
	}
	return nil
}

// flushTee writes the kept lines to w and forgets them.
func (m *mapper) flushTee(w io.Writer) error {
	if len(m.teeBuf) == 0 || w == nil {
		return nil
	}
	_, err := w.Write(m.teeBuf)
	m.teeBuf = m.teeBuf[:0]
	if err != nil {
		return fmt.Errorf("--tee: %w", err)
	}
	return nil
}

const (
	reasonRetention = "Goldmane no longer had these flows (it keeps about one hour): run observe at least every 30 minutes, or observe --follow"
	reasonRestart   = "Goldmane restarted and lost these flows (it keeps them in memory only; Felix resends only its last five minutes)"
)

func gapOf(id string, from, to time.Time, restart bool) allowlist.Gap {
	reason := reasonRetention
	if restart {
		reason = reasonRestart
	}
	return allowlist.Gap{From: allowlist.Time(from.Unix()), To: allowlist.Time(to.Unix()), Source: id, Reason: reason}
}

// serverNow reads Goldmane's clock and warns when this machine's differs.
func serverNow(ctx context.Context, opt *GoldmaneOptions) (time.Time, time.Duration, error) {
	now, err := opt.Client.ServerNow(ctx)
	if err != nil {
		return time.Time{}, 0, err
	}
	skew := now.Sub(opt.Now()).Round(time.Second)
	if skew >= 30*time.Second || skew <= -30*time.Second {
		dir := "ahead of"
		if skew < 0 {
			dir = "behind"
		}
		fmt.Fprintf(opt.Log, "goldmane: Goldmane's clock is %s %s this machine's; reading by Goldmane's clock\n", skew.Abs(), dir)
	}
	return now, skew, nil
}

// storeMark and loadMark convert a goldmane.Mark for the store.
func storeMark(m *goldmane.Mark) *allowlist.SourceMark {
	if m == nil {
		return nil
	}
	out := &allowlist.SourceMark{Bucket: allowlist.Time(m.Bucket.Unix())}
	for _, k := range m.Keys {
		out.Keys = append(out.Keys, k.Digest+"="+strconv.FormatInt(k.ID, 10))
	}
	return out
}

func loadMark(m *allowlist.SourceMark) *goldmane.Mark {
	if m == nil || m.Bucket == 0 {
		return nil
	}
	out := &goldmane.Mark{Bucket: m.Bucket.T()}
	for _, k := range m.Keys {
		d, id, ok := strings.Cut(k, "=")
		n, err := strconv.ParseInt(id, 10, 64)
		if !ok || err != nil || d == "" || n <= 0 {
			return nil // not ours: no restart check rather than a false one
		}
		out.Keys = append(out.Keys, goldmane.KeyID{Digest: d, ID: n})
	}
	if len(out.Keys) == 0 {
		return nil
	}
	return out
}

// window is where an observation of Goldmane begins.
type window struct {
	from  int64 // where this run continues (the watermark), or begins
	lo    int64 // where reading begins: from, or the end of a gap
	fresh bool  // nothing before lo was observed: count the connections open at its first bucket
	gaps  []allowlist.Gap
	// restarted is set when Goldmane restarted since the watermark.
	restarted bool
}

// GoldmaneList reads every complete bucket, by Goldmane's clock, from the
// store's watermark for this source (or Since, or all Goldmane retains),
// merges it into the store and advances the watermark. The part of the
// window Goldmane no longer retains, or lost in a restart, is recorded as
// an observation gap; a quiet period it still retains is not. The caller
// saves the store.
func GoldmaneList(ctx context.Context, st *allowlist.Store, opt GoldmaneOptions) (*GoldmaneResult, error) {
	opt.defaults()
	snow, skew, err := serverNow(ctx, &opt)
	if err != nil {
		return nil, err
	}
	iv := int64(opt.Interval / time.Second)
	// Only complete buckets: flows reach Goldmane up to a flush interval
	// after their bucket ends.
	to := snow.Add(-opt.Lag).UTC()
	// The oldest bucket start Goldmane certainly still holds, with one
	// bucket to spare for the time the listing takes.
	horizon := snow.Add(-opt.Retention).Unix() + iv
	rec := st.FindSource(allowlist.SourceGoldmane, opt.SourceID)
	var w window
	switch {
	case rec != nil && rec.Watermark != 0:
		w.from = int64(rec.Watermark)
	case opt.Since > 0:
		w.from, w.fresh = max(to.Add(-opt.Since).Unix(), horizon), true
	default:
		w.from, w.fresh = horizon, true
	}
	w.lo = w.from
	res := &GoldmaneResult{From: time.Unix(w.from, 0).UTC(), To: to, Watermark: time.Unix(w.from, 0).UTC(), Skew: skew}
	if w.from >= to.Unix() {
		if w.from > to.Unix()+iv {
			fmt.Fprintf(opt.Log, "goldmane: the store's watermark %s is ahead of Goldmane's clock (%s); nothing is read until Goldmane's clock passes it\n",
				res.From.Format(time.RFC3339), snow.UTC().Format(time.RFC3339))
		}
		return res, nil
	}
	if !w.fresh {
		if err := checkWindow(ctx, &w, loadMark(rec.Mark), snow, to.Unix(), horizon, &opt); err != nil {
			return nil, err
		}
	}
	res.Restarted = w.restarted
	l := &goldmaneListing{st: st, opt: &opt, res: res, iv: iv, phase: -1,
		m: &mapper{agg: allowlist.NewAggregator(allowlist.NewClassifier(st.Profile()))}}
	if w.fresh {
		if l.m.open, err = openAtFirst(ctx, w.lo, to.Unix(), &opt); err != nil {
			return nil, err
		}
	}
	if err := l.listDays(ctx, w.lo, to); err != nil {
		return nil, err
	}
	res.Gaps = w.gaps
	for _, g := range res.Gaps {
		st.AddGap(g)
	}
	st.Apply(l.m.agg)
	l.record(rec, &w, to)
	return res, nil
}

// goldmaneListing is one GoldmaneList run's reading state.
type goldmaneListing struct {
	st      *allowlist.Store
	opt     *GoldmaneOptions
	res     *GoldmaneResult
	iv      int64 // the bucket interval, seconds
	m       *mapper
	marks   goldmane.MarkBuilder
	phase   int64 // Goldmane's bucket grid (buckets align to its start, not the epoch); -1: unknown
	partial bool
}

// listDays lists [lo, to) with one List per UTC day: Goldmane aggregates a
// key over the whole window, and evidence counts days. Goldmane lists only
// the buckets that lie wholly inside a window, and its buckets align to its
// own start, not to the epoch: each window starts one interval (less a
// second) early, so the bucket straddling its start, which the previous
// window (or run) could not list, is listed by this one. Buckets that start
// at or before lo-Interval end by lo and were listed before (the
// watermark's bucket grid, or the previous day).
func (l *goldmaneListing) listDays(ctx context.Context, from int64, to time.Time) error {
	early := time.Duration(l.iv-1) * time.Second
	for lo := time.Unix(from, 0).UTC(); lo.Before(to); {
		hi := time.Date(lo.Year(), lo.Month(), lo.Day()+1, 0, 0, 0, 0, time.UTC)
		if hi.After(to) {
			hi = to
		}
		info, err := l.listDay(ctx, lo, hi, early)
		if err != nil {
			return err
		}
		if info.Unstable {
			if !l.opt.AllowPartial {
				return fmt.Errorf("goldmane %s: results kept shifting while paging %s..%s, so some flows may be missing; retry, or pass --allow-partial to keep them with a recorded warning", l.opt.SourceID, lo.Format(time.RFC3339), hi.Format(time.RFC3339))
			}
			l.partial = true
		}
		lo = hi
	}
	return nil
}

// listDay lists one window, again (up to three times) while its results
// shift under the paging; the last attempt's results are kept.
func (l *goldmaneListing) listDay(ctx context.Context, lo, hi time.Time, early time.Duration) (goldmane.ListInfo, error) {
	var info goldmane.ListInfo
	for attempt := 0; attempt < 3; attempt++ {
		sub := &mapper{agg: allowlist.NewAggregator(allowlist.NewClassifier(l.st.Profile())), open: maps.Clone(l.m.open), tee: l.opt.Tee != nil}
		var n int64 // this attempt's results: a discarded attempt counts none
		var err error
		info, err = l.opt.Client.List(ctx, lo.Add(-early), hi, l.opt.PageSize, func(r *pb.FlowResult) error {
			n++
			if st := r.GetFlow().GetStartTime(); st > 0 {
				l.phase = st % l.iv
			}
			l.marks.AddResult(r, l.opt.Interval)
			return sub.add(r)
		})
		if err != nil {
			return info, err
		}
		if !info.Unstable || attempt == 2 {
			l.res.Results += n
			l.m.agg.Merge(sub.agg)
			l.m.unmapped += sub.unmapped
			l.m.examples = append(l.m.examples, sub.examples...)
			l.m.open = sub.open
			if err := sub.flushTee(l.opt.Tee); err != nil {
				return info, err
			}
			break
		}
		fmt.Fprintf(l.opt.Log, "goldmane: results shifted while paging %s..%s (data expired or arrived); listing again\n", lo.Format(time.RFC3339), hi.Format(time.RFC3339))
	}
	return info, nil
}

// record advances the source's watermark and records what was read.
func (l *goldmaneListing) record(rec *allowlist.SourceRecord, w *window, to time.Time) {
	st, opt, res, m, iv := l.st, l.opt, l.res, l.m, l.iv
	// Goldmane lists a bucket only when it lies wholly inside the window, so
	// the next window must start on its bucket grid: at the last bucket
	// boundary at or before `to`. The bucket straddling `to` (not listed
	// now) is then listed next time.
	wm := to.Unix() - iv // grid unknown (nothing listed): one bucket back is safe
	if l.phase >= 0 {
		wm = to.Unix() - ((to.Unix()-l.phase)%iv+iv)%iv
	}
	if wm < w.from {
		wm = w.from
	}
	res.To = time.Unix(wm, 0).UTC()
	r := allowlist.SourceRecord{Kind: allowlist.SourceGoldmane, ID: opt.SourceID}
	if rec != nil {
		r = *rec
	}
	r.Watermark = allowlist.Time(wm)
	r.Records += res.Results
	if r.From == 0 || (m.agg.Stats.From != 0 && m.agg.Stats.From < r.From) {
		r.From = m.agg.Stats.From
	}
	if m.agg.Stats.To > r.To {
		r.To = m.agg.Stats.To
	}
	switch mk := l.marks.Mark(); {
	case mk != nil:
		r.Mark = storeMark(mk)
	case w.restarted:
		r.Mark = nil // the old one names the lost Goldmane
	}
	if l.partial {
		r.Partial = true
		st.AddWarning(fmt.Sprintf("goldmane %s: results shifted while paging up to %s; some flows may be missing", opt.SourceID, to.Format(time.RFC3339)))
	}
	st.PutSource(r)
	res.Unmapped, res.Examples, res.Stats, res.Watermark = m.unmapped, m.examples, m.agg.Stats, res.To
}

// checkWindow decides what of [w.from, to) Goldmane can no longer supply,
// before anything is read: the part older than its retention (horizon),
// and, when the Mark shows that Goldmane restarted, the range before the
// oldest flow the restarted Goldmane has (Felix resends only its last
// minutes). Reading then begins after the gap, with a fresh window.
func checkWindow(ctx context.Context, w *window, mark *goldmane.Mark, snow time.Time, to, horizon int64, opt *GoldmaneOptions) error {
	iv := int64(opt.Interval / time.Second)
	if mark != nil && mark.Bucket.Unix() >= horizon {
		restarted, err := opt.Client.CheckMark(ctx, mark, opt.Interval, opt.PageSize)
		if err != nil {
			return err
		}
		if restarted {
			fmt.Fprintf(opt.Log, "goldmane: Goldmane restarted since the last run (the flow ids of %s changed)\n", mark)
			w.restarted = true
			// It may have restarted moments ago: give Felix time to resend.
			until := snow.Add(opt.ResendGrace)
			fmt.Fprintf(opt.Log, "goldmane: waiting until %s for Felix to resend its last minutes\n", until.UTC().Format(time.RFC3339))
			if opt.OnWait != nil {
				opt.OnWait(until)
			}
			if err := opt.Client.WaitServer(ctx, until, opt.Poll); err != nil {
				return err
			}
		}
	}
	gapTo, restartGap := int64(0), false
	if w.from < horizon {
		gapTo = min(horizon, to)
		w.lo = gapTo
	}
	if w.restarted {
		first, ok, err := opt.Client.FirstBucket(ctx, time.Unix(w.lo, 0), time.Unix(to, 0), opt.Interval)
		if err != nil {
			return err
		}
		lost := to
		if ok {
			lost = max(first.Unix(), w.lo)
		}
		if lost-w.lo >= iv {
			gapTo, restartGap = lost, true
			w.lo = lost
		}
	}
	if gapTo > w.from {
		w.gaps = append(w.gaps, gapOf(opt.SourceID, time.Unix(w.from, 0), time.Unix(gapTo, 0), restartGap))
		w.fresh = true
	}
	return nil
}

// openAtFirst finds the first bucket with flows in [lo, to) and returns,
// by key digest, the connections open as it began.
func openAtFirst(ctx context.Context, lo, to int64, opt *GoldmaneOptions) (map[string]int64, error) {
	first, ok, err := opt.Client.FirstBucket(ctx, time.Unix(lo, 0), time.Unix(to, 0), opt.Interval)
	if err != nil || !ok {
		return nil, err
	}
	return opt.Client.OpenAt(ctx, first, opt.Interval, opt.PageSize)
}

// FollowOptions add checkpointing to GoldmaneOptions.
type FollowOptions struct {
	GoldmaneOptions
	// Checkpoint is how often the store is saved (default 1m).
	Checkpoint time.Duration
	// Save persists the store (Store.Save in production).
	Save func() error
	// Follow tuning passed to the follower (tests); zero values are defaults.
	Follow goldmane.FollowOptions
}

// GoldmaneFollow streams Goldmane from the store's watermark until ctx ends,
// checkpointing into the store atomically every Checkpoint and once more on
// the way out. A checkpoint holds exactly the buckets up to the follower's
// watermark (with the Mark that detects a Goldmane restart), so a crash or
// restart resumes without double counting or loss; flows of a bucket still
// open at shutdown come again on the next run. Every window edge comes
// from Goldmane's clock.
func GoldmaneFollow(ctx context.Context, st *allowlist.Store, opt FollowOptions) error {
	opt.defaults()
	if opt.Checkpoint <= 0 {
		opt.Checkpoint = time.Minute
	}
	snow, _, err := serverNow(ctx, &opt.GoldmaneOptions)
	if err != nil {
		return err
	}
	iv := int64(opt.Interval / time.Second)
	horizon := snow.Add(-opt.Retention).Unix() + iv
	rec := st.FindSource(allowlist.SourceGoldmane, opt.SourceID)
	fo := opt.Follow
	var start time.Time
	switch {
	case rec != nil && rec.Watermark != 0:
		start = rec.Watermark.T()
		fo.Mark = loadMark(rec.Mark)
	case opt.Since > 0:
		start, fo.Fresh = time.Unix(max(snow.Add(-opt.Since).Unix(), horizon), 0), true
	default:
		start, fo.Fresh = time.Unix(horizon, 0), true
	}
	run := &goldmaneFollowing{st: st, opt: &opt, lastSave: time.Now()}
	run.pending = &mapper{agg: run.newAgg(), tee: opt.Tee != nil}
	run.ready = run.newAgg()
	fo.OnFlow = func(r *pb.FlowResult) error {
		run.pendingResults++
		return run.pending.add(r)
	}
	fo.OnOpen = func(r *pb.FlowResult, n int64) error {
		run.pendingResults++
		return run.pending.addOpen(r, n)
	}
	fo.OnGap = run.onGap
	fo.OnWatermark = run.onWatermark
	followDefaults(&fo, &opt.GoldmaneOptions)
	run.f = goldmane.NewFollower(opt.Client, fo)
	err = run.f.Run(ctx, start)
	if cerr := run.checkpoint(); cerr != nil {
		return errors.Join(err, cerr)
	}
	if err != nil && ctx.Err() != nil {
		return nil // stopped by SIGINT/SIGTERM: the last checkpoint is saved
	}
	if run.pending.unmapped > 0 {
		fmt.Fprintf(opt.Log, "goldmane: %d flows could not be mapped (first: %v)\n", run.pending.unmapped, run.pending.examples)
	}
	return err
}

// followDefaults fills the follower's unset tuning from the options.
func followDefaults(fo *goldmane.FollowOptions, opt *GoldmaneOptions) {
	if fo.Log == nil {
		fo.Log = opt.Log
	}
	if fo.Interval == 0 {
		fo.Interval = opt.Interval
	}
	if fo.Retention == 0 {
		fo.Retention = opt.Retention
	}
	if fo.BackfillLag == 0 {
		fo.BackfillLag = opt.Lag
	}
	if fo.PageSize == 0 {
		fo.PageSize = opt.PageSize
	}
	if fo.ResendGrace == 0 {
		fo.ResendGrace = opt.ResendGrace
	}
	if fo.Poll == 0 {
		fo.Poll = opt.Poll
	}
	if fo.OnWait == nil {
		fo.OnWait = opt.OnWait
	}
}

// goldmaneFollowing is one GoldmaneFollow run's state between checkpoints.
type goldmaneFollowing struct {
	st        *allowlist.Store
	opt       *FollowOptions
	f         *goldmane.Follower
	pending   *mapper               // flows after the last watermark
	ready     *allowlist.Aggregator // flows up to the last watermark, not yet saved
	wm        time.Time
	mark      *goldmane.Mark
	restarted bool
	gaps      []allowlist.Gap
	results   int64
	// pendingResults were delivered after the last watermark: they may come again.
	pendingResults int64
	lastSave       time.Time // checkpoint pacing is wall-clock time, not data time
}

func (g *goldmaneFollowing) newAgg() *allowlist.Aggregator {
	return allowlist.NewAggregator(allowlist.NewClassifier(g.st.Profile()))
}

func (g *goldmaneFollowing) onGap(gap goldmane.Gap) error {
	g.gaps = append(g.gaps, gapOf(g.opt.SourceID, gap.From, gap.To, gap.Restart))
	why := "Goldmane keeps about one hour"
	if gap.Restart {
		why = "Goldmane restarted"
	}
	fmt.Fprintf(g.opt.Log, "goldmane: GAP %s to %s: flows lost (%s); stability clocks restart\n", gap.From.UTC().Format(time.RFC3339), gap.To.UTC().Format(time.RFC3339), why)
	return nil
}

func (g *goldmaneFollowing) onWatermark(t time.Time) error {
	g.ready.Merge(g.pending.agg)
	g.pending.agg = g.newAgg()
	if err := g.pending.flushTee(g.opt.Tee); err != nil {
		return err
	}
	g.results += g.pendingResults
	g.pendingResults = 0
	g.wm = t
	if m := g.f.Mark(); m != g.mark {
		g.mark, g.restarted = m, m == nil
	}
	if time.Since(g.lastSave) >= g.opt.Checkpoint {
		return g.checkpoint()
	}
	return nil
}

// checkpoint saves exactly the buckets up to the watermark.
func (g *goldmaneFollowing) checkpoint() error {
	if g.wm.IsZero() {
		return nil
	}
	st, ready := g.st, g.ready
	for _, gap := range g.gaps {
		st.AddGap(gap)
	}
	st.Apply(ready)
	r := allowlist.SourceRecord{Kind: allowlist.SourceGoldmane, ID: g.opt.SourceID}
	if old := st.FindSource(allowlist.SourceGoldmane, g.opt.SourceID); old != nil {
		r = *old
	}
	r.Watermark = allowlist.Time(g.wm.Unix())
	r.Records += g.results
	if r.From == 0 || (ready.Stats.From != 0 && ready.Stats.From < r.From) {
		r.From = ready.Stats.From
	}
	if ready.Stats.To > r.To {
		r.To = ready.Stats.To
	}
	if g.mark != nil || g.restarted {
		r.Mark = storeMark(g.mark)
	}
	st.PutSource(r)
	if err := g.opt.Save(); err != nil {
		return err
	}
	g.ready, g.gaps, g.results = g.newAgg(), nil, 0
	g.lastSave = time.Now()
	fmt.Fprintf(g.opt.Log, "goldmane: checkpoint at %s\n", g.wm.UTC().Format(time.RFC3339))
	return nil
}
