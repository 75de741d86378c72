package estest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/calico-plan/calico-plan/flows"
)

// Request is one request the server received.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
	// Status and Response are the answer (Response only with
	// Options.RecordResponses).
	Status   int
	Response []byte
}

// JSON decodes the body (nil when empty or not JSON).
func (r Request) JSON() map[string]any {
	var m map[string]any
	if json.Unmarshal(r.Body, &m) != nil {
		return nil
	}
	return m
}

// Fault is an injected failure.
type Fault struct {
	// Match selects the requests it applies to (nil: any).
	Match func(r *Request) bool
	// Times is how many matching requests fail (0: 1; negative: all).
	Times int
	// Status answers with this HTTP status and an Elasticsearch error body
	// of ErrorType (default "es_rejected_execution_exception" for 429,
	// "search_phase_execution_exception" otherwise).
	Status    int
	ErrorType string
	// Reason is the error reason (default "injected failure").
	Reason string
	// Reset closes the connection without answering.
	Reset bool
	// ShardFailure answers normally but reports one failed shard.
	ShardFailure bool
	// TimedOut answers normally with timed_out: true.
	TimedOut bool
}

// Options configure a server.
type Options struct {
	// TLS serves HTTPS with a certificate from a fresh self-signed CA
	// (Server.CACertPEM) that names CertNames (default 127.0.0.1 and
	// localhost).
	TLS       bool
	CertNames []string
	// Username/Password require HTTP Basic auth; APIKey requires
	// "Authorization: ApiKey <APIKey>" (scheme case-insensitive, as in
	// Elasticsearch). Both may be set: either works.
	Username, Password string
	APIKey             string
	// Cache keeps computed search responses (by request body, point-in-time
	// ids left out) so that repeated identical requests are served without
	// recomputation (benchmarks).
	Cache bool
	// NoProductHeader leaves out X-Elastic-Product (to test the client's
	// product check).
	NoProductHeader bool
	// RecordResponses keeps every response body in Requests.
	RecordResponses bool
}

// Server is an in-process Elasticsearch.
type Server struct {
	*httptest.Server
	// CACertPEM is the CA of a TLS server.
	CACertPEM []byte

	opt Options

	mu       sync.Mutex
	indices  []*index
	faults   []*Fault
	requests []Request
	pits     map[string]*pit
	pitSeq   int
	cache    map[string][]byte
	comps    map[string][]compBucket
	rows     map[string][]row
	tab      *symtab
	ids      int

	bytesIn, bytesOut atomic.Int64
}

type pit struct {
	docs      []*doc
	keepAlive string
}

// NewServer starts a server; close it with Close.
func NewServer(opt Options) (*Server, error) {
	s := &Server{opt: opt, pits: map[string]*pit{}, cache: map[string][]byte{}, comps: map[string][]compBucket{}, rows: map[string][]row{}, tab: newSymtab()}
	h := http.HandlerFunc(s.serve)
	if opt.TLS {
		names := opt.CertNames
		if len(names) == 0 {
			names = []string{"127.0.0.1", "localhost"}
		}
		pki, err := newPKI(names)
		if err != nil {
			return nil, err
		}
		s.Server = httptest.NewUnstartedServer(h)
		s.Server.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are what TLS tests provoke
		s.Server.TLS = &tls.Config{Certificates: []tls.Certificate{pki.cert}, MinVersion: tls.VersionTLS12}
		s.Server.StartTLS()
		s.CACertPEM = pki.caPEM
	} else {
		s.Server = httptest.NewServer(h)
	}
	return s, nil
}

