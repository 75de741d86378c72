package flows

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A malformed first line of one-record-per-line input (a line a crashed
// writer left unfinished, which the next write then continued) is one bad
// record: the records after it still count. Before, detection took the
// input for a pretty-printed document and the syntax error skipped the
// rest of the input.
func TestMalformedFirstLineDoesNotLoseTheRest(t *testing.T) {
	g := eeLine()
	gm := `{"Key":{"source_namespace":"shop","source_type":1,"dest_name":"pub","dest_type":4,"dest_port":443,"proto":"tcp","reporter":1,"action":1},"start_time":1700000000,"end_time":1700000015}`
	for name, tc := range map[string]struct {
		first, good string
		format      Format
		col         int
	}{
		"spliced":     {`{"start_time":1,"end` + g, g, FormatEnterprise, 23},
		"cut":         {`{"start_time":1700000000,"end_time"`, g, FormatEnterprise, 36},
		"bad key":     {`{"start_time":1, x}`, g, FormatEnterprise, 18},
		"goldmane":    {`{"Key":{"sourceNa`, gm, FormatGoldmane, 0},
		"blank lines": {`{"bad"` + "\n", g, FormatEnterprise, 7},
	} {
		t.Run(name, func(t *testing.T) {
			for _, workers := range []int{1, 2} {
				d := decodeString(t, lines(tc.first, tc.good, tc.good, tc.good), Options{Workers: workers})
				require.NoError(t, d.err)
				require.Equal(t, tc.format, d.st.Format)
				require.EqualValues(t, 3, d.st.Records)
				require.EqualValues(t, 1, d.st.Bad)
				require.Equal(t, 1, d.st.Examples[0].Line)
				if tc.col > 0 {
					require.Equal(t, tc.col, d.st.Examples[0].Column)
				}
			}
		})
	}
}

// A pretty-printed record with a syntax error is still a document: the
// error names its position, as before.
func TestMalformedPrettyPrintedRecordStaysADocument(t *testing.T) {
	in := "{\n  \"start_time\": 1,\n  \"source_namespace\": \"a\",,\n  \"dest_type\": \"net\"\n}\n"
	d := decodeString(t, in, Options{})
	require.NoError(t, d.err)
	require.EqualValues(t, 1, d.st.Bad)
	require.Equal(t, ReasonMalformedJSON, d.st.Examples[0].Reason)
	require.Equal(t, 3, d.st.Examples[0].Line)
}

// A JSON array on the first line of a JSON-lines input is one bad line, not
// one bad record per element (before: "[1,2,3]" counted as 3 bad records,
// and the lines after it were read as a document stream). An array that is
// the whole input, or spans lines, or is followed by pretty-printed records,
// is still an array document.
func TestArrayLineIsOneBadLine(t *testing.T) {
	g := eeLine()
	gm := `{"Key":{"source_namespace":"shop","source_type":1,"dest_name":"pub","dest_type":4,"dest_port":443,"proto":"tcp","reporter":1,"action":1},"start_time":1700000000,"end_time":1700000015}`
	for name, tc := range map[string]struct {
		in     string
		format Format
		good   int64
		line   int
	}{
		"first line":          {lines("[1,2,3]", g, g), FormatEnterprise, 2, 1},
		"first line, records": {lines(`[`+g+`,`+g+`]`, g), FormatEnterprise, 1, 1},
		"goldmane":            {lines(" [1, 2, 3] ", gm, gm, gm), FormatGoldmane, 3, 1},
		"later line":          {lines(g, "[1,2,3]", g), FormatEnterprise, 2, 2},
	} {
		t.Run(name, func(t *testing.T) {
			for _, workers := range []int{1, 2} {
				d := decodeString(t, tc.in, Options{Workers: workers})
				require.NoError(t, d.err)
				require.Equal(t, tc.format, d.st.Format)
				require.Equal(t, tc.good, d.st.Records)
				require.EqualValues(t, 1, d.st.Bad, "%v", d.st.Examples)
				require.Equal(t, tc.line, d.st.Examples[0].Line)
				require.Equal(t, -1, d.st.Examples[0].Record)
			}
		})
	}
	// Arrays that are documents keep counting their elements.
	for name, tc := range map[string]struct {
		in         string
		good, bad  int64
		firstField string
	}{
		"whole input":           {"[1,2,3]", 0, 3, "[0]"},
		"whole input, newline":  {"[1,2,3]\n", 0, 3, "[0]"},
		"one record per line":   {"[\n" + g + ",\n" + g + "\n]\n", 2, 0, ""},
		"then pretty records":   {"[1]\n" + prettyJSON(g), 1, 1, "[0]"},
		"arrays one after next": {lines("[1]", "["+g+"]"), 1, 1, "[0]"},
	} {
		t.Run(name, func(t *testing.T) {
			d := decodeString(t, tc.in, Options{})
			require.NoError(t, d.err)
			require.Equal(t, tc.good, d.st.Records)
			require.Equal(t, tc.bad, d.st.Bad, "%v", d.st.Examples)
			if tc.firstField != "" {
				require.Equal(t, tc.firstField, d.st.Examples[0].Field)
			}
		})
	}
}
