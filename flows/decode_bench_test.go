package flows

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"testing"
)

// eeGen generates realistic Calico Enterprise flows.log lines (~1.1 KB on
// average): a mix of aggregation-level-2-like records (names "-", no IPs)
// and level-0-like ones (pod names, IPs, ports), both reporters, wep/net/ns
// destinations, 2-5 labels per side, 2-4 policy hits per trace, process and
// TCP fields as Felix writes them. Deterministic for a seed.
type eeGen struct {
	r    *rand.Rand
	apps []genApp
}

type genApp struct {
	ns, name, hash string
	labels         []string
	port           int
}

var genNamespaces = []string{"shop", "payments", "checkout", "catalog", "identity", "search", "ads", "shipping",
	"monitoring", "logging", "kube-system", "tigera-elasticsearch", "calico-system", "data-pipeline", "ml-serving", "billing"}
var genAppNames = []string{"frontend", "api", "worker", "db-proxy", "cache", "gateway", "scheduler", "indexer"}
var genTiers = []string{"security", "platform", "app", "default"}

func newEEGen(seed uint64) *eeGen {
	g := &eeGen{r: rand.New(rand.NewPCG(seed, 0x5eed))}
	for _, ns := range genNamespaces {
		for _, a := range genAppNames {
			hash := strconv.FormatUint(g.r.Uint64()%(1<<40), 16)
			app := genApp{ns: ns, name: a, hash: hash, port: []int{80, 443, 8080, 5432, 6379, 9200, 53}[g.r.IntN(7)]}
			app.labels = []string{"app=" + a, "pod-template-hash=" + hash}
			if g.r.IntN(4) == 0 {
				app.labels = append(app.labels, "team=t"+strconv.Itoa(g.r.IntN(9)))
			}
			g.apps = append(g.apps, app)
		}
	}
	return g
}

func (g *eeGen) ip() string {
	return "10." + strconv.Itoa(g.r.IntN(256)) + "." + strconv.Itoa(g.r.IntN(256)) + "." + strconv.Itoa(1+g.r.IntN(254))
}

func (g *eeGen) pod(a genApp) string {
	// A few replicas per app, as in a real cluster.
	return a.name + "-" + a.hash + "-" + []string{"x7k2p", "b9qzt", "m4wfd", "r2hcs"}[g.r.IntN(4)]
}

func (g *eeGen) labels(b []byte, ls []string) []byte {
	b = append(b, `{"labels":[`...)
	for i, l := range ls {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, l)
	}
	return append(b, "]}"...)
}

// trace returns a policy trace, 2-4 hits stored unordered as Felix does.
// It depends on the reporting endpoint's app (whose ingress or egress
// policies apply) and the peer's namespace, with two variants, so a data
// set holds a few thousand distinct traces.
func (g *eeGen) trace(src, dst genApp, reporter string) []string {
	self, peer := src, dst
	if reporter == "dst" {
		self, peer = dst, src
	}
	h := uint64(len(self.name)*7+len(peer.ns)*131) + uint64(self.hash[0])*17 + uint64(self.hash[1])*13 + uint64(peer.ns[0])*1009 + uint64(g.r.IntN(2))
	r := rand.New(rand.NewPCG(h, 7))
	n := 2 + r.IntN(2)
	out := make([]string, 0, n)
	for i := 0; i < n-1; i++ {
		tier := genTiers[i%len(genTiers)]
		switch r.IntN(3) {
		case 0:
			out = append(out, fmt.Sprintf("%d|%s|%s.baseline|pass|%d", i, tier, tier, r.IntN(4)))
		case 1:
			out = append(out, fmt.Sprintf("%d|%s|%s/%s.from-%s|pass|%d", i, tier, self.ns, tier, peer.ns, r.IntN(3)))
		default:
			out = append(out, fmt.Sprintf("%d|%s|%s/%s.staged:%s|pass|-1", i, tier, self.ns, tier, self.name))
		}
	}
	if r.IntN(4) == 0 {
		out = append(out, fmt.Sprintf("%d|__PROFILE__|__PROFILE__.kns.%s|allow|0", n-1, self.ns))
	} else {
		out = append(out, fmt.Sprintf("%d|default|%s/knp.default.%s|allow|%d", n-1, self.ns, self.name, r.IntN(3)))
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] }) // stored unordered
	return out
}