// CreateIndex adds an index with a mapping (nil: FlowLogMapping).
func (s *Server) CreateIndex(name string, mapping map[string]Field) {
	if mapping == nil {
		mapping = FlowLogMapping()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.indices = append(s.indices, &index{name: name, mapping: mapping, tab: s.tab})
	sort.Slice(s.indices, func(i, j int) bool { return s.indices[i].name < s.indices[j].name })
	s.invalidate()
}

// Add indexes JSON documents into an existing index (late arrivals
// included: caches are dropped).
func (s *Server) Add(indexName string, docs ...[]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ix *index
	for _, x := range s.indices {
		if x.name == indexName {
			ix = x
		}
	}
	if ix == nil {
		return fmt.Errorf("estest: no index %s", indexName)
	}
	for _, src := range docs {
		d, err := ix.parseDoc(src)
		if err != nil {
			return err
		}
		s.ids++
		d.num = s.ids
		d.seq = len(ix.docs)
		ix.docs = append(ix.docs, d)
	}
	s.invalidate()
	return nil
}

func (s *Server) invalidate() {
	s.cache = map[string][]byte{}
	s.comps = map[string][]compBucket{}
	s.rows = map[string][]row{}
}

// Inject queues a fault.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times == 0 {
		f.Times = 1
	}
	s.faults = append(s.faults, &f)
}

// ClearFaults drops every queued fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ResetRequests forgets the recorded requests and the byte counters.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
	s.bytesIn.Store(0)
	s.bytesOut.Store(0)
}

// Traffic returns the request and response body bytes since the last
// ResetRequests.
func (s *Server) Traffic() (in, out int64) { return s.bytesIn.Load(), s.bytesOut.Load() }

