// Package goldmane reads flows from Calico OSS Goldmane (v3.30+) over its
// gRPC API: paged List, Stream, and a Follower that streams for days,
// reconnecting, backfilling with List, detecting retention gaps and
// Goldmane restarts (Mark) and never delivering a flow bucket twice. Every
// time edge comes from Goldmane's own clock (ServerNow).
//
// Goldmane requires mutual TLS: a client certificate issued by its CA (e.g.
// secret calico-system/node-certs) and its CA to verify the server (secret
// calico-system/goldmane-key-pair, key tls.crt). See internal/kube for
// reading those and for the port-forward.
package goldmane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	pb "github.com/calico-plan/calico-plan/flows/goldmanepb"
)

// Config says how to reach Goldmane. Each of the certificate, key and CA
// comes either from a file or from memory (PEM), not both.
type Config struct {
	// Addr is host:port, e.g. "127.0.0.1:7443" behind a port-forward or
	// "goldmane.calico-system.svc:7443" in the cluster.
	Addr string

	CertFile, KeyFile, CAFile string
	CertPEM, KeyPEM, CAPEM    []byte

	// ServerName overrides the name the server certificate must carry;
	// default the host of Addr.
	ServerName string
	// InsecureSkipVerify skips server certificate verification. The client
	// certificate is still presented.
	InsecureSkipVerify bool

	// DialOptions are appended to the client's gRPC options.
	DialOptions []grpc.DialOption
}

// String describes the configuration without key material.
func (c Config) String() string {
	key := c.KeyFile
	if len(c.KeyPEM) > 0 {
		key = "<in-memory, redacted>"
	}
	return fmt.Sprintf("goldmane.Config{Addr:%q CertFile:%q CertPEM:%d bytes Key:%s CAFile:%q CAPEM:%d bytes ServerName:%q InsecureSkipVerify:%v}",
		c.Addr, c.CertFile, len(c.CertPEM), key, c.CAFile, len(c.CAPEM), c.ServerName, c.InsecureSkipVerify)
}

// GoString is String, so that %#v does not print the key either.
func (c Config) GoString() string { return c.String() }

// Client is a connection to one Goldmane server. It is safe for concurrent
// use; gRPC re-establishes the connection after failures.
type Client struct {
	addr  string
	conn  *grpc.ClientConn
	flows pb.FlowsClient
}

