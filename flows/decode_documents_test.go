package flows

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// lineCol returns the 1-based line and column of the first occurrence of
// marker in s.
func lineCol(t *testing.T, s, marker string) (int, int) {
	t.Helper()
	i := strings.Index(s, marker)
	require.GreaterOrEqual(t, i, 0, "marker %q", marker)
	line := strings.Count(s[:i], "\n") + 1
	col := i - strings.LastIndexByte(s[:i], '\n')
	return line, col
}

func TestESSearchResponse(t *testing.T) {
	var hits []string
	for i := 0; i < 6; i++ {
		src := eeLine("num_flows", strconv.Itoa(i))
		if i == 3 {
			src = eeLine("num_flows", `"three"`)
		}
		hits = append(hits, `{"_index":"tigera_secure_ee_flows.cluster.fluentd-20240101-000001","_id":"id`+strconv.Itoa(i)+
			`","_score":null,"_source":`+src+`,"sort":[1700000000,`+strconv.Itoa(i)+`]}`)
	}
	doc := prettyJSON(`{"took":12,"timed_out":false,"_shards":{"total":5,"successful":5,"skipped":0,"failed":0},` +
		`"hits":{"total":{"value":6,"relation":"eq"},"max_score":null,"hits":[` + strings.Join(hits, ",") + `]},` +
		`"aggregations":{"by_ns":{"buckets":[{"key":"shop","doc_count":6}]}}}`)
	d := decodeString(t, doc, Options{})
	require.NoError(t, d.err)
	require.Equal(t, FormatESSearch, d.st.Format)
	require.EqualValues(t, 5, d.st.Records)
	require.EqualValues(t, 1, d.st.Bad)
	for i, f := range d.flows {
		want := baseFlow
		want.NumFlows = int64(i)
		if i >= 3 {
			want.NumFlows++
		}
		require.Equal(t, want, f)
	}
	p := d.st.Examples[0]
	require.Equal(t, "hits.hits[3]._source.num_flows", p.Field)
	require.Equal(t, 3, p.Record)
	require.Equal(t, ReasonWrongType, p.Reason)
	line, col := lineCol(t, doc, `"three"`)
	require.Equal(t, line, p.Line)
	require.Equal(t, col, p.Column)
	require.Equal(t, "test:"+strconv.Itoa(line)+":"+strconv.Itoa(col)+`: hits.hits[3]._source.num_flows: want a number, got string "three"`, p.String())
}

// Several responses saved into one file (curl ... >> out.json) decode one
// after the other; a hit without _source is reported.
func TestConcatenatedResponsesAndMissingSource(t *testing.T) {
	resp := `{"hits":{"hits":[{"_source":` + eeLine() + `}]}}`
	doc := resp + "\n" + prettyJSON(resp) + `{"hits":{"hits":[{"_id":"x"}]}}`
	d := decodeString(t, doc, Options{})
	require.NoError(t, d.err)
	require.Len(t, d.flows, 2)
	require.EqualValues(t, 1, d.st.Bad)
	require.Equal(t, ReasonNotFlow, d.st.Examples[0].Reason)
	require.Equal(t, "hits.hits[0]", d.st.Examples[0].Field)
}

func TestLinseedListProblemsNameItems(t *testing.T) {
	doc := "{\n  \"total_hits\": 3,\n  \"items\": [\n    " + eeLine() + ",\n    " + eeLine("source_type", `"pod"`) + ",\n    " +
		eeLine() + "\n  ],\n  \"after_key\": {\"startFrom\": \"3\"}\n}\n"
	d := decodeString(t, doc, Options{})
	require.NoError(t, d.err)
	require.Equal(t, FormatLinseedList, d.st.Format)
	require.Len(t, d.flows, 2)
	p := d.st.Examples[0]
	require.Equal(t, "items[1].source_type", p.Field)
	require.Equal(t, ReasonUnknownEnum, p.Reason)
	require.Equal(t, 5, p.Line)
	_, col := lineCol(t, doc, `"pod"`)
	require.Equal(t, col, p.Column)
}

func TestArrayOfDocuments(t *testing.T) {
	// Pretty-printed so every element spans lines; the bad one is far down.
	var elems []string
	for i := 0; i < 3000; i++ {
		if i == 2345 {
			elems = append(elems, eeLine("dest_port", `"MARK"`))
			continue
		}
		elems = append(elems, eeLine())
	}
	doc := prettyJSON("[" + strings.Join(elems, ",") + "]")
	for _, workers := range []int{1, 4} { // documents ignore Workers
		d := decodeString(t, doc, Options{Workers: workers})
		require.NoError(t, d.err)
		require.Equal(t, FormatEnterprise, d.st.Format)
		require.EqualValues(t, 2999, d.st.Records)
		p := d.st.Examples[0]
		require.Equal(t, "[2345].dest_port", p.Field)
		require.Equal(t, 2345, p.Record)
		line, col := lineCol(t, doc, `"MARK"`)
		require.Equal(t, line, p.Line)
		require.Equal(t, col, p.Column)
		require.Equal(t, map[int]int{0: 2999}, d.workers)
	}
}

