package goldmanetest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/calico-plan/calico-plan/flows/goldmanepb"
)

// Options configure a Server.
type Options struct {
	// PKI provides the certificates; required.
	PKI *PKI
	// Addr to listen on; default 127.0.0.1:0 (an ephemeral port that is
	// kept across Restart).
	Addr string
	// Interval is the bucket width; default 15 s.
	Interval time.Duration
	// Now is the initial fake clock; default 2023-11-14T22:13:20Z
	// (1_700_000_000).
	Now time.Time
	// Origin aligns buckets: they start at Origin + k*Interval, as Goldmane
	// aligns them to its own start time. Default Now.
	Origin time.Time
	// Retention drops buckets that start before Now-Retention (Goldmane
	// keeps about 1 h); 0 keeps everything.
	Retention time.Duration
	// MinTLSVersion and MaxTLSVersion bound the server's TLS versions;
	// defaults TLS 1.2 and TLS 1.3.
	MinTLSVersion, MaxTLSVersion uint16
	// UseOtherCA serves the certificate issued by the unrelated CA.
	UseOtherCA bool
	// EarlyFirstStream streams the bucket being filled when the server
	// starts (and a bucket that ended moments before) as soon as it ends,
	// as Goldmane's first rollover after it starts does; later buckets go
	// out one interval after their end.
	EarlyFirstStream bool
	// HideWindowTimes leaves the resolved times out of the error for an
	// empty time window (Goldmane names them), as a Goldmane that worded
	// it differently would.
	HideWindowTimes bool
	// StreamSource, when set, replaces the Stream implementation (e.g. a
	// generator for soak tests that must not store what it sends).
	StreamSource func(ctx context.Context, req *pb.FlowStreamRequest, send func(*pb.FlowResult) error) error
}

// Server is an in-process Goldmane. All methods are safe for concurrent use.
type Server struct {
	opts     Options
	interval int64
	origin   int64
	tlsConf  *tls.Config

	mu       sync.Mutex
	now      int64
	buckets  map[int64]*bucket
	ids      map[string]int64 // as Goldmane: a key keeps its id while any bucket holds it
	nextID   int64
	changed  chan struct{} // closed and replaced on every change
	addr     string
	gs       *grpc.Server
	done     chan struct{} // closed when the current incarnation stopped
	earlyEnd int64         // buckets ending by then are streamed as soon as they end
	failIn   int           // sends until an injected failure; 0 = none
	failOp   func()
	stats    Stats
}

// Stats count what the server served.
type Stats struct {
	Lists, Streams, Sent int
	// Crashes counts Crash calls.
	Crashes int
	// Rounds counts the times a stream took what to send (at its start
	// and after each change).
	Rounds int
}

type bucket struct {
	start, end int64
	flows      []*pb.Flow
	keys       []string
	byKey      map[string]int
}