// OpenPITs returns the number of points in time not closed.
func (s *Server) OpenPITs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pits)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.bytesIn.Add(int64(len(body)))
	req := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	n := len(s.requests) - 1
	fault := s.takeFault(&req)
	s.mu.Unlock()
	w = &recorder{ResponseWriter: w, s: s, n: n}

	if !s.opt.NoProductHeader {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
	}
	w.Header().Set("Content-Type", "application/json")
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="security" charset="UTF-8"`)
		w.Header().Add("WWW-Authenticate", "ApiKey")
		s.writeError(w, &esError{status: 401, typ: "security_exception", reason: "unable to authenticate user for REST request [" + r.URL.Path + "]"})
		return
	}
	if fault != nil {
		if fault.Reset {
			if hj, ok := w.(http.Hijacker); ok {
				conn, _, err := hj.Hijack()
				if err == nil {
					if tc, ok := conn.(*net.TCPConn); ok {
						_ = tc.SetLinger(0)
					}
					conn.Close()
					return
				}
			}
		}
		if fault.Status != 0 {
			typ := fault.ErrorType
			if typ == "" {
				typ = "search_phase_execution_exception"
				if fault.Status == 429 {
					typ = "es_rejected_execution_exception"
				}
			}
			reason := fault.Reason
			if reason == "" {
				reason = "injected failure"
			}
			s.writeError(w, &esError{status: fault.Status, typ: typ, reason: reason})
			return
		}
	}
	out, err := s.route(&req, fault)
	if err != nil {
		s.writeError(w, err)
		return
	}
	s.bytesOut.Add(int64(len(out)))
	_, _ = w.Write(out)
}

// recorder notes the status and, if asked, the body of a response.
type recorder struct {
	http.ResponseWriter
	s *Server
	n int
}

func (r *recorder) WriteHeader(code int) {
	r.s.mu.Lock()
	if r.n < len(r.s.requests) {
		r.s.requests[r.n].Status = code
	}
	r.s.mu.Unlock()
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.s.mu.Lock()
	if r.n < len(r.s.requests) {
		if r.s.requests[r.n].Status == 0 {
			r.s.requests[r.n].Status = http.StatusOK
		}
		if r.s.opt.RecordResponses {
			r.s.requests[r.n].Response = append(r.s.requests[r.n].Response, b...)
		}
	}
	r.s.mu.Unlock()
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return r.ResponseWriter.(http.Hijacker).Hijack()
}

func (s *Server) takeFault(r *Request) *Fault {
	for i, f := range s.faults {
		if f.Match == nil || f.Match(r) {
			if f.Times > 0 {
				f.Times--
				if f.Times == 0 {
					s.faults = append(s.faults[:i], s.faults[i+1:]...)
				}
			}
			return f
		}
	}
	return nil
}

func (s *Server) authorized(r *http.Request) bool {
	if s.opt.Username == "" && s.opt.APIKey == "" {
		return true
	}
	// The scheme is case-insensitive (the Go client sends "APIKey").
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if s.opt.APIKey != "" && strings.EqualFold(scheme, "ApiKey") && cred == s.opt.APIKey {
		return true
	}
	if s.opt.Username != "" && strings.EqualFold(scheme, "Basic") {
		return cred == base64.StdEncoding.EncodeToString([]byte(s.opt.Username+":"+s.opt.Password))
	}
	return false
}

func (s *Server) writeError(w http.ResponseWriter, err error) {
	e, ok := err.(*esError)
	if !ok {
		e = &esError{status: 500, typ: "exception", reason: err.Error()}
	}
	body := map[string]any{
		"error": map[string]any{
			"root_cause": []any{map[string]any{"type": e.typ, "reason": e.reason}},
			"type":       e.typ,
			"reason":     e.reason,
		},
		"status": e.status,
	}
	b, _ := json.Marshal(body)
	s.bytesOut.Add(int64(len(b)))
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

func notFound(r *Request) error {
	return &esError{status: 400, typ: "illegal_argument_exception", reason: fmt.Sprintf("estest: no handler found for uri [%s] and method [%s]", r.Path, r.Method)}
}

func (s *Server) route(r *Request, fault *Fault) ([]byte, error) {
	parts := strings.Split(strings.Trim(r.Path, "/"), "/")
	if len(r.Body) > 0 && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		return nil, &esError{status: 406, typ: "media_type_header_exception", reason: "Content-Type header [" + r.Header.Get("Content-Type") + "] is not supported"}
	}
	switch {
	case len(parts) == 2 && parts[1] == "_mapping" && r.Method == http.MethodGet:
		return s.mapping(parts[0])
	case len(parts) == 2 && parts[1] == "_search" && (r.Method == http.MethodPost || r.Method == http.MethodGet):
		return s.search(r, parts[0], fault)
	case len(parts) == 1 && parts[0] == "_search" && (r.Method == http.MethodPost || r.Method == http.MethodGet):
		return s.search(r, "", fault)
	case len(parts) == 2 && parts[1] == "_pit" && r.Method == http.MethodPost:
		return s.openPIT(r, parts[0])
	case len(parts) == 1 && parts[0] == "_pit" && r.Method == http.MethodDelete:
		return s.closePIT(r)
	}
	return nil, notFound(r)
}

func (s *Server) mapping(expr string) ([]byte, error) {
	s.mu.Lock()
	ixs, missing := matchIndices(expr, s.indices)
	s.mu.Unlock()
	if missing != "" {
		return nil, indexNotFound(missing)
	}
	out := map[string]any{}
	for _, ix := range ixs {
		out[ix.name] = map[string]any{"mappings": map[string]any{"dynamic": "false", "properties": ix.mapping}}
	}
	return json.Marshal(out)
}

func indexNotFound(name string) error {
	return &esError{status: 404, typ: "index_not_found_exception", reason: "no such index [" + name + "]"}
}

func (s *Server) openPIT(r *Request, expr string) ([]byte, error) {
	ka := r.Query.Get("keep_alive")
	if ka == "" {
		return nil, &esError{status: 400, typ: "action_request_validation_exception", reason: "Validation Failed: 1: [keep_alive] is not specified;"}
	}
	if _, err := parseKeepAlive(ka); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ixs, missing := matchIndices(expr, s.indices)
	if missing != "" {
		return nil, indexNotFound(missing)
	}
	p := &pit{keepAlive: ka}
	for _, ix := range ixs {
		p.docs = append(p.docs, ix.docs...)
	}
	s.pitSeq++
	id := base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("estest-pit-%d:%s", s.pitSeq, expr)))
	s.pits[id] = p
	return json.Marshal(map[string]any{"id": id})
}

func parseKeepAlive(s string) (int, error) {
	n := strings.TrimRight(s, "smhd")
	if _, err := strconv.Atoi(n); err != nil || n == s {
		return 0, &esError{status: 400, typ: "parse_exception", reason: "failed to parse setting [keep_alive] with value [" + s + "] as a time value"}
	}
	return 0, nil
}

func (s *Server) closePIT(r *Request) ([]byte, error) {
	m := r.JSON()
	id, _ := m["id"].(string)
	if id == "" {
		return nil, &esError{status: 400, typ: "action_request_validation_exception", reason: "Validation Failed: 1: no pit ids specified;"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pits[id]; !ok {
		return nil, &esError{status: 404, typ: "search_context_missing_exception", reason: "No search context found for id [" + id + "]"}
	}
	delete(s.pits, id)
	for k := range s.rows {
		if strings.HasPrefix(k, "pit:"+id+"\x00") {
			delete(s.rows, k)
		}
	}
	return json.Marshal(map[string]any{"succeeded": true, "num_freed": 1})
}

var searchKeys = map[string]bool{
	"size": true, "query": true, "aggs": true, "aggregations": true, "track_total_hits": true, "pit": true,
	"sort": true, "search_after": true, "_source": true, "from": true, "timeout": true,
}

func (s *Server) search(r *Request, expr string, fault *Fault) ([]byte, error) {
	var body map[string]any
	if len(r.Body) > 0 {
		dec := json.NewDecoder(bytes.NewReader(r.Body))
		dec.UseNumber()
		var raw map[string]any
		if err := dec.Decode(&raw); err != nil {
			return nil, &esError{status: 400, typ: "x_content_parse_exception", reason: "request body is not JSON: " + err.Error()}
		}
		body = normalizeNumbers(raw).(map[string]any)
	}
	for k := range body {
		if !searchKeys[k] {
			return nil, badRequest("Unknown key for a START_OBJECT in [%s].", k)
		}
	}
	pitDef, hasPIT := body["pit"].(map[string]any)
	var cacheKey string
	if s.opt.Cache {
		norm := map[string]any{}
		for k, v := range body {
			norm[k] = v
		}
		if hasPIT {
			norm["pit"] = map[string]any{"keep_alive": pitDef["keep_alive"]}
		}
		kb, _ := json.Marshal(norm)
		sum := sha256.Sum256(append([]byte(expr+"\x00"+r.Query.Encode()+"\x00"), kb...))
		cacheKey = string(sum[:])
		if fault == nil {
			s.mu.Lock()
			out, ok := s.cache[cacheKey]
			s.mu.Unlock()
			if ok {
				if hasPIT {
					if _, err := s.pitDocs(pitDef); err != nil {
						return nil, err
					}
					return replacePIT(out, pitDef["id"].(string)), nil
				}
				return out, nil
			}
		}
	}
	out, err := s.searchUncached(r, expr, body, fault)
	if err != nil {
		return nil, err
	}
	if cacheKey != "" && fault == nil {
		s.mu.Lock()
		s.cache[cacheKey] = out
		s.mu.Unlock()
	}
	if hasPIT {
		return replacePIT(out, pitDef["id"].(string)), nil
	}
	return out, nil
}

// pitPlaceholder stands for the point-in-time id in cached responses.
const pitPlaceholder = "__estest_pit_id__"

func replacePIT(out []byte, id string) []byte {
	return bytes.Replace(out, []byte(pitPlaceholder), []byte(id), 1)
}

// normalizeNumbers turns json.Number into float64.
func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeNumbers(e)
		}
	case json.Number:
		f, _ := x.Float64()
		return f
	}
	return v
}

func (s *Server) pitDocs(def map[string]any) (*pit, error) {
	id, _ := def["id"].(string)
	if id == "" {
		return nil, badRequest("[pit] requires [id]")
	}
	if ka, ok := def["keep_alive"].(string); ok {
		if _, err := parseKeepAlive(ka); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pits[id]
	if !ok {
		return nil, &esError{status: 404, typ: "search_context_missing_exception", reason: "No search context found for id [" + id + "]"}
	}
	return p, nil
}

func (s *Server) searchUncached(r *Request, expr string, body map[string]any, fault *Fault) ([]byte, error) {
	pitDef, hasPIT := body["pit"].(map[string]any)
	if !hasPIT && expr == "" {
		expr = "*"
	}
	ixs, docs, err := s.searchTarget(expr, body, pitDef, hasPIT)
	if err != nil {
		return nil, err
	}
	rows, err := s.matchRows(expr, body, pitDef, hasPIT, ixs, docs)
	if err != nil {
		return nil, err
	}
	resp := map[string]any{
		"took":      1,
		"timed_out": fault != nil && fault.TimedOut,
		"_shards":   s.shards(len(ixs), fault),
	}
	if hasPIT {
		resp["pit_id"] = pitPlaceholder
	}
	size := 10
	if v, ok := body["size"].(float64); ok {
		size = int(v)
	}
	if size > 10000 {
		return nil, &esError{status: 400, typ: "illegal_argument_exception", reason: "Result window is too large, from + size must be less than or equal to: [10000]"}
	}
	hits := map[string]any{"max_score": nil}
	if tth, ok := body["track_total_hits"].(bool); !ok || tth {
		hits["total"] = map[string]any{"value": len(rows), "relation": "eq"}
	}
	aggDef := body["aggs"]
	if aggDef == nil {
		aggDef = body["aggregations"]
	}
	if size == 0 || aggDef != nil {
		if size != 0 {
			return nil, badRequest("estest: aggregation requests must have size 0")
		}
		hits["hits"] = []any{}
		resp["hits"] = hits
		if aggDef != nil {
			aggs, err := s.aggregations(aggDef, ixs, rows, expr, body)
			if err != nil {
				return nil, err
			}
			resp["aggregations"] = aggs
		}
		if fp := parseFilterPath(r.Query.Get("filter_path")); fp != nil {
			filtered, ok := fp.apply(resp)
			if !ok {
				return []byte("{}"), nil
			}
			return json.Marshal(filtered)
		}
		return json.Marshal(resp)
	}
	if !hasPIT {
		return nil, badRequest("estest: document searches are only served with a point in time")
	}
	return s.hitsPage(resp, hits, body, rows, size, parseFilterPath(r.Query.Get("filter_path")))
}

// searchTarget is what a search reads: the point in time's documents, or
// those of the indices expr names.
func (s *Server) searchTarget(expr string, body, pitDef map[string]any, hasPIT bool) (ixs []*index, docs []*doc, err error) {
	if hasPIT {
		if expr != "" {
			return nil, nil, &esError{status: 400, typ: "action_request_validation_exception", reason: "Validation Failed: 1: [indices] cannot be used with point in time. Do not specify any index with point in time.;"}
		}
		p, err := s.pitDocs(pitDef)
		if err != nil {
			return nil, nil, err
		}
		docs = p.docs
		seen := map[*index]bool{}
		for _, d := range docs {
			if !seen[d.index] {
				seen[d.index] = true
				ixs = append(ixs, d.index)
			}
		}
		if len(ixs) == 0 {
			s.mu.Lock()
			ixs = append(ixs, s.indices...)
			s.mu.Unlock()
		}
	} else {
		if _, ok := body["search_after"]; ok {
			return nil, nil, badRequest("estest: search_after without a point in time is not used by the source")
		}
		s.mu.Lock()
		var missing string
		ixs, missing = matchIndices(expr, s.indices)
		for _, ix := range ixs {
			docs = append(docs, ix.docs...)
		}
		s.mu.Unlock()
		if missing != "" {
			return nil, nil, indexNotFound(missing)
		}
	}
	return ixs, docs, nil
}

// matchRows compiles the query per index (which checks it) and returns its
// matches, kept until the data changes (pages of one scan share them).
func (s *Server) matchRows(expr string, body, pitDef map[string]any, hasPIT bool, ixs []*index, docs []*doc) ([]row, error) {
	preds := map[*index]pred{}
	q := body["query"]
	if q == nil {
		q = map[string]any{"match_all": map[string]any{}}
	}
	for _, ix := range ixs {
		p, err := compileQuery(q, ix, "")
		if err != nil {
			return nil, err
		}
		preds[ix] = p
	}
	qb, _ := json.Marshal(q)
	rowsKey := expr + "\x00" + string(qb)
	if hasPIT {
		rowsKey = "pit:" + pitDef["id"].(string) + "\x00" + string(qb)
	}
	s.mu.Lock()
	rows, cached := s.rows[rowsKey]
	s.mu.Unlock()
	if !cached {
		for _, d := range docs {
			if p := preds[d.index]; p != nil && p(row{d: d}) {
				rows = append(rows, row{d: d})
			}
		}
		s.mu.Lock()
		s.rows[rowsKey] = rows
		s.mu.Unlock()
	}
	return rows, nil
}

func (s *Server) shards(n int, fault *Fault) map[string]any {
	sh := map[string]any{"total": n, "successful": n, "skipped": 0, "failed": 0}
	if fault != nil && fault.ShardFailure {
		sh["successful"] = n - 1
		sh["failed"] = 1
		sh["total"] = n
		if n < 1 {
			sh["total"], sh["successful"] = 1, 0
		}
		sh["failures"] = []any{map[string]any{
			"shard": 0, "index": "tigera_secure_ee_flows.injected", "node": "estest",
			"reason": map[string]any{"type": "node_not_connected_exception", "reason": "[estest][127.0.0.1:9300] Node not connected"},
		}}
	}
	return sh
}

func (s *Server) aggregations(def any, ixs []*index, rows []row, expr string, body map[string]any) (map[string]any, error) {
	m, ok := def.(map[string]any)
	if !ok {
		return nil, badRequest("aggregations must be an object")
	}
	out := map[string]any{}
	var plain map[string]any
	for name, v := range m {
		am, _ := v.(map[string]any)
		if _, isComp := am["composite"]; isComp {
			c, err := compileComposite(am, ixs)
			if err != nil {
				return nil, err
			}
			// All buckets, computed once per query and sub-aggregations.
			keyDef := map[string]any{"q": body["query"], "sources": am["composite"].(map[string]any)["sources"], "aggs": am["aggs"], "ix": expr}
			kb, _ := json.Marshal(keyDef)
			ck := string(kb)
			s.mu.Lock()
			all, ok := s.comps[ck]
			s.mu.Unlock()
			if !ok {
				all = c.buckets(rows)
				s.mu.Lock()
				s.comps[ck] = all
				s.mu.Unlock()
			}
			page, err := c.page(all)
			if err != nil {
				return nil, err
			}
			out[name] = page
			continue
		}
		if plain == nil {
			plain = map[string]any{}
		}
		plain[name] = v
	}
	if plain != nil {
		nodes, err := compileAggs(plain, ixs, "")
		if err != nil {
			return nil, err
		}
		evalAggs(nodes, rows, out)
	}
	return out, nil
}

// hitsPage renders a page of documents sorted by _shard_doc.
func (s *Server) hitsPage(resp, hits map[string]any, body map[string]any, rows []row, size int, fp filterPath) ([]byte, error) {
	after, include, err := pageRequest(body)
	if err != nil {
		return nil, err
	}
	// rows are in PIT order; the sort value is the position in the PIT.
	start := sort.Search(len(rows), func(i int) bool { return s.shardDoc(rows[i].d) > after })
	end := min(start+size, len(rows))
	// The envelope, filtered like any response; the hits are written
	// directly (with the fields filter_path keeps).
	top := map[string]any{}
	for k, v := range resp {
		top[k] = v
	}
	top["hits"] = hits
	keep := func(field string) bool { return true }
	hitsWanted := true
	if fp != nil {
		filtered, _ := fp.apply(top)
		top, _ = filtered.(map[string]any)
		if top == nil {
			top = map[string]any{}
		}
		_, hitsWanted = fp.keeps("hits", "hits")
		keep = func(field string) bool { whole, _ := fp.keeps("hits", "hits", field); return whole }
	}
	h, _ := top["hits"].(map[string]any)
	if h == nil {
		h = map[string]any{}
	}
	delete(top, "hits")
	var b bytes.Buffer
	head, _ := json.Marshal(top)
	b.Write(head[:len(head)-1])
	if len(top) > 0 {
		b.WriteByte(',')
	}
	b.WriteString(`"hits":`)
	hitsHead, _ := json.Marshal(h)
	b.Write(hitsHead[:len(hitsHead)-1])
	if hitsWanted {
		if len(h) > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"hits":[`)
		for i, r := range rows[start:end] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('{')
			sep := ""
			field := func(name string, write func()) {
				if keep(name) {
					b.WriteString(sep)
					b.WriteString(`"` + name + `":`)
					write()
					sep = ","
				}
			}
			field("_index", func() { b.WriteString(strconv.Quote(r.d.index.name)) })
			field("_id", func() { b.WriteString(`"doc-` + strconv.Itoa(r.d.num) + `"`) })
			field("_score", func() { b.WriteString("null") })
			field("_source", func() { b.Write(s.filteredSource(r.d, include)) })
			field("sort", func() { b.WriteString("[" + strconv.Itoa(s.shardDoc(r.d)) + "]") })
			b.WriteByte('}')
		}
		b.WriteByte(']')
	}
	b.WriteString(`}}`)
	return b.Bytes(), nil
}

