// Package loki reads packet-log lines (Calico's kernel LOG lines) from Loki
// with the HTTP API's query_range, paging the way logcli --batch does
// (oss-external-destinations.md 2.3): direction=forward, at most 5,000
// lines a request (Loki's max_entries_limit_per_query), each next request
// starting at the last timestamp of the previous page (start is
// inclusive), with the lines already seen at that timestamp dropped.
//
// Loki itself (github.com/grafana/loki) is AGPL and is not imported: the
// client speaks the documented wire format ({"status":"success","data":
// {"resultType":"streams","result":[{"stream":{...},"values":[["<ns>",
// "<line>"]]}]}}) with net/http. TLS is verified by default; credentials
// (bearer token, basic auth) never appear in errors or String.
package loki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/calico-plan/calico-plan/flows"
)

// MaxPageSize is Loki's default max_entries_limit_per_query: a request
// with a larger limit is refused (400).
const MaxPageSize = 5000

// Config says how to reach Loki.
type Config struct {
	// URL is Loki's base URL (https://loki.example:3100, or a Grafana
	// data-source proxy path). User information in it is refused.
	URL string
	// OrgID is sent as X-Scope-OrgID (multi-tenant Loki).
	OrgID string
	// BearerToken is sent as Authorization: Bearer; it wins over
	// Username/Password (basic auth).
	BearerToken        string
	Username, Password string
	// CACert is PEM: the CAs that sign the server certificate (empty: the
	// system roots).
	CACert             []byte
	InsecureSkipVerify bool
	// PageSize is the lines per request (default and maximum 5,000).
	PageSize int
	// Timeout bounds one request (default 5m: Loki's chart sets
	// query_timeout 300s).
	Timeout time.Duration
	// Transport replaces the HTTP transport (tests); the TLS settings are
	// then ignored.
	Transport http.RoundTripper
}

// String describes the configuration without secrets.
func (c Config) String() string {
	red := func(s string) string {
		if s == "" {
			return `""`
		}
		return "[redacted]"
	}
	return fmt.Sprintf("loki.Config{URL:%q OrgID:%q BearerToken:%s Username:%q Password:%s CACert:%d bytes InsecureSkipVerify:%v PageSize:%d}",
		c.URL, c.OrgID, red(c.BearerToken), c.Username, red(c.Password), len(c.CACert), c.InsecureSkipVerify, c.PageSize)
}

// Client queries one Loki.
type Client struct {
	cfg  Config
	base *url.URL
	hc   *http.Client
}

// NewClient checks the configuration and builds the HTTP client.
func NewClient(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("loki: %q is not an http(s) URL", cfg.URL)
	}
	if u.User != nil {
		return nil, errors.New("loki: put credentials in the token or password file or environment, not in the URL")
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = MaxPageSize
	}
	if cfg.PageSize > MaxPageSize {
		return nil, fmt.Errorf("loki: page size %d is above Loki's max_entries_limit_per_query (%d)", cfg.PageSize, MaxPageSize)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Minute
	}
	tr := cfg.Transport
	if tr == nil {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // opt-in, warned by the caller
		if len(cfg.CACert) > 0 {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(cfg.CACert) {
				return nil, errors.New("loki: the CA file holds no PEM certificate")
			}
			tc.RootCAs = pool
		}
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = tc
		tr = t
	}
	return &Client{cfg: cfg, base: u, hc: &http.Client{Transport: tr, Timeout: cfg.Timeout}}, nil
}

// Endpoint is the base URL (it never holds credentials).
func (c *Client) Endpoint() string { return c.base.String() }

// Stats reports one read.
type Stats struct {
	Requests   int   `json:"requests"`
	Lines      int64 `json:"lines"`
	Duplicates int64 `json:"duplicates"`
	Streams    int   `json:"streams"`
}