// NewServer builds a server; call Start to serve.
func NewServer(opts Options) (*Server, error) {
	if opts.PKI == nil {
		return nil, errors.New("goldmanetest: Options.PKI is required")
	}
	if opts.Interval <= 0 {
		opts.Interval = 15 * time.Second
	}
	if opts.Now.IsZero() {
		opts.Now = time.Unix(1_700_000_000, 0)
	}
	if opts.Origin.IsZero() {
		opts.Origin = opts.Now
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	certPEM, keyPEM := opts.PKI.ServerCertPEM, opts.PKI.ServerKeyPEM
	if opts.UseOtherCA {
		certPEM, keyPEM = opts.PKI.OtherServerCertPEM, opts.PKI.OtherServerKeyPEM
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(opts.PKI.CAPEM) {
		return nil, errors.New("goldmanetest: bad CA PEM")
	}
	minV := opts.MinTLSVersion
	if minV == 0 {
		minV = tls.VersionTLS12
	}
	s := &Server{
		opts:     opts,
		interval: int64(opts.Interval / time.Second),
		origin:   opts.Origin.Unix(),
		now:      opts.Now.Unix(),
		buckets:  map[int64]*bucket{},
		ids:      map[string]int64{},
		changed:  make(chan struct{}),
		addr:     opts.Addr,
		tlsConf: &tls.Config{
			Certificates: []tls.Certificate{cert},
			// As Goldmane: require a client certificate that chains to
			// the CA, whatever identity it names.
			ClientAuth: tls.RequireAndVerifyClientCert,
			ClientCAs:  pool,
			MinVersion: minV,
			MaxVersion: opts.MaxTLSVersion,
		},
	}
	return s, nil
}

// Start listens (on the same address as before after a Stop) and serves.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gs != nil {
		return errors.New("goldmanetest: already running")
	}
	lis, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	s.addr = lis.Addr().String()
	s.earlyEnd = 0
	if s.opts.EarlyFirstStream {
		s.earlyEnd = s.align(s.now) + s.interval
	}
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(s.tlsConf)))
	pb.RegisterFlowsServer(gs, &handler{s: s})
	s.gs = gs
	done := make(chan struct{})
	s.done = done
	go func() {
		_ = gs.Serve(lis)
	}()
	return nil
}

// Stop closes the listener and every connection; open streams fail on the
// client with Unavailable. The stored flows are kept.
func (s *Server) Stop() {
	s.mu.Lock()
	gs, done := s.gs, s.done
	s.gs = nil
	s.mu.Unlock()
	if gs == nil {
		return
	}
	gs.Stop()
	close(done)
}

// Restart stops and starts the server on the same address, keeping the
// flows (a dropped connection or port-forward rather than a new Goldmane
// process; see Crash).
func (s *Server) Restart() error {
	s.Stop()
	return s.Start()
}

// Crash stops the server as a Goldmane process dies: connections reset
// and every stored flow is lost; Start brings it back, giving flow ids
// anew from 1. The bucket grid stays (Goldmane aligns it to multiples of
// its interval). Felix resends its last minutes when it reconnects: Add
// them before Start.
func (s *Server) Crash() {
	s.Stop()
	s.mu.Lock()
	s.buckets = map[int64]*bucket{}
	s.ids = map[string]int64{}
	s.nextID = 0
	s.stats.Crashes++
	s.mu.Unlock()
}

// Stopped returns a channel closed when the running incarnation stops
// (nil if not running).
func (s *Server) Stopped() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done
}

// Addr is the listening address, host:port.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Now is the fake clock.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Unix(s.now, 0)
}

// Advance moves the fake clock forward: buckets complete (and streams emit
// them) and old buckets expire.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	s.now += int64(d / time.Second)
	s.expireLocked()
	s.notifyLocked()
	s.mu.Unlock()
}

// SetNow sets the fake clock.
func (s *Server) SetNow(t time.Time) {
	s.mu.Lock()
	s.now = t.Unix()
	s.expireLocked()
	s.notifyLocked()
	s.mu.Unlock()
}

// BucketStart returns the start of the bucket that contains t.
func (s *Server) BucketStart(t time.Time) time.Time {
	return time.Unix(s.align(t.Unix()), 0)
}

// Interval is the bucket width.
func (s *Server) Interval() time.Duration { return time.Duration(s.interval) * time.Second }

func (s *Server) align(t int64) int64 {
	d := t - s.origin
	q := d / s.interval
	if d%s.interval < 0 {
		q--
	}
	return s.origin + q*s.interval
}