// pageRequest reads a PIT page request: sort by _shard_doc, the
// search_after position (-1: from the start) and the _source fields.
func pageRequest(body map[string]any) (after int, include []string, err error) {
	sortDef, _ := body["sort"].([]any)
	if len(sortDef) != 1 {
		return 0, nil, badRequest("estest: sort by [_shard_doc] expected")
	}
	if sm, ok := sortDef[0].(map[string]any); !ok || sm["_shard_doc"] == nil {
		return 0, nil, badRequest("estest: sort by [_shard_doc] expected, got %v", sortDef[0])
	}
	after = -1
	if sa, ok := body["search_after"]; ok {
		l, ok := sa.([]any)
		if !ok || len(l) != 1 {
			return 0, nil, &esError{status: 400, typ: "illegal_argument_exception", reason: "search_after has 1 value(s) but sort has 1"}
		}
		f, ok := l[0].(float64)
		if !ok {
			return 0, nil, badRequest("search_after value %v is not a number", l[0])
		}
		after = int(f)
	}
	if src, ok := body["_source"]; ok {
		switch x := src.(type) {
		case []any:
			for _, v := range x {
				if str, ok := v.(string); ok {
					include = append(include, str)
				}
			}
		case bool:
			if !x {
				return 0, nil, badRequest("estest: _source false is not used by the source")
			}
		default:
			return 0, nil, badRequest("estest: _source %T not supported", src)
		}
	}
	return after, include, nil
}

