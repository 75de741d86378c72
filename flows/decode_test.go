package flows

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// eeFields is a valid Enterprise record as ordered key/raw-value pairs.
var eeFields = [][2]string{
	{"start_time", "1700000000"}, {"end_time", "1700000300"},
	{"source_ip", "null"}, {"source_name", `"-"`}, {"source_name_aggr", `"api-7d9c-*"`}, {"source_namespace", `"shop"`},
	{"source_port", "null"}, {"source_type", `"wep"`}, {"source_labels", `{"labels":["app=api","tier=web"]}`},
	{"dest_ip", "null"}, {"dest_name", `"-"`}, {"dest_name_aggr", `"pub"`}, {"dest_namespace", `"-"`},
	{"dest_port", "443"}, {"dest_type", `"net"`}, {"dest_labels", `{"labels":[]}`},
	{"dest_service_namespace", `"-"`}, {"dest_service_name", `"-"`}, {"dest_service_port", `"-"`}, {"dest_service_port_num", "null"},
	{"dest_domains", `["api.example.com"]`}, {"proto", `"tcp"`}, {"action", `"allow"`}, {"reporter", `"src"`},
	{"policies", `{"enforced_policies":["0|__PROFILE__|__PROFILE__.kns.shop|allow|0"],"pending_policies":["0|__PROFILE__|__PROFILE__.kns.shop|allow|0"]}`},
	{"bytes_in", "100"}, {"bytes_out", "20"}, {"num_flows", "3"}, {"packets_in", "4"}, {"packets_out", "5"},
}

