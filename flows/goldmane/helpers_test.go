package goldmane_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/flows/goldmane"
	"github.com/calico-plan/calico-plan/flows/goldmane/goldmanetest"
	pb "github.com/calico-plan/calico-plan/flows/goldmanepb"
)

// t0 is deliberately not a multiple of 15: Goldmane aligns buckets to its own
// start time, not to the epoch.
const t0 = int64(1_700_000_007)

var testPKI = sync.OnceValue(func() *goldmanetest.PKI {
	p, err := goldmanetest.NewPKI()
	if err != nil {
		panic(err)
	}
	return p
})

func startServer(t *testing.T, opts goldmanetest.Options) *goldmanetest.Server {
	t.Helper()
	if opts.PKI == nil {
		opts.PKI = testPKI()
	}
	if opts.Origin.IsZero() {
		opts.Origin = time.Unix(t0, 0)
	}
	srv, err := goldmanetest.NewServer(opts)
	require.NoError(t, err)
	require.NoError(t, srv.Start())
	t.Cleanup(srv.Stop)
	return srv
}

func clientConfig(addr string) goldmane.Config {
	p := testPKI()
	return goldmane.Config{Addr: addr, CertPEM: p.ClientCertPEM, KeyPEM: p.ClientKeyPEM, CAPEM: p.CAPEM}
}

func dial(t *testing.T, srv *goldmanetest.Server) *goldmane.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := goldmane.Dial(ctx, clientConfig(srv.Addr()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func appName(k int) string { return fmt.Sprintf("app%d-*", k) }

// egress is a src-reported pod -> pub:443 flow of workload k.
func egress(k int, start int64) *pb.Flow {
	return &pb.Flow{
		Key: &pb.FlowKey{
			SourceName: appName(k), SourceNamespace: "shop", SourceType: pb.EndpointType_WorkloadEndpoint,
			DestName: "pub", DestNamespace: "-", DestType: pb.EndpointType_Network, DestPort: 443,
			DestServiceName: "-", DestServiceNamespace: "-", DestServicePortName: "-",
			Proto: "tcp", Reporter: pb.Reporter_Src, Action: pb.Action_Allow,
		},
		StartTime:    start,
		SourceLabels: []string{"app=" + appName(k)},
		PacketsIn:    1, NumConnectionsStarted: 1,
	}
}

// realisticFlows are the recorded shapes calico-plan meets: pod -> pod with
// service fields, pod -> pub:443, pod -> pvt:53, and a staged would-deny
// with a pending end-of-tier hit and its trigger.
func realisticFlows(start int64) []*pb.Flow {
	return []*pb.Flow{
		{
			Key: &pb.FlowKey{
				SourceName: "api-7d9c5f-*", SourceNamespace: "shop", SourceType: pb.EndpointType_WorkloadEndpoint,
				DestName: "pg-cluster-*", DestNamespace: "dbaas", DestType: pb.EndpointType_WorkloadEndpoint, DestPort: 5432,
				DestServiceName: "pg-cluster-rw", DestServiceNamespace: "dbaas", DestServicePortName: "postgres", DestServicePort: 5432,
				Proto: "tcp", Reporter: pb.Reporter_Src, Action: pb.Action_Allow,
				Policies: &pb.PolicyTrace{EnforcedPolicies: []*pb.PolicyHit{
					{Kind: pb.PolicyKind_GlobalNetworkPolicy, Tier: "default", Name: "wave1-egress-observe-tier34", Action: pb.Action_Allow, RuleIndex: 1},
				}},
			},
			StartTime: start, SourceLabels: []string{"app=api"}, DestLabels: []string{"cnpg.io/cluster=pg-cluster"},
			PacketsIn: 40, PacketsOut: 38, BytesIn: 9000, BytesOut: 4000, NumConnectionsStarted: 2, NumConnectionsLive: 1,
		},
		{
			Key: &pb.FlowKey{
				SourceName: "api-7d9c5f-*", SourceNamespace: "shop", SourceType: pb.EndpointType_WorkloadEndpoint,
				DestName: "pub", DestNamespace: "-", DestType: pb.EndpointType_Network, DestPort: 443,
				DestServiceName: "-", DestServiceNamespace: "-", DestServicePortName: "-",
				Proto: "tcp", Reporter: pb.Reporter_Src, Action: pb.Action_Allow,
			},
			StartTime: start, SourceLabels: []string{"app=api"}, PacketsOut: 12, BytesOut: 2100, NumConnectionsStarted: 1,
		},
		{
			Key: &pb.FlowKey{
				SourceName: "api-7d9c5f-*", SourceNamespace: "shop", SourceType: pb.EndpointType_WorkloadEndpoint,
				DestName: "pvt", DestNamespace: "-", DestType: pb.EndpointType_Network, DestPort: 53,
				DestServiceName: "-", DestServiceNamespace: "-", DestServicePortName: "-",
				Proto: "udp", Reporter: pb.Reporter_Src, Action: pb.Action_Allow,
			},
			StartTime: start, SourceLabels: []string{"app=api"}, PacketsIn: 2, PacketsOut: 2, NumConnectionsStarted: 2,
		},
		{
			Key: &pb.FlowKey{
				SourceName: "worker-*", SourceNamespace: "jobs", SourceType: pb.EndpointType_WorkloadEndpoint,
				DestName: "pub", DestNamespace: "-", DestType: pb.EndpointType_Network, DestPort: 6667,
				DestServiceName: "-", DestServiceNamespace: "-", DestServicePortName: "-",
				Proto: "tcp", Reporter: pb.Reporter_Src, Action: pb.Action_Allow,
				Policies: &pb.PolicyTrace{
					EnforcedPolicies: []*pb.PolicyHit{{Kind: pb.PolicyKind_GlobalNetworkPolicy, Tier: "default", Name: "wave1-egress-observe-tier34", Action: pb.Action_Allow, RuleIndex: 1}},
					PendingPolicies: []*pb.PolicyHit{{
						Kind: pb.PolicyKind_EndOfTier, Tier: "default", Action: pb.Action_Deny, RuleIndex: -1,
						Trigger: &pb.PolicyHit{Kind: pb.PolicyKind_StagedNetworkPolicy, Namespace: "jobs", Name: "egress-allowlist", Tier: "default"},
					}},
				},
			},
			StartTime: start, SourceLabels: []string{"app=worker"}, PacketsOut: 3, NumConnectionsStarted: 3,
		},
	}
}

// recorder is a Follower caller: it sums, per workload, the packets (one per
// bucket and key) and bytes (1<<bucket index) it was given, and checks that
// no single-bucket result arrives twice.
type recorder struct {
	t        *testing.T
	interval int64

	mu        sync.Mutex
	packets   map[string]int64
	bytes     map[string]int64
	seen      map[string]bool
	results   int
	gaps      []goldmane.Gap
	marks     []time.Time
	waits     []time.Time
	duplicate []string
}

func newRecorder(t *testing.T) *recorder {
	return &recorder{t: t, interval: 15, packets: map[string]int64{}, bytes: map[string]int64{}, seen: map[string]bool{}}
}

func (r *recorder) onFlow(fr *pb.FlowResult) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := fr.GetFlow()
	name := f.GetKey().GetSourceName()
	r.results++
	r.packets[name] += f.GetPacketsIn()
	r.bytes[name] += f.GetBytesIn()
	if f.GetEndTime()-f.GetStartTime() == r.interval {
		id := fmt.Sprintf("%d/%s", f.GetStartTime(), name)
		if r.seen[id] {
			r.duplicate = append(r.duplicate, id)
		}
		r.seen[id] = true
	}
	return nil
}

func (r *recorder) onGap(g goldmane.Gap) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gaps = append(r.gaps, g)
	return nil
}