// Dial checks the TLS setup with one handshake (so that certificate
// problems surface here, with a hint) and returns a client.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Addr == "" {
		return nil, errors.New("goldmane: no address")
	}
	conf, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	if err := probe(ctx, cfg.Addr, conf); err != nil {
		return nil, connError(cfg.Addr, err)
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(credentials.NewTLS(conf)),
		// Reconnect quickly after a Goldmane restart or a port-forward
		// hiccup; the Follower adds its own backoff on top.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 250 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
			MinConnectTimeout: 10 * time.Second,
		}),
		// Detect dead connections on week-long streams. Go gRPC servers
		// reject pings more often than every 5 minutes by default.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 5 * time.Minute, Timeout: 20 * time.Second}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64 << 20)),
	}
	opts = append(opts, cfg.DialOptions...)
	conn, err := grpc.NewClient("passthrough:///"+cfg.Addr, opts...)
	if err != nil {
		return nil, connError(cfg.Addr, err)
	}
	return &Client{addr: cfg.Addr, conn: conn, flows: pb.NewFlowsClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Addr is the address dialled.
func (c *Client) Addr() string { return c.addr }

// FlowsClient exposes the raw generated client.
func (c *Client) FlowsClient() pb.FlowsClient { return c.flows }

// UnixArg converts a time to Goldmane's int64 time argument: the zero Time
// is 0, which means "oldest" for start_time_gte in List, and "now" for
// start_time_lt and for Stream's start_time_gte.
func UnixArg(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// ListInfo summarises a paged List.
type ListInfo struct {
	// Pages fetched and Results passed to fn.
	Pages, Results int
	// TotalResults as the last page reported.
	TotalResults int64
	// Unstable is set when totalResults changed between pages (data expired
	// or arrived while paging), so results may have shifted across pages.
	Unstable bool
	// Oldest and Newest are the smallest and largest flow start_time seen
	// (bucket starts); zero when no flow was returned.
	Oldest, Newest time.Time
	// Empty counts results without any bucket: Goldmane returns a key whose
	// buckets in the window all end after its end as an empty aggregate
	// (start and end time 0, every counter 0). They are not passed to fn.
	Empty int
}

// DefaultPageSize is used when a page size <= 0 is given.
const DefaultPageSize = 1000

// List pages through flows whose start lies in [from, to) and passes each
// result to fn. A zero from means the oldest data Goldmane has; a zero to
// means now. Goldmane aggregates each flow key over the whole window: one
// result per key, with start/end spanning the buckets it covers.
func (c *Client) List(ctx context.Context, from, to time.Time, pageSize int, fn func(*pb.FlowResult) error) (ListInfo, error) {
	return c.ListRequest(ctx, &pb.FlowListRequest{StartTimeGte: UnixArg(from), StartTimeLt: UnixArg(to), PageSize: int64(pageSize)}, fn)
}

// ListRequest is List with a raw request (negative times are relative to
// the server's now; filters; sort). Page is overwritten; PageSize <= 0
// means DefaultPageSize. An error returned by fn stops the listing and is
// returned as is.
func (c *Client) ListRequest(ctx context.Context, req *pb.FlowListRequest, fn func(*pb.FlowResult) error) (ListInfo, error) {
	var info ListInfo
	r := cloneListRequest(req)
	if r.PageSize <= 0 {
		r.PageSize = DefaultPageSize
	}
	var firstTotal int64 = -1
	for page := int64(0); ; page++ {
		r.Page = page
		res, err := c.flows.List(ctx, r)
		if err != nil {
			return info, c.rpcError("List", err)
		}
		info.Pages++
		total := res.GetMeta().GetTotalResults()
		if firstTotal < 0 {
			firstTotal = total
		} else if total != firstTotal {
			info.Unstable = true
		}
		info.TotalResults = total
		for _, fr := range res.GetFlows() {
			if fl := fr.GetFlow(); fl.GetStartTime() == 0 && fl.GetEndTime() == 0 {
				info.Empty++
				continue
			}
			if st := fr.GetFlow().GetStartTime(); st > 0 {
				t := time.Unix(st, 0)
				if info.Oldest.IsZero() || t.Before(info.Oldest) {
					info.Oldest = t
				}
				if t.After(info.Newest) {
					info.Newest = t
				}
			}
			info.Results++
			if err := fn(fr); err != nil {
				return info, err
			}
		}
		if len(res.GetFlows()) == 0 || page+1 >= res.GetMeta().GetTotalPages() {
			return info, nil
		}
	}
}

func cloneListRequest(req *pb.FlowListRequest) *pb.FlowListRequest {
	if req == nil {
		return &pb.FlowListRequest{}
	}
	return &pb.FlowListRequest{
		StartTimeGte: req.StartTimeGte, StartTimeLt: req.StartTimeLt,
		Page: req.Page, PageSize: req.PageSize, SortBy: req.SortBy, Filter: req.Filter,
		AggregationInterval: req.AggregationInterval,
	}
}

// ErrStreamEnded is returned when the server ends a stream, which Goldmane
// does only when it shuts down.
var ErrStreamEnded = errors.New("goldmane: stream ended by the server")

// Stream streams flows from `from` on (zero: from now, i.e. the next bucket
// to complete) and passes each result to fn, one per flow key per 15 s
// bucket, until ctx ends (returning ctx.Err()), the stream fails, or fn
// returns an error (returned as is). It does not reconnect; see Follower.
func (c *Client) Stream(ctx context.Context, from time.Time, fn func(*pb.FlowResult) error) error {
	return c.StreamRequest(ctx, &pb.FlowStreamRequest{StartTimeGte: UnixArg(from)}, fn)
}

// StreamRequest is Stream with a raw request.
func (c *Client) StreamRequest(ctx context.Context, req *pb.FlowStreamRequest, fn func(*pb.FlowResult) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := c.flows.Stream(ctx, req)
	if err != nil {
		return c.rpcError("Stream", err)
	}
	for {
		var r pb.FlowResult
		if err := st.RecvMsg(&r); err != nil {
			if errors.Is(err, io.EOF) {
				return ErrStreamEnded
			}
			if ctx.Err() != nil && status.Code(err) == codes.Canceled {
				return ctx.Err()
			}
			return c.rpcError("Stream", err)
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
}

// rpcError adds the address and, for connection failures, a hint. The gRPC
// status stays reachable through errors.As / status.Code.
func (c *Client) rpcError(op string, err error) error {
	if h := hint(err); h != "" {
		return fmt.Errorf("goldmane %s %s: %s: %w", op, c.addr, h, err)
	}
	return fmt.Errorf("goldmane %s %s: %w", op, c.addr, err)
}

// ListBucket lists the one bucket that starts in (t-interval, t], whatever
// Goldmane's bucket grid: Goldmane lists the buckets that start at or
// after the window's start and end at or before its end.
func (c *Client) ListBucket(ctx context.Context, t time.Time, interval time.Duration, pageSize int, fn func(*pb.FlowResult) error) (ListInfo, error) {
	iv := int64(interval / time.Second)
	return c.ListRequest(ctx, &pb.FlowListRequest{StartTimeGte: t.Unix() - (iv - 1), StartTimeLt: t.Unix() + iv, PageSize: int64(pageSize)}, fn)
}

// FirstBucket finds the start of the oldest bucket with flows among those
// starting in (lo-interval, hi). Goldmane counts, in a List of [gte, t),
// every key with a bucket starting in [gte, t) (a key whose buckets there
// all end after t comes back as an empty aggregate, but is counted), so
// "some flow starts before t" is monotone in t and bisection finds the
// first such t in about log2((hi-lo)/1s) Lists of one result each.
func (c *Client) FirstBucket(ctx context.Context, lo, hi time.Time, interval time.Duration) (time.Time, bool, error) {
	gte := lo.Unix() - (int64(interval/time.Second) - 1)
	has := func(t int64) (bool, error) {
		res, err := c.flows.List(ctx, &pb.FlowListRequest{StartTimeGte: gte, StartTimeLt: t, PageSize: 1})
		if err != nil {
			return false, c.rpcError("List", err)
		}
		return res.GetMeta().GetTotalResults() > 0 || len(res.GetFlows()) > 0, nil
	}
	end := hi.Unix()
	if end <= gte {
		return time.Time{}, false, nil
	}
	ok, err := has(end)
	if err != nil || !ok {
		return time.Time{}, false, err
	}
	// The first bucket usually has flows: look there first.
	a, b := gte, end // !has(a) (an empty window), has(b)
	if first := gte + int64(interval/time.Second); first < end {
		if ok, err := has(first); err != nil {
			return time.Time{}, false, err
		} else if ok {
			b = first
		} else {
			a = first
		}
	}
	for b-a > 1 {
		mid := a + (b-a)/2
		ok, err := has(mid)
		if err != nil {
			return time.Time{}, false, err
		}
		if ok {
			b = mid
		} else {
			a = mid
		}
	}
	// A bucket with flows starts in [gte, b) but none in [gte, b-1).
	return time.Unix(b-1, 0), true, nil
}
