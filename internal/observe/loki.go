package observe

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/flows/loki"
)

// LokiOptions configure an observation of packet-log lines in Loki.
type LokiOptions struct {
	Config loki.Config
	// Client, when set, is used instead of one built from Config (tests).
	Client *loki.Client
	// Query is the LogQL selector with line filters (profile
	// packetLogs.lokiSelector).
	Query string
	// The window: the first observation reads From..To, or the last Since
	// before To; To defaults to Now minus Delay. Later observations resume
	// where the previous one stopped.
	Since    time.Duration
	From, To time.Time
	// Delay keeps the newest lines for the next run: nodes ship the
	// journal to Loki in batches, so the last minute may still be filling
	// (default 2m).
	Delay   time.Duration
	Strict  bool
	Packets *flows.PacketLogOptions
	// Now replaces time.Now (tests).
	Now func() time.Time
}

// LokiResult reports a Loki observation.
type LokiResult struct {
	SourceID string      `json:"sourceId"`
	From     time.Time   `json:"from"`
	To       time.Time   `json:"to"`
	Resumed  bool        `json:"resumed"`
	UpToDate bool        `json:"upToDate,omitempty"`
	Notes    []string    `json:"notes,omitempty"`
	Read     loki.Stats  `json:"read"`
	Decode   flows.Stats `json:"decode"`
	// Stats is what the aggregator did with the lines' flows.
	Stats allowlist.Stats `json:"aggregation"`
}

// LokiSourceID is the store's name for a Loki source: the endpoint and
// the query.
func LokiSourceID(endpoint, query string) string { return endpoint + " query=" + query }

// Loki observes packet-log lines from Loki into the store (the caller
// saves it). Nothing is merged unless the whole window was read: an error
// leaves the store untouched.
func Loki(ctx context.Context, st *allowlist.Store, opt LokiOptions) (*LokiResult, error) {
	client := opt.Client
	if client == nil {
		var err error
		if client, err = loki.NewClient(opt.Config); err != nil {
			return nil, err
		}
	}
	if opt.Query == "" {
		opt.Query = st.Profile().PacketLogs.LokiSelector
	}
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	delay := opt.Delay
	if delay <= 0 {
		delay = 2 * time.Minute
	}
	res := &LokiResult{SourceID: LokiSourceID(client.Endpoint(), opt.Query)}
	to := opt.To
	if to.IsZero() {
		to = now().Add(-delay)
	}
	to = to.UTC().Truncate(time.Second)
	prev := st.FindSource(allowlist.SourceLoki, res.SourceID)
	var from time.Time
	switch {
	case prev != nil && prev.Watermark != 0:
		res.Resumed = true
		from = prev.Watermark.T()
		if !opt.From.IsZero() && opt.From.After(from) {
			st.AddGap(allowlist.Gap{From: prev.Watermark, To: allowlist.Time(opt.From.Unix()), Source: res.SourceID, Reason: "not read: --start-time skipped past the previous observation"})
			res.Notes = append(res.Notes, fmt.Sprintf("skipping %s..%s (recorded as a gap)", prev.Watermark, opt.From.UTC().Format(time.RFC3339)))
			from = opt.From.UTC().Truncate(time.Second)
		} else {
			res.Notes = append(res.Notes, fmt.Sprintf("resuming at %s", from.Format(time.RFC3339)))
		}
	case !opt.From.IsZero():
		from = opt.From.UTC().Truncate(time.Second)
	case opt.Since > 0:
		from = to.Add(-opt.Since)
	default:
		return nil, errors.New("loki: no window: give --since (e.g. 7d; Loki keeps 30 days in the target cluster) or --start-time")
	}
	res.From, res.To = from, to
	if !to.After(from) {
		res.UpToDate = true
		res.Notes = append(res.Notes, fmt.Sprintf("already read up to %s: nothing new", from.Format(time.RFC3339)))
		return res, nil
	}
	packets := opt.Packets
	if packets == nil {
		packets = PacketLogOptionsFor(st, nil)
	}
	agg := allowlist.NewAggregator(allowlist.NewClassifier(st.Profile()))
	pl := flows.NewPacketLines("loki "+client.Endpoint(), flows.Options{Strict: opt.Strict, Packets: packets})
	add := func(f *flows.Flow) error { agg.Add(f); return nil }
	rs, err := client.Read(ctx, opt.Query, from.UnixNano(), to.UnixNano(), func(e flows.LokiEntry) error {
		return pl.Entry(e, add)
	})
	res.Read = rs
	res.Decode = pl.Stats()
	if err != nil {
		return nil, err
	}
	st.Apply(agg)
	esAddBad(st, res.Decode)
	rec := allowlist.SourceRecord{Kind: allowlist.SourceLoki, ID: res.SourceID}
	if prev != nil {
		rec = *prev
	}
	rec.Records += res.Decode.Records
	a := agg.Stats
	if a.From != 0 && (rec.From == 0 || a.From < rec.From) {
		rec.From = a.From
	}
	if a.To > rec.To {
		rec.To = a.To
	}
	rec.Watermark = allowlist.Time(to.Unix())
	st.PutSource(rec)
	res.Stats = a
	return res, nil
}
