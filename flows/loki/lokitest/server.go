// Package lokitest is an in-process HTTP server speaking Loki's documented
// query_range API (docs/sources/reference/loki-http-api.md, Loki 3.6) for
// the requests the loki package sends: a stream selector with equality
// matchers and |= line filters, start (inclusive) and end (exclusive) in
// nanoseconds or RFC 3339, limit (default 100; above
// max_entries_limit_per_query a 400 with Loki's message), direction
// (default backward). It answers {"status":"success","data":{"resultType":
// "streams","result":[...]}} with the first limit lines in the direction
// asked, merged across streams by timestamp, as Loki does. Loki itself is
// AGPL and not used.
package lokitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Entry is one log line.
type Entry struct {
	TS   int64 // Unix ns
	Line string
}

// Stream is a label set with its lines.
type Stream struct {
	Labels  map[string]string
	Entries []Entry
}

// Server is the fake Loki.
type Server struct {
	*httptest.Server
	mu      sync.Mutex
	Streams []Stream
	// MaxEntries is max_entries_limit_per_query (default 5000).
	MaxEntries int
	// Token, User/Password and OrgID, when set, are required.
	Token, User, Password, OrgID string
	// Fail makes the next requests answer this status (decremented).
	Fail     []int
	Requests []url
}

type url struct {
	Query, Start, End, Limit, Direction string
}

// New starts a plain-HTTP server; NewTLS one with a test certificate.
func New(streams []Stream) *Server {
	s := &Server{Streams: streams, MaxEntries: 5000}
	s.Server = httptest.NewServer(s)
	return s
}

// NewTLS starts the server with TLS (s.Certificate() is its certificate).
func NewTLS(streams []Stream) *Server {
	s := &Server{Streams: streams, MaxEntries: 5000}
	s.Server = httptest.NewTLSServer(s)
	return s
}

// RequestCount returns how many query_range requests were answered.
func (s *Server) RequestCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.Requests)
}

func lokiError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

var (
	selectorRE = regexp.MustCompile(`^\{([^}]*)\}(.*)$`)
	matcherRE  = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*$`)
	filterRE   = regexp.MustCompile(`^\s*\|=\s*"((?:[^"\\]|\\.)*)"`)
)

type query struct {
	match   map[string]string
	filters []string
}

func parseQuery(q string) (*query, error) {
	m := selectorRE.FindStringSubmatch(strings.TrimSpace(q))
	if m == nil {
		return nil, fmt.Errorf("parse error : syntax error: unexpected %q, expecting {", q)
	}
	out := &query{match: map[string]string{}}
	for _, part := range strings.Split(m[1], ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		mm := matcherRE.FindStringSubmatch(part)
		if mm == nil {
			return nil, fmt.Errorf("parse error : unsupported matcher %q", part)
		}
		v, err := strconv.Unquote(`"` + mm[2] + `"`)
		if err != nil {
			return nil, fmt.Errorf("parse error : %v", err)
		}
		out.match[mm[1]] = v
	}
	rest := m[2]
	for strings.TrimSpace(rest) != "" {
		fm := filterRE.FindStringSubmatch(rest)
		if fm == nil {
			return nil, fmt.Errorf("parse error : unsupported pipeline %q", rest)
		}
		v, err := strconv.Unquote(`"` + fm[1] + `"`)
		if err != nil {
			return nil, fmt.Errorf("parse error : %v", err)
		}
		out.filters = append(out.filters, v)
		rest = rest[len(fm[0]):]
	}
	return out, nil
}

// parseTime reads ns epoch integers, float seconds or RFC 3339.
func parseTime(s string, def int64) (int64, error) {
	if s == "" {
		return def, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return int64(f * 1e9), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("cannot parse %q to a valid timestamp", s)
	}
	return t.UnixNano(), nil
}

type hit struct {
	stream, idx int
	e           Entry
}

// ServeHTTP answers query_range.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/loki/api/v1/query_range" {
		lokiError(w, http.StatusNotFound, "404 page not found")
		return
	}
	if err := r.ParseForm(); err != nil {
		lokiError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := r.Form
	s.Requests = append(s.Requests, url{f.Get("query"), f.Get("start"), f.Get("end"), f.Get("limit"), f.Get("direction")})
	if len(s.Fail) > 0 {
		code := s.Fail[0]
		s.Fail = s.Fail[1:]
		lokiError(w, code, http.StatusText(code))
		return
	}
	if msg := s.unauthorized(r); msg != "" {
		lokiError(w, http.StatusUnauthorized, msg)
		return
	}
	req, msg := s.parseRequest(f)
	if msg != "" {
		lokiError(w, http.StatusBadRequest, msg)
		return
	}
	hits := s.hits(req)
	writeStreams(w, s.Streams, hits)
}