// Add stores flows in the bucket their start_time falls in, setting
// start/end to the bucket's bounds. A flow whose key is already in that
// bucket is merged into it (counters summed), as Goldmane does.
func (s *Server) Add(flows ...*pb.Flow) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range flows {
		start := s.align(f.GetStartTime())
		b := s.buckets[start]
		if b == nil {
			b = &bucket{start: start, end: start + s.interval, byKey: map[string]int{}}
			s.buckets[start] = b
		}
		k := keyString(f.GetKey())
		if _, ok := s.ids[k]; !ok {
			s.nextID++
			s.ids[k] = s.nextID
		}
		if i, ok := b.byKey[k]; ok {
			mergeCounters(b.flows[i], f)
			continue
		}
		c := proto.Clone(f).(*pb.Flow)
		c.StartTime, c.EndTime = b.start, b.end
		b.byKey[k] = len(b.flows)
		b.flows = append(b.flows, c)
		b.keys = append(b.keys, k)
	}
	s.expireLocked()
	s.notifyLocked()
}

// Buckets returns the start times of the retained buckets, oldest first.
func (s *Server) Buckets() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Time
	for _, st := range s.sortedStartsLocked() {
		out = append(out, time.Unix(st, 0))
	}
	return out
}

// Stats returns counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// FailStreamsAfter lets streams send n more results (counted across all
// streams) and then fails the next send: with stop, the whole server stops
// (connections reset, as in a Goldmane restart); without, only that stream
// ends with Unavailable.
func (s *Server) FailStreamsAfter(n int, stop bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failIn = n + 1
	s.failOp = nil
	if stop {
		s.failOp = func() { go s.Stop() }
	}
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) expireLocked() {
	if s.opts.Retention <= 0 {
		return
	}
	horizon := s.now - int64(s.opts.Retention/time.Second)
	expired := false
	for st := range s.buckets {
		if st < horizon {
			delete(s.buckets, st)
			expired = true
		}
	}
	if !expired {
		return
	}
	// A key no bucket holds any more is forgotten, with its id.
	held := map[string]bool{}
	for _, b := range s.buckets {
		for _, k := range b.keys {
			held[k] = true
		}
	}
	for k := range s.ids {
		if !held[k] {
			delete(s.ids, k)
		}
	}
}