// eeLine renders eeFields with overrides (a raw value of "" drops the key).
func eeLine(overrides ...string) string {
	over := map[string]string{}
	for i := 0; i+1 < len(overrides); i += 2 {
		over[overrides[i]] = overrides[i+1]
	}
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for _, kv := range eeFields {
		v := kv[1]
		if o, ok := over[kv[0]]; ok {
			v = o
			delete(over, kv[0])
		}
		if v == "" {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(strconv.Quote(kv[0]) + ":" + v)
	}
	for k, v := range over { // extra keys
		b.WriteString("," + strconv.Quote(k) + ":" + v)
	}
	b.WriteByte('}')
	return b.String()
}

var baseFlow = Flow{
	Start: 1700000000, End: 1700000300,
	Source:      Endpoint{Type: EndpointWorkload, NameAggr: "api-7d9c-*", Namespace: "shop", Labels: []string{"app=api", "tier=web"}},
	Dest:        Endpoint{Type: EndpointNetwork, NameAggr: "pub", Labels: []string{}, Port: 443},
	Proto:       ProtoTCP,
	Action:      ActionAllow,
	Reporter:    ReporterSrc,
	DestDomains: []string{"api.example.com"},
	Policies: Trace{
		Enforced: []PolicyHit{{Kind: KindProfile, Name: "kns.shop", Action: ActionAllow}},
		Pending:  []PolicyHit{{Kind: KindProfile, Name: "kns.shop", Action: ActionAllow}},
	},
	NumFlows: 3, Bytes: 120, Packets: 9,
}

func TestDecodeEnterpriseBaseRecord(t *testing.T) {
	require.Equal(t, baseFlow, one(t, eeLine()))
}

func TestFormatStringAndParse(t *testing.T) {
	for f := FormatAuto; f <= FormatWhiskerSSE; f++ {
		got, err := ParseFormat(strings.ToUpper(f.String()))
		require.NoError(t, err)
		require.Equal(t, f, got)
	}
	b, err := json.Marshal(Stats{Format: FormatGoldmane})
	require.NoError(t, err)
	require.Contains(t, string(b), `"Format":"goldmane"`)
	var st Stats
	require.NoError(t, json.Unmarshal(b, &st))
	require.Equal(t, FormatGoldmane, st.Format)
	_, err = ParseFormat("csv")
	require.ErrorContains(t, err, `unknown input format "csv"`)
	require.Equal(t, "Format(42)", Format(42).String())
}

func TestProblemString(t *testing.T) {
	require.Equal(t, "f.log:3:7: dest_port: want a number", Problem{File: "f.log", Line: 3, Column: 7, Field: "dest_port", Msg: "want a number"}.String())
	require.Equal(t, "f.log:3: bad", Problem{File: "f.log", Line: 3, Msg: "bad"}.String())
	require.Equal(t, "f.log: x: bad", Problem{File: "f.log", Field: "x", Msg: "bad"}.String())
	e := &DecodeError{Problem: Problem{File: "a", Line: 1, Msg: "m"}, Err: io.ErrUnexpectedEOF}
	require.Equal(t, "a:1: m", e.Error())
	require.ErrorIs(t, e, io.ErrUnexpectedEOF)
}

// Every format is detected without Options.Format.
func TestDetectEveryFormat(t *testing.T) {
	ee := eeLine()
	gmEmitter := `{"Key":{"source_name":"api-*","source_namespace":"shop","source_type":1,"dest_name":"pub","dest_namespace":"-","dest_type":4,"dest_port":443,"proto":"tcp","reporter":1,"action":1},"start_time":1700000000,"end_time":1700000015,"num_connections_started":2}`
	gmProto := `{"Key":{"sourceName":"api-*","sourceNamespace":"shop","sourceType":"WorkloadEndpoint","destName":"pub","destNamespace":"-","destType":"Network","destPort":"443","proto":"tcp","reporter":"Src","action":"Allow"},"startTime":"1700000000","endTime":"1700000015","numConnectionsStarted":"2"}`
	wh := `{"start_time":"2023-11-14T22:13:20Z","end_time":"2023-11-14T22:13:35Z","action":"Allow","source_name":"api-*","source_namespace":"shop","source_labels":"app=api","dest_name":"PUBLIC NETWORK","dest_namespace":"","dest_labels":"","protocol":"tcp","dest_port":443,"reporter":"Src","policies":{"enforced":[],"pending":[]},"packets_in":1,"packets_out":1,"bytes_in":10,"bytes_out":10}`
	cases := []struct {
		name, in string
		format   Format
		n        int
	}{
		{"ee ndjson", lines(ee, ee), FormatEnterprise, 2},
		{"ee pretty", prettyJSON(ee) + "\n" + prettyJSON(ee), FormatEnterprise, 2},
		{"ee array", "[" + ee + ",\n" + ee + "]", FormatEnterprise, 2},
		{"es search pretty", prettyJSON(`{"took":3,"timed_out":false,"_shards":{"total":1},"hits":{"total":{"value":2},"max_score":null,"hits":[{"_index":"i","_id":"a","_source":` + ee + `,"sort":[1]},{"_index":"i","_id":"b","_source":` + ee + `}]}}`), FormatESSearch, 2},
		{"es search one line", `{"took":3,"hits":{"hits":[{"_index":"i","_source":` + ee + `}]}}`, FormatESSearch, 1},
		{"es hits ndjson", lines(`{"_index":"i","_id":"a","_source":`+ee+`}`, `{"_index":"i","_id":"b","_source":`+ee+`}`), FormatESSearch, 2},
		{"es hits array", `[{"_index":"i","_source":` + ee + `}]`, FormatESSearch, 1},
		{"linseed list", `{"total_hits":2,"items":[` + ee + `,` + ee + `]}`, FormatLinseedList, 2},
		{"goldmane emitter ndjson", lines(gmEmitter, gmEmitter, gmEmitter), FormatGoldmane, 3},
		{"goldmane protojson pretty", prettyJSON(gmProto), FormatGoldmane, 1},
		{"goldmane array", "[" + gmEmitter + "," + gmProto + "]", FormatGoldmane, 2},
		{"goldmane grpcurl list", `{"meta":{"totalPages":1},"flows":[{"id":"7","flow":` + gmProto + `}]}`, FormatGoldmane, 1},
		{"goldmane grpcurl stream", prettyJSON(`{"id":"7","flow":`+gmProto+`}`) + prettyJSON(`{"id":"8","flow":`+gmEmitter+`}`), FormatGoldmane, 2},
		{"whisker list", `{"total":{"totalPages":1},"items":[` + wh + `,` + wh + `]}`, FormatWhisker, 2},
		{"whisker ndjson", lines(wh), FormatWhisker, 1},
		{"whisker sse", "data: " + wh + "\n\nevent: ping\nid: 3\n: comment\n\ndata: " + wh + "\n\n", FormatWhiskerSSE, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, workers := range []int{1, 2} {
				d := decodeString(t, c.in, Options{Workers: workers})
				require.NoError(t, d.err)
				require.Zero(t, d.st.Bad, "%v", d.st.Examples)
				require.Equal(t, c.format, d.st.Format)
				require.Len(t, d.flows, c.n)
				require.EqualValues(t, len(c.in), d.st.Bytes)
				if c.format == FormatWhisker || c.format == FormatWhiskerSSE {
					require.Len(t, d.st.Warnings, 1)
					require.Contains(t, d.st.Warnings[0], "no endpoint types")
				} else {
					require.Empty(t, d.st.Warnings)
				}
				for _, f := range d.flows {
					require.Equal(t, "pub", f.Dest.NameAggr)
					require.Equal(t, EndpointNetwork, f.Dest.Type)
					require.Equal(t, uint16(443), f.Dest.Port)
				}
			}
		})
	}
}