// unauthorized says why the request's credentials are refused; "" when
// they are not.
func (s *Server) unauthorized(r *http.Request) string {
	if s.Token != "" && r.Header.Get("Authorization") != "Bearer "+s.Token {
		return "unauthorized"
	}
	if s.User != "" {
		u, p, ok := r.BasicAuth()
		if !ok || u != s.User || p != s.Password {
			return "unauthorized"
		}
	}
	if s.OrgID != "" && r.Header.Get("X-Scope-OrgID") != s.OrgID {
		return "no org id"
	}
	return ""
}

// rangeRequest is a parsed query_range request.
type rangeRequest struct {
	q          *query
	limit      int
	start, end int64
	backward   bool
}

// parseRequest reads the query_range parameters; a message says what is
// wrong with them (Loki's wording).
func (s *Server) parseRequest(f neturl.Values) (rangeRequest, string) {
	var req rangeRequest
	q, err := parseQuery(f.Get("query"))
	if err != nil {
		return req, err.Error()
	}
	req.q = q
	req.limit = 100
	if l := f.Get("limit"); l != "" {
		if req.limit, err = strconv.Atoi(l); err != nil || req.limit <= 0 {
			return req, "invalid limit"
		}
	}
	if req.limit > s.MaxEntries {
		return req, fmt.Sprintf("max entries limit per query exceeded, limit > max_entries_limit_per_query (%d > %d)", req.limit, s.MaxEntries)
	}
	now := time.Now().UnixNano()
	if req.end, err = parseTime(f.Get("end"), now); err != nil {
		return req, err.Error()
	}
	if req.start, err = parseTime(f.Get("start"), req.end-int64(time.Hour)); err != nil {
		return req, err.Error()
	}
	if req.end < req.start {
		return req, "end timestamp must not be before or equal to start time"
	}
	req.backward = true
	switch f.Get("direction") {
	case "", "backward", "BACKWARD":
	case "forward", "FORWARD":
		req.backward = false
	default:
		return req, "invalid direction"
	}
	return req, ""
}

// hits are the matching entries in the requested order, at most limit.
func (s *Server) hits(req rangeRequest) []hit {
	var hits []hit
	for si, st := range s.Streams {
		ok := true
		for k, v := range req.q.match {
			if st.Labels[k] != v {
				ok = false
			}
		}
		if !ok {
			continue
		}
		for ei, e := range st.Entries {
			if e.TS < req.start || e.TS >= req.end {
				continue
			}
			keep := true
			for _, flt := range req.q.filters {
				if !strings.Contains(e.Line, flt) {
					keep = false
				}
			}
			if keep {
				hits = append(hits, hit{si, ei, e})
			}
		}
	}
	backward := req.backward
	sort.SliceStable(hits, func(i, j int) bool {
		if hits[i].e.TS != hits[j].e.TS {
			return hits[i].e.TS < hits[j].e.TS != backward
		}
		if hits[i].stream != hits[j].stream {
			return hits[i].stream < hits[j].stream
		}
		return hits[i].idx < hits[j].idx
	})
	if len(hits) > req.limit {
		hits = hits[:req.limit]
	}
	return hits
}

// writeStreams answers with the hits grouped by stream, as Loki does.
func writeStreams(w http.ResponseWriter, streams []Stream, hits []hit) {
	type stream struct {
		Stream map[string]string `json:"stream"`
		Values [][2]string       `json:"values"`
	}
	by := map[int]*stream{}
	var order []int
	for _, h := range hits {
		st := by[h.stream]
		if st == nil {
			st = &stream{Stream: streams[h.stream].Labels, Values: [][2]string{}}
			by[h.stream] = st
			order = append(order, h.stream)
		}
		st.Values = append(st.Values, [2]string{strconv.FormatInt(h.e.TS, 10), h.e.Line})
	}
	result := make([]*stream, 0, len(order))
	for _, i := range order {
		result = append(result, by[i])
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"status": "success",
		"data": map[string]any{
			"resultType": "streams",
			"result":     result,
			"stats":      map[string]any{"summary": map[string]any{"totalEntriesReturned": len(hits)}},
		},
	})
}