func strList(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, s)
	}
	return append(b, ']')
}

// line appends one record.
func (g *eeGen) line(b []byte) []byte {
	src := g.apps[g.r.IntN(len(g.apps))]
	dst := g.apps[g.r.IntN(len(g.apps))]
	level0 := g.r.IntN(10) < 4
	reporter := "src"
	if g.r.IntN(2) == 0 {
		reporter = "dst"
	}
	dtype := "wep"
	switch x := g.r.IntN(10); {
	case x < 2:
		dtype = "net"
	case x < 3:
		dtype = "ns"
	}
	start := 1700000000 + int64(g.r.IntN(86400*7))/300*300
	b = append(b, `{"start_time":`...)
	b = strconv.AppendInt(b, start, 10)
	b = append(b, `,"end_time":`...)
	b = strconv.AppendInt(b, start+300, 10)
	if level0 {
		b = append(b, `,"source_ip":"`...)
		b = append(b, g.ip()...)
		b = append(b, `","source_name":"`...)
		b = append(b, g.pod(src)...)
		b = append(b, '"')
	} else {
		b = append(b, `,"source_ip":null,"source_name":"-"`...)
	}
	b = append(b, `,"source_name_aggr":"`...)
	b = append(b, src.name+"-"+src.hash+"-*"...)
	b = append(b, `","source_namespace":"`...)
	b = append(b, src.ns...)
	b = append(b, `","nat_outgoing_ports":null,"source_port":`...)
	if level0 {
		b = strconv.AppendInt(b, int64(32768+g.r.IntN(28000)), 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"source_type":"wep","source_labels":`...)
	b = g.labels(b, src.labels)
	switch dtype {
	case "wep":
		if level0 {
			b = append(b, `,"dest_ip":"`...)
			b = append(b, g.ip()...)
			b = append(b, `","dest_name":"`...)
			b = append(b, g.pod(dst)...)
			b = append(b, '"')
		} else {
			b = append(b, `,"dest_ip":null,"dest_name":"-"`...)
		}
		b = append(b, `,"dest_name_aggr":"`+dst.name+"-"+dst.hash+`-*","dest_namespace":"`+dst.ns+`"`...)
	case "net":
		agg := "pub"
		if g.r.IntN(2) == 0 {
			agg = "pvt"
		}
		b = append(b, `,"dest_ip":null,"dest_name":"-","dest_name_aggr":"`+agg+`","dest_namespace":"-"`...)
	default:
		b = append(b, `,"dest_ip":null,"dest_name":"-","dest_name_aggr":"external-apis","dest_namespace":"-"`...)
	}
	b = append(b, `,"dest_port":`...)
	b = strconv.AppendInt(b, int64(dst.port), 10)
	b = append(b, `,"dest_type":"`+dtype+`","dest_labels":`...)
	if dtype == "wep" {
		b = g.labels(b, dst.labels)
	} else {
		b = append(b, `{"labels":[]}`...)
	}
	if dtype == "wep" && reporter == "src" {
		b = append(b, `,"dest_service_namespace":"`+dst.ns+`","dest_service_name":"`+dst.name+`","dest_service_port":"http","dest_service_port_num":`...)
		b = strconv.AppendInt(b, int64(dst.port), 10)
	} else {
		b = append(b, `,"dest_service_namespace":"-","dest_service_name":"-","dest_service_port":"-","dest_service_port_num":null`...)
	}
	if dtype == "net" && reporter == "src" {
		b = append(b, `,"dest_domains":["api.`+dst.name+`.example.com"]`...)
	} else {
		b = append(b, `,"dest_domains":null`...)
	}
	proto := "tcp"
	if dst.port == 53 {
		proto = "udp"
	}
	b = append(b, `,"proto":"`+proto+`","action":"allow","reporter":"`+reporter+`","policies":{"enforced_policies":`...)
	tr := g.trace(src, dst, reporter)
	b = strList(b, tr)
	b = append(b, `,"pending_policies":`...)
	b = strList(b, tr)
	b = append(b, `}`...)
	for _, k := range []string{"bytes_in", "bytes_out", "num_flows", "num_flows_started", "num_flows_completed", "packets_in", "packets_out"} {
		b = append(b, `,"`+k+`":`...)
		b = strconv.AppendInt(b, int64(g.r.IntN(1<<uint(3+g.r.IntN(14)))), 10)
	}
	b = append(b, `,"http_requests_allowed_in":0,"http_requests_denied_in":0`...)
	if g.r.IntN(8) == 0 {
		// Process info (flowLogsCollectProcessInfo).
		b = append(b, `,"process_name":"-","num_process_names":0,"process_id":"-","num_process_ids":0,"process_args":["-"],"num_process_args":0`...)
	}
	b = append(b, `,"original_source_ips":null,"num_original_source_ips":0`...)
	if g.r.IntN(20) == 0 {
		// Newer Felix with flowLogsCollectTcpStats.
		for _, k := range []string{"tcp_mean_send_congestion_window", "tcp_min_send_congestion_window", "tcp_mean_smooth_rtt", "tcp_max_smooth_rtt", "tcp_mean_min_rtt", "tcp_max_min_rtt", "tcp_mean_mss", "tcp_min_mss", "tcp_total_retransmissions", "tcp_lost_packets", "tcp_unrecovered_to"} {
			b = append(b, `,"`+k+`":`...)
			b = strconv.AppendInt(b, int64(g.r.IntN(3000)), 10)
		}
	}
	return append(b, "}\n"...)
}