func (r *recorder) onWatermark(t time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.marks); n > 0 && !t.After(r.marks[n-1]) {
		r.t.Errorf("watermark went from %v to %v", r.marks[n-1], t)
	}
	r.marks = append(r.marks, t)
	return nil
}

func (r *recorder) onWait(until time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waits = append(r.waits, until)
}

// waited waits until the follower has begun its n-th wait for the
// server's clock and returns what it waits for.
func (r *recorder) waited(t *testing.T, n int) time.Time {
	t.Helper()
	var until time.Time
	require.Eventually(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.waits) < n {
			return false
		}
		until = r.waits[n-1]
		return true
	}, 10*time.Second, time.Millisecond, "the follower waits for the server's clock")
	return until
}

func (r *recorder) totals() (map[string]int64, map[string]int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, b := map[string]int64{}, map[string]int64{}
	for k, v := range r.packets {
		p[k] = v
	}
	for k, v := range r.bytes {
		b[k] = v
	}
	return p, b
}

// plan is the data a follow test loads: bucket i (start t0+15i) holds
// workload k unless (i+k)%5 == 0, with PacketsIn 1 and BytesIn 1<<i.
type plan struct{ buckets, keys int }

func (p plan) flows() []*pb.Flow {
	var out []*pb.Flow
	for i := 0; i < p.buckets; i++ {
		for k := 0; k < p.keys; k++ {
			if (i+k)%5 == 0 {
				continue
			}
			f := egress(k, t0+int64(i)*15)
			f.BytesIn = 1 << i
			out = append(out, f)
		}
	}
	return out
}

// expected returns the totals for buckets [from, to).
func (p plan) expected(from, to int) (packets, bytes map[string]int64) {
	packets, bytes = map[string]int64{}, map[string]int64{}
	for i := from; i < to; i++ {
		for k := 0; k < p.keys; k++ {
			if (i+k)%5 == 0 {
				continue
			}
			packets[appName(k)]++
			bytes[appName(k)] += 1 << i
		}
	}
	return packets, bytes
}

// felixFlows is what Felix reports for workload k's connections over the
// buckets 0..buckets-1: conns[i] holds the first and last bucket of
// connection i (a first bucket below 0: open before bucket 0). As Felix
// does (felix/collector/flowlog), each bucket reports every connection
// active in it as live and those that began in it as started; bytes are 10
// per live connection.
func felixFlows(k int, conns [][2]int, buckets int) []*pb.Flow {
	var out []*pb.Flow
	for i := 0; i < buckets; i++ {
		var started, live, completed int64
		for _, c := range conns {
			if i < c[0] || i > c[1] {
				continue
			}
			live++
			if i == c[0] {
				started++
			}
			if i == c[1] {
				completed++
			}
		}
		if live == 0 {
			continue
		}
		f := egress(k, t0+int64(i)*15)
		f.NumConnectionsStarted, f.NumConnectionsLive, f.NumConnectionsCompleted = started, live, completed
		f.BytesIn = 10 * live
		out = append(out, f)
	}
	return out
}

func contextWithCleanup(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx, cancel
}