// prettyJSON re-indents a JSON document.
func prettyJSON(s string) string {
	var b bytes.Buffer
	if err := jsonIndent(&b, []byte(s)); err != nil {
		panic(err)
	}
	return b.String()
}

func TestForcedFormat(t *testing.T) {
	// A Goldmane emitter record forced through the Enterprise decoder has
	// none of its fields: not a flow record.
	gm := `{"Key":{"source_name":"a","dest_name":"b"},"start_time":1700000000,"end_time":1700000015}`
	p := onlyProblem(t, gm+"\n", Options{Format: FormatEnterprise})
	require.Equal(t, ReasonNotFlow, p.Reason)
	d := decodeString(t, gm+"\n", Options{Format: FormatGoldmane})
	require.NoError(t, d.err)
	require.Len(t, d.flows, 1)
	require.Equal(t, FormatGoldmane, d.st.Format)
	// SSE forced on "data:" lines, and Linseed forced on a list.
	d = decodeString(t, "data: "+`{"source_name":"a","dest_name":"b","start_time":"2025-06-01T12:00:00Z","end_time":"2025-06-01T12:00:15Z"}`+"\n", Options{Format: FormatWhiskerSSE})
	require.NoError(t, d.err)
	require.Len(t, d.flows, 1)
	d = decodeString(t, `{"items":[`+eeLine()+`]}`, Options{Format: FormatLinseedList})
	require.NoError(t, d.err)
	require.Len(t, d.flows, 1)
	require.Equal(t, FormatLinseedList, d.st.Format)
	// A forced format never changes how the input is structured: plain
	// documents and hits, one per line, both decode as ES search input.
	d = decodeString(t, lines(eeLine(), `{"_index":"i","_id":"1","_source":`+eeLine()+`}`), Options{Format: FormatESSearch})
	require.NoError(t, d.err)
	require.Len(t, d.flows, 2)
	require.Equal(t, FormatESSearch, d.st.Format)
	d = decodeString(t, lines(eeLine()), Options{Format: FormatLinseedList})
	require.NoError(t, d.err)
	require.Len(t, d.flows, 1)
}

func TestEmptyAndBlankInputs(t *testing.T) {
	for _, in := range []string{"", "\n\n  \n", "\xef\xbb\xbf"} {
		d := decodeString(t, in, Options{})
		require.NoError(t, d.err)
		require.Empty(t, d.flows)
		require.Zero(t, d.st.Bad)
	}
}