func (s *Server) sortedStartsLocked() []int64 {
	starts := make([]int64, 0, len(s.buckets))
	for st := range s.buckets {
		starts = append(starts, st)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	return starts
}

// historyStartLocked is the oldest time the server still covers: the
// retention horizon, or without retention its oldest bucket (or its origin).
func (s *Server) historyStartLocked() int64 {
	if s.opts.Retention > 0 {
		return s.now - int64(s.opts.Retention/time.Second)
	}
	oldest := s.align(s.origin)
	for st := range s.buckets {
		oldest = min(oldest, st)
	}
	return oldest
}

func keyString(k *pb.FlowKey) string {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(k)
	return string(b)
}

func mergeCounters(dst, src *pb.Flow) {
	dst.PacketsIn += src.PacketsIn
	dst.PacketsOut += src.PacketsOut
	dst.BytesIn += src.BytesIn
	dst.BytesOut += src.BytesOut
	dst.NumConnectionsStarted += src.NumConnectionsStarted
	dst.NumConnectionsCompleted += src.NumConnectionsCompleted
	// Goldmane sums live connections too, within a bucket and across the
	// buckets of a List.
	dst.NumConnectionsLive += src.NumConnectionsLive
	if len(src.SourceLabels) > 0 {
		dst.SourceLabels = src.SourceLabels
	}
	if len(src.DestLabels) > 0 {
		dst.DestLabels = src.DestLabels
	}
}

type handler struct {
	pb.UnimplementedFlowsServer
	s *Server
}

// List aggregates, per flow key, every bucket that starts at or after
// start_time_gte and ends at or before start_time_lt (Goldmane's semantics:
// one result per key for the whole window), newest first, paged.
func (h *handler) List(_ context.Context, req *pb.FlowListRequest) (*pb.FlowListResult, error) {
	s := h.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Lists++
	s.expireLocked()

	gte, lt := req.GetStartTimeGte(), req.GetStartTimeLt()
	switch {
	case gte < 0:
		gte += s.now
	case gte == 0:
		gte = s.historyStartLocked()
	}
	switch {
	case lt < 0:
		lt += s.now
	case lt == 0:
		lt = s.now
	}
	// Goldmane answers a bad request with a plain error, which gRPC sends
	// as Unknown.
	if gte >= lt {
		if s.opts.HideWindowTimes {
			return nil, status.Error(codes.Unknown, "invalid time window")
		}
		return nil, status.Errorf(codes.Unknown, "startTimeGt (%d) must be less than startTimeLt (%d)", gte, lt)
	}
	if len(req.GetSortBy()) > 1 {
		return nil, status.Error(codes.Unknown, "at most one sort order is supported")
	}
	if len(req.GetSortBy()) == 1 && req.GetSortBy()[0].GetSortBy() != pb.SortBy_Time {
		return nil, status.Error(codes.Unimplemented, "goldmanetest: only time sorting")
	}
	if len(req.GetFilter().GetPolicies()) > 0 {
		return nil, status.Error(codes.Unimplemented, "goldmanetest: no policy filters")
	}

	all := s.aggregateLocked(req.GetFilter(), gte, lt)
	total := int64(len(all))
	pages := int64(0)
	if total > 0 {
		pages = 1
	}
	if ps := req.GetPageSize(); ps > 0 {
		pages = (total + ps - 1) / ps
		lo := req.GetPage() * ps
		hi := min(lo+ps, total)
		if lo >= total || lo < 0 {
			all = nil
		} else {
			all = all[lo:hi]
		}
	}
	res := &pb.FlowListResult{Meta: &pb.ListMetadata{TotalPages: pages, TotalResults: total}}
	for _, a := range all {
		res.Flows = append(res.Flows, &pb.FlowResult{Id: s.ids[a.key], Flow: a.f})
	}
	return res, nil
}

// listAgg is one key's aggregate in a List answer.
type listAgg struct {
	key string
	f   *pb.Flow
}

// aggregateLocked aggregates, per key, the buckets of [gte, lt) that match
// the filter, newest first.
func (s *Server) aggregateLocked(filter *pb.Filter, gte, lt int64) []*listAgg {
	byKey := map[string]*listAgg{}
	for _, st := range s.sortedStartsLocked() {
		b := s.buckets[st]
		if b.start < gte || b.start >= lt {
			continue
		}
		for i, f := range b.flows {
			if !matches(filter, f) {
				continue
			}
			a := byKey[b.keys[i]]
			if b.end > lt {
				// As Goldmane: a key with a bucket starting in the
				// window is listed even when none of its buckets lies
				// wholly inside, as an empty aggregate (start and end 0).
				if a == nil {
					byKey[b.keys[i]] = &listAgg{key: b.keys[i], f: &pb.Flow{Key: proto.Clone(f.GetKey()).(*pb.FlowKey)}}
				}
				continue
			}
			if a == nil {
				byKey[b.keys[i]] = &listAgg{key: b.keys[i], f: proto.Clone(f).(*pb.Flow)}
				continue
			}
			if a.f.StartTime == 0 {
				a.f = proto.Clone(f).(*pb.Flow)
				continue
			}
			mergeCounters(a.f, f)
			a.f.EndTime = b.end
		}
	}
	all := make([]*listAgg, 0, len(byKey))
	for _, a := range byKey {
		all = append(all, a)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].f.StartTime != all[j].f.StartTime {
			return all[i].f.StartTime > all[j].f.StartTime
		}
		return all[i].key < all[j].key
	})
	return all
}