// genEE returns n generated lines.
func genEE(n int, seed uint64) []byte {
	g := newEEGen(seed)
	b := make([]byte, 0, n*1400)
	for i := 0; i < n; i++ {
		b = g.line(b)
	}
	return b
}

var (
	benchOnce sync.Once
	benchData []byte
)

const benchRecords = 100_000

func BenchmarkDecodeEnterprise(b *testing.B) {
	benchOnce.Do(func() { benchData = genEE(benchRecords, 1) })
	data := benchData
	ctx := context.Background()
	noop := func(int, *Flow) error { return nil }
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run("workers="+strconv.Itoa(workers), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			var records int64
			cpu0 := processCPUTime()
			for i := 0; i < b.N; i++ {
				st, err := Decode(ctx, bytes.NewReader(data), "bench", Options{Workers: workers}, noop)
				if err != nil || st.Bad != 0 || st.Records != benchRecords {
					b.Fatalf("decode: %v, %+v", err, st)
				}
				records += st.Records
			}
			b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
			// CPU time per record (all goroutines): less sensitive than
			// wall time to other load on a shared machine.
			if cpu := processCPUTime() - cpu0; cpu > 0 {
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(records), "cpu-ns/record")
			}
			b.ReportMetric(float64(len(data))/benchRecords, "bytes/record")
		})
	}
}

// BenchmarkDecodeGoldmane decodes emitter-encoded Goldmane flows (the
// NDJSON the Goldmane emitter pushes), made from the Enterprise generator.
func BenchmarkDecodeGoldmane(b *testing.B) {
	const n = 20_000
	var buf bytes.Buffer
	_, err := Decode(context.Background(), bytes.NewReader(genEE(n, 2)), "gen", Options{}, func(_ int, f *Flow) error {
		return WriteGoldmaneJSON(&buf, f, false)
	})
	if err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	noop := func(int, *Flow) error { return nil }
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run("workers="+strconv.Itoa(workers), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			var records int64
			for i := 0; i < b.N; i++ {
				st, err := Decode(context.Background(), bytes.NewReader(data), "bench", Options{Workers: workers}, noop)
				if err != nil || st.Records != n || st.Format != FormatGoldmane {
					b.Fatalf("decode: %v, %+v", err, st)
				}
				records += st.Records
			}
			b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