// Read calls emit with every line the query matches in [start, end) (Unix
// ns), in timestamp order, each once. It pages forward at most PageSize
// lines a request.
func (c *Client) Read(ctx context.Context, query string, start, end int64, emit func(flows.LokiEntry) error) (Stats, error) {
	var st Stats
	streams := map[string]bool{}
	// held: the lines of the previous page at its last timestamp.
	var heldTS int64 = -1
	held := map[string]int{}
	for start < end {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		page, err := c.queryRange(ctx, query, start, end)
		st.Requests++
		if err != nil {
			return st, err
		}
		var total int
		for _, s := range page {
			total += len(s.Values)
			streams[labelKey(s.Stream)] = true
		}
		entries := flows.ParseLokiStreams(page, func(si, vi int, field, msg string) {
			if err == nil {
				err = fmt.Errorf("loki: answer for start=%d: data.result[%d].values[%d]: %s", start, si, vi, msg)
			}
		})
		if err != nil {
			return st, err
		}
		if total > c.cfg.PageSize {
			return st, fmt.Errorf("loki: asked for at most %d lines, got %d", c.cfg.PageSize, total)
		}
		for i := range entries {
			e := entries[i]
			if e.Time < start || e.Time >= end {
				return st, fmt.Errorf("loki: line at %d ns is outside the window asked for [%d, %d)", e.Time, start, end)
			}
			if e.Time == heldTS && held[e.Line] > 0 {
				held[e.Line]--
				st.Duplicates++
				continue
			}
			st.Lines++
			if err := emit(e); err != nil {
				return st, err
			}
		}
		if total < c.cfg.PageSize {
			break
		}
		// A full page: the next one starts at its last timestamp
		// (inclusive), and the lines seen there are dropped when they
		// come again.
		lastTS := entries[len(entries)-1].Time
		if lastTS == heldTS {
			return st, fmt.Errorf("loki: %d or more lines share the timestamp %d ns: the page size cannot get past it", c.cfg.PageSize, lastTS)
		}
		held = map[string]int{}
		for i := len(entries) - 1; i >= 0 && entries[i].Time == lastTS; i-- {
			held[entries[i].Line]++
		}
		heldTS = lastTS
		start = lastTS
	}
	st.Streams = len(streams)
	return st, nil
}

func labelKey(m map[string]string) string {
	b, _ := json.Marshal(m)
	return string(b)
}

// answer is a query_range answer.
type answer struct {
	Status string `json:"status"`
	Data   struct {
		ResultType string             `json:"resultType"`
		Result     []flows.LokiStream `json:"result"`
	} `json:"data"`
	Error     string `json:"error"`
	ErrorType string `json:"errorType"`
}

// queryRange sends one forward query_range request.
func (c *Client) queryRange(ctx context.Context, query string, start, end int64) ([]flows.LokiStream, error) {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/loki/api/v1/query_range"
	q := url.Values{}
	q.Set("query", query)
	q.Set("start", strconv.FormatInt(start, 10))
	q.Set("end", strconv.FormatInt(end, 10))
	q.Set("limit", strconv.Itoa(c.cfg.PageSize))
	q.Set("direction", "forward")
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("loki: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if c.cfg.OrgID != "" {
		req.Header.Set("X-Scope-OrgID", c.cfg.OrgID)
	}
	switch {
	case c.cfg.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+c.cfg.BearerToken)
	case c.cfg.Username != "":
		req.SetBasicAuth(c.cfg.Username, c.cfg.Password)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// url.Error carries the URL, which holds no credentials.
		return nil, fmt.Errorf("loki: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 512<<20))
	if err != nil {
		return nil, fmt.Errorf("loki: reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(body))
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
		hint := ""
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			hint = " (check the token or password, and --loki-org-id)"
		case http.StatusGatewayTimeout:
			hint = " (the query timed out: read a shorter window with --since or --start-time/--end-time)"
		}
		return nil, fmt.Errorf("loki: query_range: HTTP %d%s: %s", resp.StatusCode, hint, msg)
	}
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("loki: query_range: not a Loki answer: %v", err)
	}
	if a.Status != "success" {
		return nil, fmt.Errorf("loki: query_range: status %q: %s", a.Status, a.Error)
	}
	if a.Data.ResultType != "streams" {
		return nil, fmt.Errorf("loki: query_range: resultType %q: the query must be a log query (a stream selector with line filters), not a metric query", a.Data.ResultType)
	}
	return a.Data.Result, nil
}
