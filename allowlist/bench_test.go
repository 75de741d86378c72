package allowlist

import (
	"net/netip"
	"runtime"
	"testing"

	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/profile"
)

// BenchmarkAggregateDistinctAddresses folds b.N flows, each to another
// public address, into one entry (make bench: 2,000,000). Memory stays
// bounded by aggregation.maxAddresses: the heap after the run and the
// prefixes the entry holds are reported.
func BenchmarkAggregateDistinctAddresses(b *testing.B) {
	p := profile.Default()
	a := NewAggregator(NewClassifier(p))
	f := srcFlow()
	f.Dest = flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", Port: 443}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// A bijection of i over 20.0.0.0-59.255.255.255: distinct addresses
		// spread over every /16 there.
		x := uint32(i)*2654435761%(40<<24) + 20<<24
		f.Dest.IP = netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
		a.Add(&f)
	}
	b.StopTimer()
	held := 0
	for _, ac := range a.accs {
		ac.finalize(a.rules)
		held += len(ac.nets)
	}
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	b.ReportMetric(float64(m.HeapInuse)/1e6, "heap-MB")
	b.ReportMetric(float64(held), "prefixes-held")
	if held > p.Aggregation.MaxAddresses {
		b.Fatalf("%d prefixes held, more than aggregation.maxAddresses %d", held, p.Aggregation.MaxAddresses)
	}
}