func TestLineHandlingCRLFBlankBOMAndNoFinalNewline(t *testing.T) {
	in := "\xef\xbb\xbf" + eeLine() + "\r\n\r\n   \n\t\n" + eeLine() + "\r\n" + eeLine()
	d := decodeString(t, in, Options{})
	require.NoError(t, d.err)
	require.Zero(t, d.st.Bad, "%v", d.st.Examples)
	require.Len(t, d.flows, 3)
	for _, f := range d.flows {
		require.Equal(t, baseFlow, f)
	}
}

func TestGarbageLinesAreReportedAndSkipped(t *testing.T) {
	in := lines("this is not json", eeLine(), `{"source_type":"wep",`, "", eeLine(), `[1,2]`, `{}`, eeLine()+" trailing")
	d := decodeString(t, in, Options{})
	require.NoError(t, d.err)
	require.Len(t, d.flows, 2)
	require.EqualValues(t, 5, d.st.Bad)
	var got []string
	for _, p := range d.st.Examples {
		got = append(got, fmt.Sprintf("%d:%d %s", p.Line, p.Column, p.Reason))
	}
	require.Equal(t, []string{
		"1:1 " + ReasonMalformedJSON,
		"3:22 " + ReasonMalformedJSON, // unexpected end of line: not the last line, so not "truncated"
		"6:1 " + ReasonMalformedJSON,
		"7:1 " + ReasonNotFlow,
		fmt.Sprintf("8:%d %s", len(eeLine())+2, ReasonMalformedJSON),
	}, got)
	require.Equal(t, -1, d.st.Examples[0].Record)
}

func TestStartLine(t *testing.T) {
	d := decodeString(t, lines(eeLine(), "bad"), Options{StartLine: 1000})
	require.Equal(t, 1001, d.st.Examples[0].Line)
	d = decodeString(t, prettyJSON(`[`+eeLine()+`,{"x":1}]`), Options{StartLine: 10})
	require.EqualValues(t, 1, d.st.Bad)
	p := d.st.Examples[0]
	require.Equal(t, 1, p.Record)
	require.Greater(t, p.Line, 10)
}

func TestExamplesAreCappedAndOrdered(t *testing.T) {
	var ls []string
	for i := 0; i < 25; i++ {
		ls = append(ls, "nope", eeLine())
	}
	for _, workers := range []int{1, 3} {
		withChunkSize(t, 256, func() {
			d := decodeString(t, lines(ls...), Options{Workers: workers})
			require.NoError(t, d.err)
			require.EqualValues(t, 25, d.st.Bad)
			require.EqualValues(t, 25, d.st.Records)
			require.Len(t, d.st.Examples, 10)
			for i, p := range d.st.Examples {
				require.Equal(t, 2*i+1, p.Line)
			}
			require.Equal(t, map[string]int64{ReasonMalformedJSON: 25}, d.st.ByReason)
		})
	}
}

func withChunkSize(t *testing.T, n int, fn func()) {
	t.Helper()
	old := chunkSize
	chunkSize = n
	defer func() { chunkSize = old }()
	fn()
}

// Readers that return little data at a time, data with io.EOF, or an error.
func TestStdinLikeReaders(t *testing.T) {
	in := lines(eeLine(), eeLine(), eeLine())
	for name, r := range map[string]func() io.Reader{
		"one byte":  func() io.Reader { return iotest.OneByteReader(strings.NewReader(in)) },
		"half":      func() io.Reader { return iotest.HalfReader(strings.NewReader(in)) },
		"data+EOF":  func() io.Reader { return iotest.DataErrReader(strings.NewReader(in)) },
		"timeout":   func() io.Reader { return iotest.TimeoutReader(strings.NewReader(in)) },
		"pipe-like": func() io.Reader { return io.MultiReader(strings.NewReader(in[:10]), strings.NewReader(in[10:])) },
	} {
		t.Run(name, func(t *testing.T) {
			for _, workers := range []int{1, 2} {
				d := decodeReader(t, r(), "<stdin>", Options{Workers: workers})
				if name == "timeout" {
					// The second read fails: the first chunk of data is all
					// there is, and the error names the input.
					require.ErrorContains(t, d.err, "<stdin>: read: timeout")
					continue
				}
				require.NoError(t, d.err)
				require.Len(t, d.flows, 3)
			}
		})
	}
}