// Stream follows Goldmane: start_time_gte 0 means "from the next bucket to
// complete"; otherwise the stream first replays the completed buckets from
// the one containing start_time_gte (nothing if that is older than the
// server's history) and then sends each bucket once it is complete, i.e.
// one interval after its end.
func (h *handler) Stream(req *pb.FlowStreamRequest, srv pb.Flows_StreamServer) error {
	s := h.s
	if s.opts.StreamSource != nil {
		s.mu.Lock()
		s.stats.Streams++
		s.mu.Unlock()
		return s.opts.StreamSource(srv.Context(), req, srv.Send)
	}
	s.mu.Lock()
	s.stats.Streams++
	gte := req.GetStartTimeGte()
	if gte < 0 {
		gte += s.now
	}
	var next int64
	if gte == 0 || gte < s.historyStartLocked() {
		next = s.align(s.now - s.interval)
	} else {
		next = s.align(gte)
	}
	for {
		var out []*pb.FlowResult
		for _, st := range s.sortedStartsLocked() {
			b := s.buckets[st]
			if b.start < next || !s.completeLocked(b) {
				continue
			}
			for i, f := range b.flows {
				if matches(req.GetFilter(), f) {
					out = append(out, &pb.FlowResult{Id: s.ids[b.keys[i]], Flow: proto.Clone(f).(*pb.Flow)})
				}
			}
		}
		s.stats.Rounds++
		// Every bucket that has completed by now has been taken; the next
		// one to complete is the one containing now-interval (or now,
		// early after a start).
		pending := s.align(s.now - s.interval)
		if s.now <= s.earlyEnd {
			pending = s.align(s.now)
		}
		if pending > next {
			next = pending
		}
		changed := s.changed
		s.mu.Unlock()

		for _, r := range out {
			if err := h.send(srv, r); err != nil {
				return err
			}
		}
		select {
		case <-changed:
		case <-srv.Context().Done():
			return srv.Context().Err()
		}
		s.mu.Lock()
	}
}

// completeLocked tells whether a stream sends bucket b now: one interval
// after it ends, or as soon as it ends early after a start.
func (s *Server) completeLocked(b *bucket) bool {
	return b.end+s.interval <= s.now || (b.end <= s.now && b.end <= s.earlyEnd)
}

func (h *handler) send(srv pb.Flows_StreamServer, r *pb.FlowResult) error {
	s := h.s
	s.mu.Lock()
	if s.failIn > 0 {
		s.failIn--
		if s.failIn == 0 {
			op := s.failOp
			s.mu.Unlock()
			if op != nil {
				op()
				return status.Error(codes.Unavailable, "goldmanetest: server stopping")
			}
			return status.Error(codes.Unavailable, "goldmanetest: injected stream reset")
		}
	}
	s.stats.Sent++
	s.mu.Unlock()
	return srv.Send(r)
}

func matches(flt *pb.Filter, f *pb.Flow) bool {
	if flt == nil {
		return true
	}
	k := f.GetKey()
	return matchStrings(flt.GetSourceNames(), k.GetSourceName()) &&
		matchStrings(flt.GetSourceNamespaces(), k.GetSourceNamespace()) &&
		matchStrings(flt.GetDestNames(), k.GetDestName()) &&
		matchStrings(flt.GetDestNamespaces(), k.GetDestNamespace()) &&
		matchStrings(flt.GetProtocols(), k.GetProto()) &&
		matchPorts(flt.GetDestPorts(), k.GetDestPort()) &&
		matchActions(flt.GetActions(), k.GetAction())
}

func matchStrings(ms []*pb.StringMatch, v string) bool {
	if len(ms) == 0 {
		return true
	}
	for _, m := range ms {
		if m.GetValue() == v || (m.GetType() == pb.MatchType_Fuzzy && strings.Contains(v, m.GetValue())) {
			return true
		}
	}
	return false
}

func matchPorts(ms []*pb.PortMatch, v int64) bool {
	if len(ms) == 0 {
		return true
	}
	for _, m := range ms {
		if m.GetPort() == v {
			return true
		}
	}
	return false
}

func matchActions(as []pb.Action, v pb.Action) bool {
	if len(as) == 0 {
		return true
	}
	for _, a := range as {
		if a == v {
			return true
		}
	}
	return false
}

// String describes the server for test logs.
func (s *Server) String() string {
	return fmt.Sprintf("goldmanetest.Server(%s, now=%d)", s.Addr(), s.Now().Unix())
}
