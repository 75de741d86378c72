package flows

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	pb "github.com/calico-plan/calico-plan/flows/goldmanepb"
)

// eeImpossible are Enterprise records no real flow can produce: each is a
// bad record naming the field, never evidence.
var eeImpossible = []struct {
	name  string
	over  []string // eeLine overrides
	field string
	msg   string
}{
	{"negative start", []string{"start_time", "-1"}, "start_time", "-1 is negative"},
	{"zero start", []string{"start_time", "0"}, "start_time", "0: missing or zero"},
	{"missing start", []string{"start_time", ""}, "start_time", "0: missing or zero"},
	{"null end", []string{"end_time", "null"}, "end_time", "0: missing or zero"},
	{"start before 2015", []string{"start_time", "1000"}, "start_time", "before 2015-01-01"},
	{"end far in the future", []string{"end_time", "4102444800"}, "end_time", "far in the future"},
	{"both far in the future", []string{"start_time", "9999999999", "end_time", "9999999999"}, "start_time", "far in the future"},
	{"end before start", []string{"start_time", "1700000300", "end_time", "1700000000"}, "end_time", "is before start_time 1700000300"},
	{"window of years", []string{"start_time", "1500000000"}, "end_time", "one flow-log record covers one export window"},
	{"window of three days", []string{"end_time", strconv.Itoa(1700000000 + 3*86400)}, "end_time", "at most 2 days"},
	{"negative num_flows", []string{"num_flows", "-3"}, "num_flows", "-3 is negative"},
	{"negative num_flows_started", []string{"num_flows_started", "-1"}, "num_flows_started", "-1 is negative"},
	{"negative num_flows_completed", []string{"num_flows_completed", "-2"}, "num_flows_completed", "-2 is negative"},
	// bytes_in + bytes_out stays positive: each counter is judged.
	{"negative bytes_in", []string{"bytes_in", "-5"}, "bytes_in", "-5 is negative"},
	{"negative bytes_out", []string{"bytes_out", "-1"}, "bytes_out", "-1 is negative"},
	{"negative packets_in", []string{"packets_in", "-1"}, "packets_in", "-1 is negative"},
	{"negative packets_out", []string{"packets_out", "-9"}, "packets_out", "-9 is negative"},
	{"bytes overflow", []string{"bytes_in", "9223372036854775807", "bytes_out", "9"}, "bytes_in", "overflows"},
	{"tcp port 0", []string{"dest_port", "0"}, "dest_port", "0 on tcp: no connection goes to port 0"},
	{"udp port 0", []string{"dest_port", "0", "proto", `"udp"`}, "dest_port", "0 on udp"},
	{"sctp port 0", []string{"dest_port", "0", "proto", `"sctp"`}, "dest_port", "0 on sctp"},
	{"tcp port 0 by number", []string{"dest_port", "0", "proto", "6"}, "dest_port", "0 on tcp"},
	{"port above 65535", []string{"dest_port", "65536"}, "dest_port", "out of range"},
	{"negative port", []string{"dest_port", "-443"}, "dest_port", "out of range"},
}