func TestReadErrorIsReturned(t *testing.T) {
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader(lines(eeLine())), iotest.ErrReader(boom))
	d := decodeReader(t, r, "f.log", Options{})
	require.ErrorIs(t, d.err, boom)
	require.ErrorContains(t, d.err, "f.log: read:")
	require.Len(t, d.flows, 1, "records before the error are emitted")

	// Documents too.
	r = io.MultiReader(strings.NewReader(`[`+eeLine()+`,`), iotest.ErrReader(boom))
	d = decodeReader(t, r, "f.json", Options{})
	require.ErrorIs(t, d.err, boom)
	require.Len(t, d.flows, 1)
}

func TestEmitErrorAborts(t *testing.T) {
	stop := errors.New("sink full")
	data := genEE(3000, 3)
	for _, workers := range []int{1, 2, 4} {
		withChunkSize(t, 4096, func() {
			var n atomic.Int64
			st, err := Decode(context.Background(), bytes.NewReader(data), "x", Options{Workers: workers}, func(w int, f *Flow) error {
				if n.Add(1) == 10 {
					return stop
				}
				return nil
			})
			require.ErrorIs(t, err, stop)
			require.Less(t, st.Records, int64(3000))
		})
	}
	// Documents.
	_, err := Decode(context.Background(), strings.NewReader("["+eeLine()+"]"), "x", Options{}, func(int, *Flow) error { return stop })
	require.ErrorIs(t, err, stop)
}

