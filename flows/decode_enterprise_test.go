package flows

import (
	"net/netip"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

func TestEnterpriseFieldMapping(t *testing.T) {
	cases := []struct {
		name  string
		over  []string
		check func(t *testing.T, f Flow)
	}{
		{"level 0 names, IPs and ports", []string{
			"source_ip", `"10.1.2.3"`, "source_name", `"api-7d9c-x2x2"`, "source_port", "40123",
			"dest_ip", `"2001:db8::1"`, "dest_name", `"db-0"`, "dest_type", `"wep"`, "dest_name_aggr", `"db-*"`, "dest_namespace", `"data"`},
			func(t *testing.T, f Flow) {
				require.Equal(t, netip.MustParseAddr("10.1.2.3"), f.Source.IP)
				require.Equal(t, "api-7d9c-x2x2", f.Source.Name)
				require.Equal(t, uint16(40123), f.Source.Port)
				require.Equal(t, netip.MustParseAddr("2001:db8::1"), f.Dest.IP)
				require.Equal(t, Endpoint{Type: EndpointWorkload, Name: "db-0", NameAggr: "db-*", Namespace: "data",
					Labels: []string{}, IP: netip.MustParseAddr("2001:db8::1"), Port: 443}, f.Dest)
			}},
		{"null_value placeholders", []string{"source_ip", `"0.0.0.0"`, "dest_ip", `"::"`, "source_port", "0", "dest_port", "null", "dest_service_port_num", "0"},
			func(t *testing.T, f Flow) {
				require.False(t, f.Source.IP.IsValid())
				require.False(t, f.Dest.IP.IsValid())
				require.Zero(t, f.Source.Port)
				require.Zero(t, f.Dest.Port)
				require.Zero(t, f.Service.Port)
			}},
		{"labels null means not collected", []string{"source_labels", "null", "dest_labels", `{"labels":null}`},
			func(t *testing.T, f Flow) {
				require.Nil(t, f.Source.Labels)
				require.Nil(t, f.Dest.Labels)
			}},
		{"labels empty means none", []string{"source_labels", `{"labels":[]}`, "dest_labels", `{"labels":[ ]}`},
			func(t *testing.T, f Flow) {
				require.NotNil(t, f.Source.Labels)
				require.Empty(t, f.Source.Labels)
				require.NotNil(t, f.Dest.Labels)
				require.Empty(t, f.Dest.Labels)
			}},
		{"labels object without labels key, and a bare array", []string{"source_labels", `{"other":1}`, "dest_labels", `["a=b"]`},
			func(t *testing.T, f Flow) {
				require.Nil(t, f.Source.Labels)
				require.Equal(t, []string{"a=b"}, f.Dest.Labels)
			}},
		{"service fields", []string{"dest_service_namespace", `"shop"`, "dest_service_name", `"api"`, "dest_service_port", `"*"`, "dest_service_port_num", "8443"},
			func(t *testing.T, f Flow) {
				require.Equal(t, Service{Namespace: "shop", Name: "api", PortName: "*", Port: 8443}, f.Service)
				require.True(t, f.Service.Known())
			}},
		{"types", []string{"source_type", `"hep"`, "dest_type", `"ns"`, "source_namespace", `"-"`, "source_name_aggr", `"node-1"`},
			func(t *testing.T, f Flow) {
				require.Equal(t, EndpointHost, f.Source.Type)
				require.Equal(t, EndpointNetworkSet, f.Dest.Type)
				require.Empty(t, f.Source.Namespace)
				require.False(t, f.Source.Namespaced())
			}},
		{"proto by name and number", []string{"proto", `"icmp6"`}, func(t *testing.T, f Flow) { require.Equal(t, ProtoICMPv6, f.Proto) }},
		{"proto number string", []string{"proto", `"47"`}, func(t *testing.T, f Flow) { require.Equal(t, Protocol(47), f.Proto) }},
		{"proto JSON number", []string{"proto", `132`}, func(t *testing.T, f Flow) { require.Equal(t, ProtoSCTP, f.Proto) }},
		{"deny, dst", []string{"action", `"deny"`, "reporter", `"dst"`}, func(t *testing.T, f Flow) {
			require.Equal(t, ActionDeny, f.Action)
			require.Equal(t, ReporterDst, f.Reporter)
		}},
		{"policies null", []string{"policies", "null"}, func(t *testing.T, f Flow) { require.Equal(t, Trace{}, f.Policies) }},
		{"pending falls back to all_policies when empty", []string{"policies",
			`{"all_policies":["1|t|t.b|deny|-1","0|t|t.a|pass|0"],"enforced_policies":["0|t|t.a|allow|0"],"pending_policies":[],"transit_policies":["0|x|x.y|allow|0"]}`},
			func(t *testing.T, f Flow) {
				require.Equal(t, []PolicyHit{hit("0|t|t.a|allow|0")}, f.Policies.Enforced)
				require.Equal(t, []PolicyHit{hit("0|t|t.a|pass|0"), hit("1|t|t.b|deny|-1")}, f.Policies.Pending)
			}},
		{"pending wins over all_policies", []string{"policies",
			`{"pending_policies":["0|t|t.staged:p|deny|-1"],"all_policies":["0|t|t.a|pass|0"]}`},
			func(t *testing.T, f Flow) {
				require.Nil(t, f.Policies.Enforced)
				require.Equal(t, []PolicyHit{{Tier: "t", Kind: KindStagedGlobalNetworkPolicy, Name: "p", Action: ActionDeny, RuleIndex: RuleEndOfTier}}, f.Policies.Pending)
				require.True(t, f.Policies.Pending[0].Staged())
			}},
		{"gen 3 trace strings", []string{"policies", `{"enforced_policies":["1|default|sknp:shop/p|deny|3","0|__PROFILE__|pro:kns.shop|allow|0"]}`},
			func(t *testing.T, f Flow) {
				require.Equal(t, []PolicyHit{
					{Index: 0, Kind: KindProfile, Name: "kns.shop", Action: ActionAllow},
					{Index: 1, Tier: "default", Kind: KindStagedKubernetesNetworkPolicy, Namespace: "shop", Name: "p", Action: ActionDeny, RuleIndex: 3},
				}, f.Policies.Enforced)
			}},
		{"domains null and empty", []string{"dest_domains", "[]"}, func(t *testing.T, f Flow) { require.Nil(t, f.DestDomains) }},
		{"counters null", []string{"bytes_in", "null", "packets_out", "null", "num_flows", "null"}, func(t *testing.T, f Flow) {
			require.EqualValues(t, 20, f.Bytes)
			require.EqualValues(t, 4, f.Packets)
			require.Zero(t, f.NumFlows)
		}},
		{"float epoch seconds", []string{"start_time", "1.7e9", "end_time", "1700000300.75"}, func(t *testing.T, f Flow) {
			require.Equal(t, int64(1700000000), f.Start)
			require.Equal(t, int64(1700000300), f.End)
		}},
		{"escapes and unicode", []string{"source_namespace", `"sh\u006fp"`, "source_name_aggr", `"a\"b\\c\/d\t\u00e9\ud83d\ude00"`,
			"source_labels", `{"labels":["k=v\u0021","x=\u4e16"]}`},
			func(t *testing.T, f Flow) {
				require.Equal(t, "shop", f.Source.Namespace)
				require.Equal(t, "a\"b\\c/d\té😀", f.Source.NameAggr)
				require.Equal(t, []string{"k=v!", "x=世"}, f.Source.Labels)
			}},
		{"invalid UTF-8 replaced", []string{"source_namespace", "\"a\xffb\""}, func(t *testing.T, f Flow) {
			require.Equal(t, "a\uFFFDb", f.Source.Namespace)
		}},
		{"unknown and ES fields ignored", []string{"host", `"node-1"`, "@timestamp", "1700000300000", "cluster", `"c1"`,
			"nat_outgoing_ports", "[1,2,3]", "process_args", `["-"]`, "future_field", `{"deep":[{"x":[1,{"y":"]}"}]}]}`,
			"tcp_mean_mss", "1388", "original_source_ips", `["1.2.3.4"]`, "is_ok", "true", "frac", "-1.5e-3"},
			func(t *testing.T, f Flow) { require.Equal(t, baseFlow, f) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.check(t, one(t, eeLine(c.over...)))
		})
	}
	// Escaped keys are unescaped before matching.
	l := eeLine("source_namespace", "")
	f := one(t, l[:len(l)-1]+`,"source_n\u0061mespace":"esc"}`)
	require.Equal(t, "esc", f.Source.Namespace)
	// Duplicate keys: the last one wins, as with encoding/json.
	l = eeLine()
	f = one(t, l[:len(l)-1]+`,"dest_port":80}`)
	require.Equal(t, uint16(80), f.Dest.Port)
}

func unsafeStringData(s string) *byte { return unsafe.StringData(s) }

// A wrong-typed or invalid known field makes the record bad and names the
// field.
func TestEnterpriseBadFields(t *testing.T) {
	cases := []struct {
		field, value, reason, msg string
	}{
		{"dest_port", `"abc"`, ReasonWrongType, `want a number, got string "abc"`},
		{"dest_port", `70000`, ReasonBadValue, "out of range"},
		{"source_port", `-1`, ReasonBadValue, "out of range"},
		{"start_time", `"2020-01-01"`, ReasonWrongType, "want a number"},
		{"num_flows", `true`, ReasonWrongType, "want a number, got boolean"},
		{"bytes_in", `99999999999999999999999`, ReasonBadValue, "out of range"},
		{"source_ip", `"10.0.0.256"`, ReasonBadValue, "invalid IP address"},
		{"dest_ip", `17`, ReasonWrongType, "want a string"},
		{"source_type", `"pod"`, ReasonUnknownEnum, `unknown endpoint type "pod"`},
		{"dest_type", `4`, ReasonWrongType, "want a string"},
		{"action", `"drop"`, ReasonUnknownEnum, `unknown action "drop"`},
		{"reporter", `"both"`, ReasonUnknownEnum, `unknown reporter "both"`},
		{"proto", `"quic"`, ReasonUnknownEnum, `unknown protocol "quic"`},
		{"proto", `300`, ReasonBadValue, "out of range"},
		{"source_namespace", `["a"]`, ReasonWrongType, "want a string, got array"},
		{"source_labels", `"app=x"`, ReasonWrongType, `want {"labels":[...]}`},
		{"source_labels", `{"labels":[1]}`, ReasonWrongType, "want an array of strings"},
		{"dest_domains", `"x.com"`, ReasonWrongType, "want an array of strings"},
		{"policies", `[]`, ReasonWrongType, "want an object"},
		{"policies", `{"enforced_policies":"0|t|t.a|allow|0"}`, ReasonWrongType, "want an array of strings"},
		{"policies", `{"pending_policies":["0|t|t.a|accept|0"]}`, ReasonBadPolicy, `action "accept"`},
		{"policies", `{"all_policies":["garbage"]}`, ReasonBadPolicy, "want 4 or 5"},
		{"dest_service_port_num", `"443"`, ReasonWrongType, "want a number"},
	}
	for _, c := range cases {
		t.Run(c.field+"="+c.value, func(t *testing.T) {
			in := lines(eeLine(), eeLine(c.field, c.value), eeLine())
			d := decodeString(t, in, Options{})
			require.NoError(t, d.err)
			require.Len(t, d.flows, 2, "the good records around it decode")
			require.EqualValues(t, 1, d.st.Bad)
			p := d.st.Examples[0]
			wantField := c.field
			switch {
			case c.field == "policies" && strings.Contains(c.value, "enforced"):
				wantField = "policies.enforced_policies"
			case c.field == "policies" && strings.Contains(c.value, "pending"):
				wantField = "policies.pending_policies"
			case c.field == "policies" && strings.Contains(c.value, "all_"):
				wantField = "policies.all_policies"
			case c.field == "source_labels" && strings.Contains(c.value, "labels"):
				wantField = "source_labels.labels"
			}
			require.Equal(t, wantField, p.Field)
			require.Equal(t, c.reason, p.Reason)
			require.Contains(t, p.Msg, c.msg)
			require.Equal(t, 2, p.Line)
			// The column points into the line, at or after the key.
			ln := eeLine(c.field, c.value)
			require.Greater(t, p.Column, strings.Index(ln, `"`+c.field+`"`))
			require.Contains(t, p.String(), "test:2:")
			require.Contains(t, p.String(), ": "+wantField+": ")
		})
	}
}

func TestEnterpriseMalformed(t *testing.T) {
	for _, in := range []string{
		`{"source_type":"wep" "dest_type":"wep"}`,
		`{"source_type":"wep",}`,
		`{"source_type"}`,
		`{source_type:"wep"}`,
		`{"source_type":"wep","x":tru}`,
		`{"source_type":"wep","x":[1,2}`,
		`{"source_type":"wep","x":{"a":1]}`,
		`{"source_type":"wep","x":01a}`,
		`{"source_type":"w\ep"}`,
		`{"source_type":"wep"} {}`,
		`"just a string"`,
		`{"source_type":"wep","x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
	} {
		p := onlyProblem(t, in+"\n", Options{Format: FormatEnterprise})
		require.Equal(t, ReasonMalformedJSON, p.Reason, in)
		require.Positive(t, p.Column)
	}
	// A record without identity fields is not a flow.
	p := onlyProblem(t, `{"start_time":1,"bytes_in":3}`+"\n", Options{Format: FormatEnterprise})
	require.Equal(t, ReasonNotFlow, p.Reason)
}

// The decoder does not allocate per record once its caches are warm.
func TestEnterpriseSteadyStateAllocs(t *testing.T) {
	data := genEE(200, 9)
	ls := strings.SplitAfter(string(data), "\n")
	ls = ls[:len(ls)-1]
	d := newEEDecoder()
	var f Flow
	for _, l := range ls { // warm up
		require.Nil(t, d.decode([]byte(l), &f))
	}
	bs := make([][]byte, len(ls))
	for i, l := range ls {
		bs[i] = []byte(l)
	}
	allocs := testing.AllocsPerRun(5, func() {
		for _, b := range bs {
			if e := d.decode(b, &f); e != nil {
				panic(e.Msg)
			}
		}
	})
	require.Zero(t, allocs)
}

// Slices and strings handed to emit stay valid after emit returns and are
// not overwritten by later records.
func TestEmittedValuesStayValid(t *testing.T) {
	in := lines(
		eeLine("source_labels", `{"labels":["a=1"]}`, "policies", `{"enforced_policies":["0|t|t.a|allow|0"]}`, "source_namespace", `"n1"`),
		eeLine("source_labels", `{"labels":["b=2"]}`, "policies", `{"enforced_policies":["0|t|t.b|deny|0"]}`, "source_namespace", `"n2"`),
	)
	var kept []Flow
	_, err := Decode(t.Context(), strings.NewReader(in), "x", Options{}, func(_ int, f *Flow) error {
		kept = append(kept, *f)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []string{"a=1"}, kept[0].Source.Labels)
	require.Equal(t, "n1", kept[0].Source.Namespace)
	require.Equal(t, "a", kept[0].Policies.Enforced[0].Name)
	require.Equal(t, []string{"b=2"}, kept[1].Source.Labels)
	require.Equal(t, "b", kept[1].Policies.Enforced[0].Name)
}

func TestBoundedCachesReset(t *testing.T) {
	c := newBoundedCache[int](3, 1<<20, 4)
	for i := 0; i < 10; i++ {
		c.put(strings.Repeat("k", i+1), i, 0)
		require.LessOrEqual(t, len(c.m), 3)
	}
	c = newBoundedCache[int](100, 200, 4)
	for i := 0; i < 10; i++ {
		c.put(strings.Repeat("k", i+1), i, 50)
		require.LessOrEqual(t, c.bytes, 200)
	}
	in := newInterner()
	long := []byte(strings.Repeat("z", internMaxLen+1))
	require.Equal(t, string(long), in.str(long))
	_, cached := in.c.get(long)
	require.False(t, cached, "long strings are not interned")
	require.Equal(t, "x", in.str([]byte("x")))
	s1, s2 := in.str([]byte("same")), in.str([]byte("same"))
	require.Equal(t, s1, s2)
	require.Equal(t, unsafeStringData(s1), unsafeStringData(s2), "interned: one copy")
}