// TestImpossibleEnterpriseValues: every impossible value is one bad record,
// reported with file, line, column and field, in every Enterprise input
// shape (flows.log lines, serial and parallel, Elasticsearch hits one per
// line, a saved _search response, a Linseed list); --strict makes it fatal.
func TestImpossibleEnterpriseValues(t *testing.T) {
	good := eeLine()
	for _, tc := range eeImpossible {
		t.Run(tc.name, func(t *testing.T) {
			bad := eeLine(tc.over...)
			for _, workers := range []int{1, 3} {
				d := decodeReader(t, strings.NewReader(lines(good, bad, good)), "flows.log", Options{Workers: workers})
				require.NoError(t, d.err)
				require.Len(t, d.flows, 2, "the good records around it still count")
				require.EqualValues(t, 1, d.st.Bad)
				require.Equal(t, map[string]int64{ReasonBadValue: 1}, d.st.ByReason)
				p := d.st.Examples[0]
				require.Equal(t, "flows.log", p.File)
				require.Equal(t, 2, p.Line)
				require.Equal(t, tc.field, p.Field)
				require.Contains(t, p.Msg, tc.msg)
				if i := strings.Index(bad, `"`+tc.field+`":`); i >= 0 && tc.name != "bytes overflow" {
					require.Equal(t, i+len(tc.field)+4, p.Column, "the column points at the value: %s", p)
				}
				require.Contains(t, p.String(), "flows.log:2:")
			}

			_, err := Decode(t.Context(), strings.NewReader(lines(good, bad)), "flows.log", Options{Strict: true}, nil)
			var de *DecodeError
			require.True(t, errors.As(err, &de), "strict: %v", err)
			require.Equal(t, 2, de.Problem.Line)
			require.Equal(t, tc.field, de.Problem.Field)

			hitLine := `{"_index":"i","_id":"1","_source":` + bad + `}`
			p := onlyProblem(t, hitLine+"\n", Options{})
			require.Equal(t, "_source."+tc.field, p.Field)

			search := "{\n\"hits\": {\"hits\": [\n" + `{"_source":` + good + "},\n" + `{"_source":` + bad + "}\n]}}"
			d := decodeString(t, search, Options{})
			require.NoError(t, d.err)
			require.Len(t, d.flows, 1)
			require.EqualValues(t, 1, d.st.Bad)
			require.Equal(t, "hits.hits[1]._source."+tc.field, d.st.Examples[0].Field)
			require.Equal(t, 4, d.st.Examples[0].Line)

			list := `{"total_hits":2,"items":[` + good + "," + bad + `]}`
			d = decodeString(t, list, Options{})
			require.NoError(t, d.err)
			require.Len(t, d.flows, 1)
			require.Equal(t, "items[1]."+tc.field, d.st.Examples[0].Field)
		})
	}
}

// TestPlausibleEnterpriseValues: the edges of what is possible stay
// evidence. A null port (aggregated away at level 3) is "every port", as
// documented; a zero port on a protocol without ports is harmless.
func TestPlausibleEnterpriseValues(t *testing.T) {
	for _, over := range [][]string{
		{"dest_port", "null"},
		{"dest_port", ""},
		{"dest_port", "0", "proto", `"icmp"`},
		{"start_time", strconv.FormatInt(MinTime, 10), "end_time", strconv.FormatInt(MinTime+MaxSpan, 10)},
		{"start_time", strconv.FormatInt(MaxTime-1, 10), "end_time", strconv.FormatInt(MaxTime-1, 10)},
		{"num_flows", "0", "bytes_in", "null", "packets_out", "0", "num_flows_started", "0"},
	} {
		one(t, lines(eeLine(over...)))
	}
}

// goldmaneImpossible edits gmEmitterFull (emitter JSON) and, in camel case,
// its protojson form. pjField is the field a protojson problem names:
// counters are named as spelled, times and the port by their proto name.
var goldmaneImpossible = []struct {
	name, old, new, field, pjField, msg string
}{
	{"negative start", `"start_time":1700000000`, `"start_time":-1`, "start_time", "start_time", "-1 is negative"},
	{"missing start (zero values are omitted)", `"start_time":1700000000,`, ``, "start_time", "start_time", "0: missing or zero"},
	{"end far in the future", `"end_time":1700000015`, `"end_time":4200000000`, "end_time", "end_time", "far in the future"},
	{"end before start", `"end_time":1700000015`, `"end_time":1699999999`, "end_time", "end_time", "is before start_time"},
	{"missing port on tcp", `"dest_port":8443,`, ``, "Key.dest_port", "Key.dest_port", "0 on tcp"},
	{"port 0 on tcp", `"dest_port":8443,`, `"dest_port":0,`, "Key.dest_port", "Key.dest_port", "0 on tcp"},
	{"negative bytes_in", `"bytes_in":300`, `"bytes_in":-300`, "bytes_in", "bytesIn", "-300 is negative"},
	{"negative packets_out", `"packets_out":4`, `"packets_out":-4`, "packets_out", "packetsOut", "-4 is negative"},
	{"negative connections started", `"num_connections_started":5`, `"num_connections_started":-5`, "num_connections_started", "numConnectionsStarted", "-5 is negative"},
	{"negative connections live", `"num_connections_live":7`, `"num_connections_live":-1`, "num_connections_live", "numConnectionsLive", "-1 is negative"},
	{"negative connections completed", `"num_connections_completed":2`, `"num_connections_completed":-2`, "num_connections_completed", "numConnectionsCompleted", "-2 is negative"},
}