// shardDoc is a document's stable position across indices.
func (s *Server) shardDoc(d *doc) int {
	base := 0
	for _, ix := range s.indices {
		if ix == d.index {
			return base + d.seq
		}
		base += 1 << 40
	}
	return d.seq
}

// filteredSource applies _source includes (top-level names and wildcards).
func (s *Server) filteredSource(d *doc, include []string) []byte {
	if include == nil {
		return d.src
	}
	return filterSource(d.src, include)
}

// filterSource keeps the listed top-level fields, in source order.
func filterSource(src []byte, include []string) []byte {
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	var b bytes.Buffer
	b.WriteByte('{')
	if _, err := dec.Token(); err != nil {
		return src
	}
	first := true
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return src
		}
		k, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return src
		}
		keep := false
		for _, inc := range include {
			if globMatch(inc, k) {
				keep = true
				break
			}
		}
		if !keep {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// ReadNDJSON splits NDJSON into documents (blank lines skipped).
func ReadNDJSON(r io.Reader) ([][]byte, error) {
	var out [][]byte
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		out = append(out, append([]byte(nil), line...))
	}
	return out, sc.Err()
}

// AddFlows indexes flows as flow-log documents (see Document) and returns
// the documents, one JSON object each.
func (s *Server) AddFlows(indexName, cluster string, fs []flows.Flow) ([][]byte, error) {
	docs := make([][]byte, 0, len(fs))
	for i := range fs {
		d, err := Document(&fs[i], cluster, fmt.Sprintf("node-%d", i%3))
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
	return docs, s.Add(indexName, docs...)
}
