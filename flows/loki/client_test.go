package loki

import (
	"context"
	"encoding/pem"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/flows/loki/lokitest"
)

const sel = `{job="node-journal", transport="kernel"} |= "calico-packet: "`

// genStreams makes n lines over k node streams with many shared
// timestamps (journald's microseconds collide across nodes, and a burst
// of lines within one microsecond on one node), plus lines the filter
// drops and a stream the selector does not match.
func genStreams(n, k int) ([]lokitest.Stream, []string) {
	r := rand.New(rand.NewPCG(1, 2))
	streams := make([]lokitest.Stream, k+1)
	for i := range streams {
		streams[i].Labels = map[string]string{"job": "node-journal", "transport": "kernel", "node": fmt.Sprintf("node%d", i)}
	}
	streams[k].Labels["transport"] = "stdout"
	var want []string
	ts := int64(1779444672000000000)
	for i := 0; i < n; i++ {
		if r.IntN(3) > 0 {
			ts += int64(r.IntN(3)) * 1000 // many lines share a microsecond
		}
		s := r.IntN(k)
		line := fmt.Sprintf("calico-packet: IN=cali6cfdec4abc1 OUT=ens18 SRC=10.10.1.%d DST=1.2.%d.%d LEN=60 ID=%d PROTO=TCP SPT=%d DPT=443", s, i/256%256, i%256, i, 30000+i%30000)
		streams[s].Entries = append(streams[s].Entries, lokitest.Entry{TS: ts, Line: line})
		want = append(want, fmt.Sprintf("%d %s", ts, line))
		if i%100 == 0 {
			streams[s].Entries = append(streams[s].Entries, lokitest.Entry{TS: ts, Line: "some other kernel message"})
			streams[k].Entries = append(streams[k].Entries, lokitest.Entry{TS: ts, Line: line})
		}
	}
	// Identical (timestamp, line) pairs in two streams are two lines.
	dup := streams[0].Entries[len(streams[0].Entries)/2]
	streams[1].Entries = append(streams[1].Entries, dup)
	sort.SliceStable(streams[1].Entries, func(i, j int) bool { return streams[1].Entries[i].TS < streams[1].Entries[j].TS })
	want = append(want, fmt.Sprintf("%d %s", dup.TS, dup.Line))
	sort.Strings(want)
	return streams, want
}

func readAll(t *testing.T, c *Client, start, end int64) ([]string, Stats, error) {
	t.Helper()
	var got []string
	last := int64(0)
	st, err := c.Read(context.Background(), sel, start, end, func(e flows.LokiEntry) error {
		require.GreaterOrEqual(t, e.Time, last, "lines come in time order")
		last = e.Time
		got = append(got, fmt.Sprintf("%d %s", e.Time, e.Line))
		return nil
	})
	sort.Strings(got)
	return got, st, err
}

func TestReadPagesExactly(t *testing.T) {
	streams, want := genStreams(10506, 6)
	srv := lokitest.New(streams)
	defer srv.Close()
	for _, page := range []int{5000, 1000, 50} {
		t.Run(fmt.Sprint(page), func(t *testing.T) {
			c, err := NewClient(Config{URL: srv.URL, PageSize: page})
			require.NoError(t, err)
			got, st, err := readAll(t, c, 1779444672000000000, 1779444672000000000+int64(1e15))
			require.NoError(t, err)
			require.Equal(t, len(want), len(got))
			require.Equal(t, want, got, "every line once: none lost at a page boundary, none twice")
			require.EqualValues(t, len(want), st.Lines)
			require.Greater(t, st.Requests, len(want)/page)
			require.Equal(t, 6, st.Streams)
		})
	}
	// Every request pages forward within Loki's limit.
	for _, r := range srv.Requests {
		require.Equal(t, "forward", r.Direction)
		require.Equal(t, sel, r.Query)
	}
	// end is exclusive, start inclusive.
	c, _ := NewClient(Config{URL: srv.URL, PageSize: 1000})
	first := streams[0].Entries[0].TS
	got, _, err := readAll(t, c, first, first+1)
	require.NoError(t, err)
	for _, g := range got {
		require.True(t, strings.HasPrefix(g, fmt.Sprint(first)))
	}
}

func TestReadStuckTimestamp(t *testing.T) {
	var es []lokitest.Entry
	for i := 0; i < 20; i++ {
		es = append(es, lokitest.Entry{TS: 1779444672000000000, Line: fmt.Sprintf("calico-packet: IN=cali1 ID=%d", i)})
	}
	srv := lokitest.New([]lokitest.Stream{{Labels: map[string]string{"job": "node-journal", "transport": "kernel"}, Entries: es}})
	defer srv.Close()
	c, _ := NewClient(Config{URL: srv.URL, PageSize: 10})
	_, _, err := readAll(t, c, 1779444672000000000, 1779444673000000000)
	require.ErrorContains(t, err, "share the timestamp")
}

func TestAuthTLSAndErrors(t *testing.T) {
	streams, want := genStreams(50, 2)
	srv := lokitest.NewTLS(streams)
	defer srv.Close()
	srv.Token, srv.OrgID = "s3cr3t-token", "tenant-a"
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	// TLS is verified: without the CA the server is refused.
	c, err := NewClient(Config{URL: srv.URL, BearerToken: "s3cr3t-token", OrgID: "tenant-a"})
	require.NoError(t, err)
	_, _, err = readAll(t, c, 0, 1<<62)
	require.ErrorContains(t, err, "certificate")
	require.NotContains(t, err.Error(), "s3cr3t-token")

	c, err = NewClient(Config{URL: srv.URL, BearerToken: "s3cr3t-token", OrgID: "tenant-a", CACert: ca})
	require.NoError(t, err)
	got, _, err := readAll(t, c, 0, 1<<62)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.NotContains(t, c.cfg.String(), "s3cr3t-token")

	c, _ = NewClient(Config{URL: srv.URL, BearerToken: "wrong-token", OrgID: "tenant-a", CACert: ca})
	_, _, err = readAll(t, c, 0, 1<<62)
	require.ErrorContains(t, err, "HTTP 401")
	require.ErrorContains(t, err, "check the token")
	require.NotContains(t, err.Error(), "wrong-token")

	srv.Token, srv.OrgID, srv.User, srv.Password = "", "", "reader", "pw-123"
	c, _ = NewClient(Config{URL: srv.URL, Username: "reader", Password: "pw-123", CACert: ca})
	_, _, err = readAll(t, c, 0, 1<<62)
	require.NoError(t, err)

	srv.Fail = []int{http.StatusGatewayTimeout}
	_, _, err = readAll(t, c, 0, 1<<62)
	require.ErrorContains(t, err, "HTTP 504")
	require.ErrorContains(t, err, "shorter window")

	_, err = NewClient(Config{URL: "https://user:pw@loki:3100"})
	require.ErrorContains(t, err, "not in the URL")
	_, err = NewClient(Config{URL: srv.URL, PageSize: 5001})
	require.ErrorContains(t, err, "max_entries_limit_per_query")
	// The server refuses a limit above its own maximum, as Loki does.
	srv.MaxEntries = 100
	c, _ = NewClient(Config{URL: srv.URL, Username: "reader", Password: "pw-123", CACert: ca, PageSize: 200})
	_, _, err = readAll(t, c, 0, 1<<62)
	require.ErrorContains(t, err, "max entries limit per query exceeded")
}