// camel turns the emitter spelling of a goldmaneImpossible edit into
// protojson's (camelCase keys, int64 as strings).
func camel(s string) string {
	k, v, ok := strings.Cut(s, ":")
	if !ok {
		return s
	}
	parts := strings.Split(strings.Trim(k, `"`), "_")
	for i := 1; i < len(parts); i++ {
		parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
	}
	tail := ""
	if strings.HasSuffix(v, ",") {
		v, tail = strings.TrimSuffix(v, ","), ","
	}
	return `"` + strings.Join(parts, "") + `":"` + v + `"` + tail
}

func TestImpossibleGoldmaneValues(t *testing.T) {
	// The same flow in protojson.
	pj := gmEmitterFull
	for _, k := range []string{"start_time", "end_time", "dest_port", "bytes_in", "packets_out", "num_connections_started", "num_connections_live", "num_connections_completed"} {
		i := strings.Index(pj, `"`+k+`":`)
		j := i + len(k) + 3
		e := j + strings.IndexAny(pj[j:], ",}")
		pj = pj[:i] + camel(pj[i:e]) + pj[e:]
	}
	require.Contains(t, pj, `"startTime":"1700000000"`)
	require.Equal(t, []Flow{gmEmitterFullFlow}, decodeString(t, lines(pj), Options{}).flows)

	for _, tc := range goldmaneImpossible {
		t.Run(tc.name, func(t *testing.T) {
			for _, enc := range []struct{ good, old, new, field string }{
				{gmEmitterFull, tc.old, tc.new, tc.field},
				{pj, camel(tc.old), camel(tc.new), tc.pjField},
			} {
				bad := strings.Replace(enc.good, enc.old, enc.new, 1)
				require.NotEqual(t, enc.good, bad)
				d := decodeString(t, lines(gmEmitterFull, bad), Options{})
				require.NoError(t, d.err)
				require.Len(t, d.flows, 1)
				require.EqualValues(t, 1, d.st.Bad, "%s", bad)
				p := d.st.Examples[0]
				require.Equal(t, 2, p.Line)
				require.Equal(t, ReasonBadValue, p.Reason)
				require.Equal(t, enc.field, p.Field)
				require.Contains(t, p.Msg, tc.msg)
				// Wrapped as grpcurl prints List results.
				d = decodeString(t, `{"meta":{},"flows":[{"id":"1","flow":`+bad+`}]}`, Options{})
				require.EqualValues(t, 1, d.st.Bad)
				require.Equal(t, "flows[0].flow."+enc.field, d.st.Examples[0].Field)
			}
		})
	}
	// UDP and SCTP without a port are as impossible as TCP.
	for _, proto := range []string{"udp", "sctp", "17"} {
		bad := strings.Replace(strings.Replace(gmEmitterFull, `"dest_port":8443,`, ``, 1), `"proto":"tcp"`, `"proto":"`+proto+`"`, 1)
		p := onlyProblem(t, lines(bad), Options{})
		require.Equal(t, "Key.dest_port", p.Field)
	}
}