func TestContextCancel(t *testing.T) {
	data := genEE(2000, 4)
	for _, workers := range []int{1, 2} {
		withChunkSize(t, 4096, func() {
			ctx, cancel := context.WithCancel(context.Background())
			var n atomic.Int64
			st, err := Decode(ctx, bytes.NewReader(data), "x", Options{Workers: workers}, func(w int, f *Flow) error {
				if n.Add(1) == 5 {
					cancel()
				}
				return nil
			})
			require.ErrorIs(t, err, context.Canceled)
			require.Less(t, st.Records, int64(2000))
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Decode(ctx, strings.NewReader(prettyJSON("["+eeLine()+"]")), "x", Options{}, nil)
	require.ErrorIs(t, err, context.Canceled)
}

func TestStrictMode(t *testing.T) {
	in := lines(eeLine(), eeLine(), eeLine("dest_port", `"abc"`), eeLine())
	d := decodeString(t, in, Options{Strict: true})
	var de *DecodeError
	require.ErrorAs(t, d.err, &de)
	require.Equal(t, 3, de.Problem.Line)
	require.Equal(t, "dest_port", de.Problem.Field)
	require.Equal(t, ReasonWrongType, de.Problem.Reason)
	require.Len(t, d.flows, 2, "records before the bad one are emitted")
	require.EqualValues(t, 1, d.st.Bad)

	// Documents.
	d = decodeString(t, `{"hits":{"hits":[{"_source":`+eeLine()+`},{"_source":`+eeLine("action", `"drop"`)+`}]}}`, Options{Strict: true})
	require.ErrorAs(t, d.err, &de)
	require.Equal(t, "hits.hits[1]._source.action", de.Problem.Field)
	require.Equal(t, 1, de.Problem.Record)
	require.Len(t, d.flows, 1)
}

// In parallel strict mode the error is the first bad line of the input,
// even when a later chunk fails first.
func TestStrictModeParallelReportsFirstProblem(t *testing.T) {
	data := genEE(4000, 5)
	ls := strings.SplitAfter(string(data), "\n")
	ls[2500] = "broken\n"
	ls[3900] = "broken too\n"
	withChunkSize(t, 8192, func() {
		for i := 0; i < 5; i++ {
			d := decodeString(t, strings.Join(ls, ""), Options{Strict: true, Workers: 4})
			var de *DecodeError
			require.ErrorAs(t, d.err, &de)
			require.Equal(t, 2501, de.Problem.Line)
		}
	})
}

// Parallel decoding yields the same multiset of flows as serial decoding,
// and problems keep their line numbers across chunk boundaries.
func TestParallelMatchesSerialAcrossChunkBoundaries(t *testing.T) {
	data := genEE(5000, 6)
	ls := strings.SplitAfter(string(data), "\n")
	ls = ls[:len(ls)-1] // SplitAfter leaves an empty tail
	bad := map[int]bool{}
	for _, i := range []int{0, 1, 777, 1500, 1501, 2999, 4998} {
		ls[i] = `{"source_type":"wep","dest_port":"abc"}` + "\n"
		bad[i+1] = true
	}
	ls[4999] = strings.TrimSuffix(ls[4999], "\n")[:100] // truncated last line
	bad[5000] = true
	in := strings.Join(ls, "")
	serial := decodeString(t, in, Options{})
	require.NoError(t, serial.err)
	require.EqualValues(t, 5000-len(bad), serial.st.Records)
	for _, size := range []int{1 << 10, 3000, 1 << 16, defaultChunkSize} {
		for _, workers := range []int{2, 3, 8} {
			withChunkSize(t, size, func() {
				par := decodeString(t, in, Options{Workers: workers})
				require.NoError(t, par.err)
				require.Equal(t, serial.st.Records, par.st.Records)
				require.Equal(t, sortedFlowKeys(serial.flows), sortedFlowKeys(par.flows))
				require.Equal(t, serial.st.ByReason, par.st.ByReason)
				require.Equal(t, serial.st.Examples, par.st.Examples)
				got := map[int]bool{}
				for _, p := range par.st.Examples {
					got[p.Line] = true
				}
				require.Equal(t, bad, got)
				if size < 1<<16 {
					require.Greater(t, len(par.workers), 1, "several workers emitted")
				}
			})
		}
	}
	require.Equal(t, ReasonTruncatedLine, serial.st.Examples[len(serial.st.Examples)-1].Reason)
	require.Equal(t, "dest_port", serial.st.Examples[0].Field)
}

func TestLongLines(t *testing.T) {
	oldMax, oldChunk := maxLineLength, chunkSize
	defer func() { maxLineLength, chunkSize = oldMax, oldChunk }()
	chunkSize, maxLineLength = 512, 4096
	// A line longer than a chunk but within the limit decodes (the buffer
	// grows); one beyond the limit is skipped and reported.
	long := eeLine("source_labels", `{"labels":["a=`+strings.Repeat("x", 2000)+`"]}`)
	huge := eeLine("source_labels", `{"labels":["a=`+strings.Repeat("y", 10000)+`"]}`)
	in := lines(eeLine(), long, huge, eeLine(), huge, long)
	for _, workers := range []int{1, 2} {
		d := decodeString(t, in, Options{Workers: workers})
		require.NoError(t, d.err)
		require.EqualValues(t, 4, d.st.Records)
		require.EqualValues(t, 2, d.st.Bad)
		require.Equal(t, map[string]int64{ReasonLineTooLong: 2}, d.st.ByReason)
		require.Equal(t, 3, d.st.Examples[0].Line)
		require.Equal(t, 5, d.st.Examples[1].Line)
	}
}

// jsonIndent is json.Indent with a two-space indent.
func jsonIndent(dst *bytes.Buffer, src []byte) error {
	return json.Indent(dst, src, "", "  ")
}