func TestDocumentSyntaxErrorsAndTruncation(t *testing.T) {
	// A syntax error after two good elements: they are kept, the error
	// points at the offending character and ends the input.
	doc := "[\n" + eeLine() + ",\n" + eeLine() + ",\n{\"source_type\": \"wep\" \"oops\": 1},\n" + eeLine() + "\n]\n"
	d := decodeString(t, doc, Options{})
	require.NoError(t, d.err)
	require.Len(t, d.flows, 2)
	p := d.st.Examples[0]
	require.Equal(t, ReasonMalformedJSON, p.Reason)
	require.Equal(t, 4, p.Line)
	_, col := lineCol(t, doc, `"oops"`)
	require.Equal(t, col, p.Column)
	require.Contains(t, p.Msg, "invalid character '\"' after object key:value pair")

	// Cut off inside the third element.
	doc = "[" + eeLine() + ",\n" + eeLine() + ",\n" + eeLine()[:50]
	d = decodeString(t, doc, Options{})
	require.NoError(t, d.err)
	require.Len(t, d.flows, 2)
	require.Equal(t, ReasonTruncatedDoc, d.st.Examples[0].Reason)
	require.Equal(t, 3, d.st.Examples[0].Line)

	// Cut off inside a wrapper, between elements.
	doc = `{"hits":{"hits":[{"_source":` + eeLine() + `},`
	d = decodeString(t, doc, Options{})
	require.NoError(t, d.err)
	require.Len(t, d.flows, 1)
	require.Equal(t, ReasonTruncatedDoc, d.st.Examples[0].Reason)

	// A stray closing bracket at the top level.
	doc = prettyJSON(eeLine()) + "\n]"
	d = decodeString(t, doc, Options{})
	require.Len(t, d.flows, 1)
	require.Equal(t, ReasonMalformedJSON, d.st.Examples[0].Reason)
	require.Equal(t, strings.Count(doc, "\n")+1, d.st.Examples[0].Line, "the stray ] is on the last line")
	require.Equal(t, 1, d.st.Examples[0].Column)

	// Top-level scalars are not records.
	d = decodeString(t, "[1, \"x\", null]", Options{})
	require.EqualValues(t, 3, d.st.Bad)
	require.Equal(t, ReasonMalformedJSON, d.st.Examples[0].Reason)
	d = decodeString(t, prettyJSON(eeLine())+"\n42\n"+prettyJSON(eeLine()), Options{})
	require.Len(t, d.flows, 2)
	require.EqualValues(t, 1, d.st.Bad)
	require.Equal(t, ReasonNotFlow, d.st.Examples[0].Reason)
}

func TestWrapperEdgeCases(t *testing.T) {
	for _, doc := range []string{
		`{"took":1,"hits":{"total":0,"hits":[]}}`,
		`{"took":1,"hits":{"hits":null}}`,
		`{"took":1,"hits":null}`,
		`{"total_hits":0,"items":null}`,
		`{"total_hits":0,"items":{}}`,
		`{"items":[]}`,
	} {
		d := decodeString(t, doc, Options{})
		require.NoError(t, d.err, doc)
		require.Empty(t, d.flows, doc)
		require.Zero(t, d.st.Bad, doc)
	}
	// hits given as a bare array.
	d := decodeString(t, `{"hits":[{"_source":`+eeLine()+`}]}`, Options{})
	require.NoError(t, d.err)
	require.Len(t, d.flows, 1)
}

// A wrapper whose first members are large and undecided (aggregations
// before hits) is still detected from the later "hits" key.
func TestWrapperDetectionBeyondFirstWindow(t *testing.T) {
	var buckets []string
	for i := 0; i < 3000; i++ {
		buckets = append(buckets, `{"key":"ns-`+strconv.Itoa(i)+`","doc_count":1}`)
	}
	doc := `{"took":1,"aggregations":{"b":{"buckets":[` + strings.Join(buckets, ",") + `]}},"hits":{"hits":[{"_source":` + eeLine() + `}]}}`
	require.Greater(t, len(doc), 64<<10)
	d := decodeString(t, doc, Options{})
	require.NoError(t, d.err)
	require.Equal(t, FormatESSearch, d.st.Format)
	require.Len(t, d.flows, 1)
}