func TestImpossibleGoldmaneGRPCValues(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(f *pb.Flow)
		field  string
		msg    string
	}{
		{"negative start", func(f *pb.Flow) { f.StartTime = -1 }, "start_time", "-1 is negative"},
		{"zero start", func(f *pb.Flow) { f.StartTime = 0 }, "start_time", "0: missing or zero"},
		{"zero end", func(f *pb.Flow) { f.EndTime = 0 }, "end_time", "0: missing or zero"},
		{"end before start", func(f *pb.Flow) { f.EndTime = f.StartTime - 15 }, "end_time", "is before start_time"},
		{"far future", func(f *pb.Flow) { f.StartTime, f.EndTime = 5000000000, 5000000015 }, "start_time", "far in the future"},
		{"week-long record", func(f *pb.Flow) { f.StartTime -= 7 * 86400 }, "end_time", "at most 2 days"},
		{"tcp port 0", func(f *pb.Flow) { f.Key.DestPort = 0 }, "Key.dest_port", "0 on tcp"},
		{"negative bytes", func(f *pb.Flow) { f.BytesIn = -1000 }, "bytes_in", "-1000 is negative"},
		{"negative packets", func(f *pb.Flow) { f.PacketsOut = -1 }, "packets_out", "-1 is negative"},
		{"negative connections", func(f *pb.Flow) { f.NumConnectionsLive = -1 }, "num_connections_live", "-1 is negative"},
		{"negative completed", func(f *pb.Flow) { f.NumConnectionsCompleted = -1 }, "num_connections_completed", "-1 is negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := podToPodFlow()
			tc.mutate(f)
			got, err := FromGoldmane(f)
			require.Nil(t, got)
			var fe *GoldmaneFieldError
			require.True(t, errors.As(err, &fe), "want *GoldmaneFieldError, got %v", err)
			require.Equal(t, tc.field, fe.Field)
			require.Contains(t, err.Error(), "goldmane flow: "+tc.field+": ")
			require.Contains(t, err.Error(), tc.msg)
		})
	}
	// ICMP has no port: zero is fine.
	f := podToPodFlow()
	f.Key.Proto, f.Key.DestPort = "icmp", 0
	_, err := FromGoldmane(f)
	require.NoError(t, err)
}

func TestImpossibleWhiskerValues(t *testing.T) {
	tests := []struct{ old, new, field, msg string }{
		{`"start_time":"2025-06-01T12:00:00+02:00"`, `"start_time":"0001-01-01T00:00:00Z"`, "start_time", "is negative"},
		{`"start_time":"2025-06-01T12:00:00+02:00"`, `"start_time":"1970-01-01T00:00:00Z"`, "start_time", "missing or zero"},
		{`"end_time":"2025-06-01T12:00:15+02:00"`, `"end_time":"2025-06-01T11:00:00+02:00"`, "end_time", "is before start_time"},
		{`"end_time":"2025-06-01T12:00:15+02:00"`, `"end_time":"2125-06-01T12:00:15+02:00"`, "end_time", "far in the future"},
		{`"dest_port":443,`, `"dest_port":0,`, "dest_port", "0 on tcp"},
		{`"dest_port":443,`, ``, "dest_port", "0 on tcp"},
		{`"bytes_in":30`, `"bytes_in":-30`, "bytes_in", "-30 is negative"},
		{`"packets_in":1`, `"packets_in":-1`, "packets_in", "-1 is negative"},
	}
	for _, tc := range tests {
		bad := strings.Replace(whiskerItem, tc.old, tc.new, 1)
		require.NotEqual(t, whiskerItem, bad)
		for _, in := range []string{
			lines(whiskerItem, bad),
			"data: " + whiskerItem + "\n\ndata: " + bad + "\n\n",
			`{"total":{"totalPages":1},"items":[` + whiskerItem + "," + bad + `]}`,
		} {
			d := decodeString(t, in, Options{})
			require.NoError(t, d.err)
			require.Len(t, d.flows, 1, in)
			require.EqualValues(t, 1, d.st.Bad, in)
			p := d.st.Examples[0]
			require.Equal(t, ReasonBadValue, p.Reason)
			require.True(t, p.Field == tc.field || p.Field == "items[1]."+tc.field, "field %q", p.Field)
			require.Contains(t, p.Msg, tc.msg)
		}
	}
}

// TestCheckValues covers the exported check directly.
func TestCheckValues(t *testing.T) {
	f := Flow{Start: 1700000000, End: 1700000300, Proto: ProtoTCP, Dest: Endpoint{Port: 443}}
	require.NoError(t, f.CheckValues(true))
	f.Dest.Port = 0
	require.NoError(t, f.CheckValues(false), "a port the record did not state is every port")
	err := f.CheckValues(true)
	var ve *ValueError
	require.True(t, errors.As(err, &ve))
	require.Equal(t, "dest_port", ve.Field)
	f = Flow{Start: -1, End: 1700000300}
	require.EqualError(t, f.CheckValues(false), "start_time: -1 is negative")
}
