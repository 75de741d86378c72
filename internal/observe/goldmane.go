package observe

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	// Since bounds the first run (no watermark yet): 0 reads everything
	// Goldmane retains (about an hour).
	Since time.Duration
	// Interval is Goldmane's bucket width (15 s).
	Interval time.Duration
	// Retention is how much history Goldmane keeps (about 1 h).
	Retention time.Duration
	PageSize  int
	// AllowPartial downgrades an unstable listing to a warning recorded in
	// the store instead of an error.
	AllowPartial bool
	// Log receives progress and retry messages; nil discards.
	Log io.Writer
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

func (o *GoldmaneOptions) defaults() {
	if o.Interval <= 0 {
		o.Interval = 15 * time.Second
	}
	if o.Retention <= 0 {
		o.Retention = time.Hour
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
}

// mapper converts Goldmane results into the aggregator, counting flows it
// cannot map (for example an enum value from a newer Calico).
type mapper struct {
	agg      *allowlist.Aggregator
	f        flows.Flow
	unmapped int64
	examples []string
}

func (m *mapper) add(r *pb.FlowResult) error {
	if err := flows.FillFromGoldmane(&m.f, r.GetFlow()); err != nil {
		m.unmapped++
		if len(m.examples) < 5 {
			m.examples = append(m.examples, err.Error())
		}
		return nil
	}
	m.agg.Add(&m.f)
	return nil
}

func gapOf(id string, from, to time.Time) allowlist.Gap {
	return allowlist.Gap{From: allowlist.Time(from.Unix()), To: allowlist.Time(to.Unix()), Source: id,
		Reason: "Goldmane no longer had these flows (it keeps about one hour): run observe at least every 30 minutes, or observe --follow"}
}

// GoldmaneList reads every complete bucket from the store's watermark for
// this source (or Since, or all Goldmane retains) up to now, merges it into
// the store and advances the watermark. A window Goldmane no longer
// retains is recorded as an observation gap. The caller saves the store.
func GoldmaneList(ctx context.Context, st *allowlist.Store, opt GoldmaneOptions) (*GoldmaneResult, error) {
	opt.defaults()
	now := opt.Now().UTC()
	iv := int64(opt.Interval / time.Second)
	// Only complete buckets: flows reach Goldmane up to a flush interval
	// after their bucket ends.
	to := time.Unix((now.Unix()-60)/iv*iv, 0).UTC()
	rec := st.FindSource(allowlist.SourceGoldmane, opt.SourceID)
	var from time.Time
	switch {
	case rec != nil && rec.Watermark != 0:
		from = rec.Watermark.T()
	case opt.Since > 0:
		from = to.Add(-opt.Since)
	default:
		from = to.Add(-opt.Retention)
	}
	res := &GoldmaneResult{From: from, To: to, Watermark: from}
	if !to.After(from) {
		return res, nil
	}
	m := &mapper{agg: allowlist.NewAggregator(allowlist.NewClassifier(st.Profile()))}
	// One List per UTC day: Goldmane aggregates a key over the whole
	// window, and evidence counts days. Goldmane lists only the buckets
	// that lie wholly inside a window, and its buckets align to its own
	// start, not to the epoch: each window starts one interval (less a
	// second) early, so the bucket straddling its start, which the
	// previous window (or run) could not list, is listed by this one.
	// Buckets that start at or before lo-Interval end by lo and were
	// listed before (the watermark's bucket grid, or the previous day).
	early := time.Duration(iv-1) * time.Second
	var oldest time.Time
	phase := int64(-1) // Goldmane's bucket grid (buckets align to its start, not the epoch)
	partial := false
	for lo := from; lo.Before(to); {
		hi := time.Date(lo.Year(), lo.Month(), lo.Day()+1, 0, 0, 0, 0, time.UTC)
		if hi.After(to) {
			hi = to
		}
		var info goldmane.ListInfo
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			sub := &mapper{agg: allowlist.NewAggregator(allowlist.NewClassifier(st.Profile()))}
			var n int64 // this attempt's results: a discarded attempt counts none
			info, err = opt.Client.List(ctx, lo.Add(-early), hi, opt.PageSize, func(r *pb.FlowResult) error {
				n++
				if st := r.GetFlow().GetStartTime(); st > 0 {
					phase = st % iv
				}
				return sub.add(r)
			})
			if err != nil {
				return nil, err
			}
			if !info.Unstable || attempt == 2 {
				res.Results += n
				m.agg.Merge(sub.agg)
				m.unmapped += sub.unmapped
				m.examples = append(m.examples, sub.examples...)
				break
			}
			fmt.Fprintf(opt.Log, "goldmane: results shifted while paging %s..%s (data expired or arrived); listing again\n", lo.Format(time.RFC3339), hi.Format(time.RFC3339))
		}
		if info.Unstable {
			if !opt.AllowPartial {
				return nil, fmt.Errorf("goldmane %s: results kept shifting while paging %s..%s, so some flows may be missing; retry, or pass --allow-partial to keep them with a recorded warning", opt.SourceID, lo.Format(time.RFC3339), hi.Format(time.RFC3339))
			}
			partial = true
		}
		if !info.Oldest.IsZero() && (oldest.IsZero() || info.Oldest.Before(oldest)) {
			oldest = info.Oldest
		}
		lo = hi
	}
	// Gap: resuming from a watermark, but Goldmane's oldest data is newer.
	if rec != nil && rec.Watermark != 0 {
		tol := opt.Interval
		switch {
		case !oldest.IsZero() && oldest.Sub(from) >= tol:
			res.Gaps = append(res.Gaps, gapOf(opt.SourceID, from, oldest))
		case oldest.IsZero() && now.Sub(from) > opt.Retention:
			res.Gaps = append(res.Gaps, gapOf(opt.SourceID, from, now.Add(-opt.Retention)))
		}
	}
	for _, g := range res.Gaps {
		st.AddGap(g)
	}
	st.Apply(m.agg)
	// Goldmane lists a bucket only when it lies wholly inside the window, so
	// the next window must start on its bucket grid: at the last bucket
	// boundary at or before `to`. The bucket straddling `to` (not listed
	// now) is then listed next time.
	wm := to.Unix() - iv // grid unknown (nothing listed): one bucket back is safe
	if phase >= 0 {
		wm = to.Unix() - ((to.Unix()-phase)%iv+iv)%iv
	}
	if wm < from.Unix() {
		wm = from.Unix()
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
	if partial {
		r.Partial = true
		st.AddWarning(fmt.Sprintf("goldmane %s: results shifted while paging up to %s; some flows may be missing", opt.SourceID, to.Format(time.RFC3339)))
	}
	st.PutSource(r)
	res.Unmapped, res.Examples, res.Stats, res.Watermark = m.unmapped, m.examples, m.agg.Stats, res.To
	return res, nil
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
// watermark, so a crash or restart resumes without double counting or
// loss; flows of a bucket still open at shutdown come again on the next run.
func GoldmaneFollow(ctx context.Context, st *allowlist.Store, opt FollowOptions) error {
	opt.defaults()
	if opt.Checkpoint <= 0 {
		opt.Checkpoint = time.Minute
	}
	rec := st.FindSource(allowlist.SourceGoldmane, opt.SourceID)
	var start time.Time
	switch {
	case rec != nil && rec.Watermark != 0:
		start = rec.Watermark.T()
	case opt.Since > 0:
		start = opt.Now().Add(-opt.Since)
	default:
		start = opt.Now().Add(-opt.Retention)
	}
	newAgg := func() *allowlist.Aggregator { return allowlist.NewAggregator(allowlist.NewClassifier(st.Profile())) }
	pending := &mapper{agg: newAgg()} // flows after the last watermark
	ready := newAgg()                 // flows up to the last watermark, not yet saved
	var wm time.Time
	var gaps []allowlist.Gap
	var results int64
	lastSave := time.Now() // checkpoint pacing is wall-clock time, not data time
	checkpoint := func() error {
		if wm.IsZero() {
			return nil
		}
		for _, g := range gaps {
			st.AddGap(g)
		}
		st.Apply(ready)
		r := allowlist.SourceRecord{Kind: allowlist.SourceGoldmane, ID: opt.SourceID}
		if old := st.FindSource(allowlist.SourceGoldmane, opt.SourceID); old != nil {
			r = *old
		}
		r.Watermark = allowlist.Time(wm.Unix())
		r.Records += results
		if r.From == 0 || (ready.Stats.From != 0 && ready.Stats.From < r.From) {
			r.From = ready.Stats.From
		}
		if ready.Stats.To > r.To {
			r.To = ready.Stats.To
		}
		st.PutSource(r)
		if err := opt.Save(); err != nil {
			return err
		}
		ready, gaps, results = newAgg(), nil, 0
		lastSave = time.Now()
		fmt.Fprintf(opt.Log, "goldmane: checkpoint at %s\n", wm.UTC().Format(time.RFC3339))
		return nil
	}
	fo := opt.Follow
	var pendingResults int64 // delivered after the last watermark: may come again
	fo.OnFlow = func(r *pb.FlowResult) error {
		pendingResults++
		return pending.add(r)
	}
	fo.OnGap = func(g goldmane.Gap) error {
		gaps = append(gaps, gapOf(opt.SourceID, g.From, g.To))
		fmt.Fprintf(opt.Log, "goldmane: GAP %s to %s: flows lost (Goldmane keeps about one hour); stability clocks restart\n", g.From.UTC().Format(time.RFC3339), g.To.UTC().Format(time.RFC3339))
		return nil
	}
	fo.OnWatermark = func(t time.Time) error {
		ready.Merge(pending.agg)
		pending.agg = newAgg()
		results += pendingResults
		pendingResults = 0
		wm = t
		if time.Since(lastSave) >= opt.Checkpoint {
			return checkpoint()
		}
		return nil
	}
	if fo.Log == nil {
		fo.Log = opt.Log
	}
	if fo.Interval == 0 {
		fo.Interval = opt.Interval
	}
	if fo.Retention == 0 {
		fo.Retention = opt.Retention
	}
	if fo.PageSize == 0 {
		fo.PageSize = opt.PageSize
	}
	if fo.Now == nil {
		fo.Now = opt.Now
	}
	f := goldmane.NewFollower(opt.Client, fo)
	err := f.Run(ctx, start)
	if cerr := checkpoint(); cerr != nil {
		return errors.Join(err, cerr)
	}
	if err != nil && ctx.Err() != nil {
		return nil // stopped by SIGINT/SIGTERM: the last checkpoint is saved
	}
	if pending.unmapped > 0 {
		fmt.Fprintf(opt.Log, "goldmane: %d flows could not be mapped (first: %v)\n", pending.unmapped, pending.examples)
	}
	return err
}
