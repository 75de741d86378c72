package flows

import (
	"bytes"
	"context"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/calico-plan/calico-plan/internal/sharedtest"
)

// Fuzz targets: decoding arbitrary bytes must never panic, and every flow a
// decoder emits must survive an encode/decode round trip unchanged.

func addSampleSeeds(f *testing.F, names ...string) {
	for _, name := range names {
		p, ok := sharedtest.Lookup(f, sharedtest.Samples, name)
		if !ok {
			continue // samples are optional (outside CI)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		for _, l := range bytes.Split(data, []byte{'\n'}) {
			if len(l) > 0 {
				f.Add(l)
			}
		}
	}
}

func fuzzDecodeAll(t *testing.T, data []byte, opt Options, check func(*Flow)) {
	_, err := Decode(context.Background(), bytes.NewReader(data), "fuzz", opt, func(_ int, fl *Flow) error {
		check(fl)
		return nil
	})
	if err != nil && !strings.HasPrefix(err.Error(), "fuzz") {
		t.Fatalf("unexpected error without position: %v", err)
	}
}

func FuzzDecodeEnterprise(f *testing.F) {
	f.Add([]byte(eeLine()))
	f.Add([]byte(lines(eeLine(), eeLine("source_ip", `"10.1.2.3"`, "source_port", "4242"))))
	f.Add([]byte(eeLine("policies", `{"all_policies":["1|t|ns/t.staged:p|deny|-1","0|__PROFILE__|__PROFILE__.kns.x|allow"]}`)))
	f.Add([]byte(eeLine("source_labels", "null", "dest_ip", `"fd00::1"`, "source_namespace", `"a\u00e9\"b"`)))
	f.Add([]byte(prettyJSON(`{"hits":{"hits":[{"_source":` + eeLine() + `}]}}`)))
	f.Add([]byte(`{"total_hits":1,"items":[` + eeLine() + `]}`))
	f.Add([]byte("[" + eeLine() + "]"))
	f.Add([]byte(eeLine()[:200]))
	f.Add(gzipBytes(f, []byte(lines(eeLine()))))
	f.Add(genEE(3, 1))
	addSampleSeeds(f, "ee-linseed-fv-flow_logs_legacy.subset.ndjson", "ee-fake-log-generator-example-flows.subset.ndjson",
		"ee-felix-testdata-flows.ndjson", "ee-observability-clinic-denied-flow.ndjson", "ee-ids-linseed-list-response.json",
		"ee-docs-datatypes-example.jsonish.txt")
	f.Fuzz(func(t *testing.T, data []byte) {
		var fl Flow
		d := newEEDecoder()
		if e := d.decode(data, &fl); e == nil {
			checkEnterpriseRoundTrip(t, &fl)
		} else if e.Off < 0 || e.Off > len(data) {
			t.Fatalf("problem offset %d outside the record (%d bytes)", e.Off, len(data))
		}
		fuzzDecodeAll(t, data, Options{}, func(fl *Flow) {})
		fuzzDecodeAll(t, data, Options{Format: FormatEnterprise}, func(fl *Flow) { checkEnterpriseRoundTrip(t, fl) })
		if len(data)%5 == 0 {
			fuzzDecodeAll(t, data, Options{Workers: 2, Strict: true}, func(fl *Flow) {})
		}
	})
}

// checkEnterpriseRoundTrip encodes a decoded flow and decodes it again.
func checkEnterpriseRoundTrip(t *testing.T, fl *Flow) {
	t.Helper()
	b, err := AppendEnterpriseJSON(nil, fl)
	if err != nil {
		// Only hits that neither trace form can carry may fail.
		for _, h := range append(append([]PolicyHit{}, fl.Policies.Enforced...), fl.Policies.Pending...) {
			if _, herr := LegacyTraceString(h); herr != nil {
				return
			}
		}
		t.Fatalf("encode: %v", err)
	}
	var back Flow
	if e := newEEDecoder().decode(b, &back); e != nil {
		t.Fatalf("re-decode of %s: %s: %s", b, e.Field, e.Msg)
	}
	want := *fl
	if len(want.DestDomains) == 0 {
		want.DestDomains = nil
	}
	if !flowsEqual(want, back) {
		t.Fatalf("round trip changed the flow:\n%+v\n%+v\n%s", want, back, b)
	}
}

func flowsEqual(a, b Flow) bool { return reflect.DeepEqual(a, b) }

func FuzzDecodeGoldmane(f *testing.F) {
	f.Add([]byte(gmEmitterFull))
	f.Add([]byte(lines(gmEmitterFull, `{"Key":{"source_name":"x","dest_type":4,"dest_name":"pub"}}`)))
	f.Add([]byte(`{"id":"3","flow":` + gmEmitterFull + `}`))
	f.Add([]byte(`{"meta":{"totalPages":1},"flows":[{"id":"3","flow":` + gmEmitterFull + `}]}`))
	f.Add([]byte(`{"Key":{"policies":{"enforced_policies":[{"kind":10,"trigger":{"kind":"StagedNetworkPolicy","trigger":null}}]}},"startTime":"17"}`))
	f.Add([]byte("[" + gmEmitterFull + "]"))
	f.Add([]byte(whiskerItem))
	f.Add([]byte("data: " + whiskerItem + "\n\nerror: x\n"))
	f.Add([]byte(`{"total":{"totalPages":1},"items":[` + whiskerItem + `]}`))
	addSampleSeeds(f, "goldmane-flow-protojson-otlphttp-exporter-readme.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		var fl Flow
		g := newGoldmaneDecoder()
		if e := g.decode(data, &fl); e == nil {
			checkGoldmaneRoundTrip(t, &fl)
		}
		w := newWhiskerDecoder()
		_ = w.decode(data, &fl)
		fuzzDecodeAll(t, data, Options{}, func(fl *Flow) {})
		fuzzDecodeAll(t, data, Options{Format: FormatGoldmane}, func(fl *Flow) { checkGoldmaneRoundTrip(t, fl) })
		fuzzDecodeAll(t, data, Options{Format: FormatWhiskerSSE}, func(fl *Flow) {})
	})
}

func checkGoldmaneRoundTrip(t *testing.T, fl *Flow) {
	t.Helper()
	for _, pj := range []bool{false, true} {
		b := AppendGoldmaneJSON(nil, fl, pj)
		var back Flow
		if e := newGoldmaneDecoder().decode(b, &back); e != nil {
			t.Fatalf("re-decode of %s: %s: %s", b, e.Field, e.Msg)
		}
		if !flowsEqual(goldmaneView(*fl), back) {
			t.Fatalf("round trip changed the flow:\n%+v\n%+v\n%s", goldmaneView(*fl), back, b)
		}
	}
}
