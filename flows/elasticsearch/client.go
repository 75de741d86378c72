// Package elasticsearch reads Calico Enterprise flow logs from Elasticsearch
// (flow-logs.md §2): by default with aggregations pushed down to the server
// (one composite-aggregation bucket per allowlist key, with the evidence
// computed by Elasticsearch), or, with Query.Raw, by scanning every document
// with a point in time and search_after and decoding the pages with
// flows.Decode.
//
// The package speaks the Elasticsearch REST API through the official client's
// low-level parts: the request builders of go-elasticsearch/v8/esapi over the
// elastic-transport-go transport, whose own retry (RetryOnStatus,
// RetryOnError, RetryBackoff) is used. The go-elasticsearch root package is
// not imported: it pulls in the typed API (about 850 packages) that nothing
// here uses. Credentials never appear in errors, logs or Client.Endpoint.
package elasticsearch

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/elastic/elastic-transport-go/v8/elastictransport"
	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// Config says how to reach Elasticsearch. Either URL or CloudID is set.
type Config struct {
	// URL is the Elasticsearch endpoint, e.g. https://localhost:9200 behind
	// "kubectl port-forward -n tigera-elasticsearch svc/tigera-secure-es-http 9200".
	// User information in the URL is moved to Username/Password (when those
	// are empty) and never shown.
	URL string
	// CloudID is an Elastic Cloud deployment ID (instead of URL).
	CloudID string

	// APIKey is the base64 "id:key" API key (Authorization: ApiKey). It wins
	// over Username/Password.
	APIKey             string
	Username, Password string

	// CACert is PEM: the CAs that sign the server certificate. Empty means
	// the system roots.
	CACert []byte
	// TLSServerName overrides the name the server certificate must carry
	// (useful behind a port-forward when the certificate names only the
	// in-cluster service).
	TLSServerName string
	// InsecureSkipVerify disables server certificate verification.
	InsecureSkipVerify bool

	// MaxRetries bounds the retries of one request after HTTP 429, 502,
	// 503, 504 or a transient connection error (default 4; negative: none).
	MaxRetries int
	// RetryBase and RetryMax shape the exponential backoff with jitter
	// (defaults 500ms and 30s).
	RetryBase, RetryMax time.Duration

	// Transport replaces the HTTP transport (tests). The TLS settings above
	// are then ignored.
	Transport http.RoundTripper
}

// String describes the configuration without secrets.
func (c Config) String() string {
	return fmt.Sprintf("elasticsearch.Config{URL:%q CloudID:%q APIKey:%s Username:%q Password:%s CACert:%d bytes TLSServerName:%q InsecureSkipVerify:%v}",
		redactURL(c.URL), c.CloudID, redacted(c.APIKey), c.Username, redacted(c.Password), len(c.CACert), c.TLSServerName, c.InsecureSkipVerify)
}

// GoString is String, so that %#v does not print secrets either.
func (c Config) GoString() string { return c.String() }

func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "<redacted>"
}

// redactURL drops the user information of a URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		if err != nil && strings.Contains(s, "@") {
			return "<unparsable URL>"
		}
		return s
	}
	u.User = nil
	return u.String()
}

// Client is a connection to one Elasticsearch cluster. It is safe for
// concurrent use.
type Client struct {
	tp       *elastictransport.Client
	endpoint string
	secrets  []string
	retries  int
	base     time.Duration
	max      time.Duration

	// productOK is set once a 2xx answer carried X-Elastic-Product.
	productOK atomic.Bool

	sent, received atomic.Int64
	requests       atomic.Int64
}

// retryStatus lists the answers worth another attempt: Elasticsearch's
// own "try again" (429) and the gateway errors a proxy or a restarting node
// gives. Other 5xx (500 from a failing query, 501) are not transient.
var retryStatus = []int{http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}

// NewClient validates the configuration and builds a client. It does not
// contact the server.
func NewClient(cfg Config) (*Client, error) {
	c := &Client{retries: cfg.MaxRetries, base: cfg.RetryBase, max: cfg.RetryMax}
	if c.retries == 0 {
		c.retries = 4
	} else if c.retries < 0 {
		c.retries = 0
	}
	if c.base <= 0 {
		c.base = 500 * time.Millisecond
	}
	if c.max <= 0 {
		c.max = 30 * time.Second
	}
	// The transport's settings, gathered before it is built.
	var tc struct {
		APIKey, Username, Password string
		URLs                       []*url.URL
	}
	tc.APIKey, tc.Username, tc.Password = cfg.APIKey, cfg.Username, cfg.Password
	switch {
	case cfg.URL != "" && cfg.CloudID != "":
		return nil, errors.New("elasticsearch: give a URL or a cloud ID, not both")
	case cfg.URL != "":
		u, err := url.Parse(cfg.URL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("elasticsearch: %q is not an http(s)://host:port URL", redactURL(cfg.URL))
		}
		if u.User != nil {
			if tc.Username == "" && tc.APIKey == "" {
				tc.Username = u.User.Username()
				tc.Password, _ = u.User.Password()
			}
			u.User = nil
		}
		u.Path = strings.TrimRight(u.Path, "/")
		u.RawQuery, u.Fragment = "", ""
		c.endpoint = u.String()
		tc.URLs = []*url.URL{u}
	case cfg.CloudID != "":
		u, err := cloudURL(cfg.CloudID)
		if err != nil {
			return nil, err
		}
		name, _, _ := strings.Cut(cfg.CloudID, ":")
		c.endpoint = "cloud:" + name
		tc.URLs = []*url.URL{u}
	default:
		return nil, errors.New("elasticsearch: no URL or cloud ID")
	}
	if tc.APIKey != "" {
		// An API key wins over basic auth (elastictransport sends only one).
		tc.Username, tc.Password = "", ""
	}
	for _, s := range []string{tc.APIKey, tc.Password} {
		if s != "" {
			c.secrets = append(c.secrets, s)
		}
	}
	if tc.Password != "" {
		c.secrets = append(c.secrets, base64.StdEncoding.EncodeToString([]byte(tc.Username+":"+tc.Password)))
	}
	var rt http.RoundTripper = cfg.Transport
	if rt == nil {
		tr, err := transport(cfg)
		if err != nil {
			return nil, err
		}
		rt = tr
	}
	opts := []elastictransport.Option{
		elastictransport.WithURLs(tc.URLs...),
		elastictransport.WithTransport(&countingTransport{next: rt, c: c}),
	}
	switch {
	case tc.APIKey != "":
		opts = append(opts, elastictransport.WithAPIKey(tc.APIKey))
	case tc.Username != "" || tc.Password != "":
		opts = append(opts, elastictransport.WithBasicAuth(tc.Username, tc.Password))
	}
	if c.retries == 0 {
		opts = append(opts, elastictransport.WithDisableRetry())
	} else {
		opts = append(opts,
			elastictransport.WithRetry(c.retries, retryStatus...),
			elastictransport.WithRetryOnError(func(_ *http.Request, err error) bool { return transientError(err) }),
			elastictransport.WithRetryBackoff(func(attempt int) time.Duration { return c.backoff(attempt - 1) }))
	}
	tp, err := elastictransport.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: %s", c.redact(err.Error()))
	}
	c.tp = tp
	return c, nil
}

// cloudURL decodes an Elastic Cloud ID ("name:base64(host$es-uuid$...)")
// into the deployment's Elasticsearch URL.
func cloudURL(id string) (*url.URL, error) {
	_, enc, ok := strings.Cut(id, ":")
	bad := fmt.Errorf("elasticsearch: cloud ID %q is not name:base64(host$uuid...)", id)
	if !ok {
		return nil, bad
	}
	data, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, bad
	}
	parts := strings.Split(string(data), "$")
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return nil, bad
	}
	return &url.URL{Scheme: "https", Host: parts[1] + "." + parts[0]}, nil
}

// attemptsKey carries a request's attempt counter in its context.
type attemptsKey struct{}

// countingTransport counts every attempt (retries included) and the body
// bytes sent and received, whoever reads them.
type countingTransport struct {
	next http.RoundTripper
	c    *Client
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.c.requests.Add(1)
	if n, ok := req.Context().Value(attemptsKey{}).(*atomic.Int32); ok {
		n.Add(1)
	}
	if req.ContentLength > 0 {
		t.c.sent.Add(req.ContentLength)
	}
	res, err := t.next.RoundTrip(req)
	if res != nil && res.Body != nil {
		res.Body = &countingBody{ReadCloser: res.Body, n: &t.c.received}
	}
	return res, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func transport(cfg Config) (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLSServerName, InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // only by explicit flag
	if len(cfg.CACert) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(cfg.CACert) {
			return nil, errors.New("elasticsearch: the CA certificate holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	tr.TLSClientConfig = tc
	tr.MaxIdleConnsPerHost = 4
	tr.ResponseHeaderTimeout = 5 * time.Minute
	return tr, nil
}

// Endpoint is the URL without user information (or "cloud:<name>").
func (c *Client) Endpoint() string { return c.endpoint }

// Traffic returns the request and response body bytes and the HTTP
// requests (retries included) so far.
func (c *Client) Traffic() (sent, received, requests int64) {
	return c.sent.Load(), c.received.Load(), c.requests.Load()
}

// redact replaces every secret in s.
func (c *Client) redact(s string) string {
	for _, sec := range c.secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return s
}

// Error is an error response from Elasticsearch (or a failed exchange).
type Error struct {
	// Op names the request ("search page 3", "open point in time", ...).
	Op string
	// Status is the HTTP status, 0 when no response arrived.
	Status int
	// Type and Reason are Elasticsearch's error type and reason, when given.
	Type, Reason string
	// Attempts is how many times the request was sent.
	Attempts int
	// Hint suggests a fix.
	Hint string
	err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("elasticsearch: ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	if e.Attempts > 1 {
		fmt.Fprintf(&b, "giving up after %d attempts: ", e.Attempts)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, "HTTP %d %s", e.Status, http.StatusText(e.Status))
		if e.Type != "" || e.Reason != "" {
			b.WriteString(": ")
		}
	}
	if e.Type != "" {
		b.WriteString(e.Type)
		if e.Reason != "" {
			b.WriteString(": ")
		}
	}
	b.WriteString(e.Reason)
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.err }

// do sends a request built by mk and returns the response body of a 2xx
// answer. Transient failures are retried by the transport (see NewClient);
// the error says how many attempts were made.
func (c *Client) do(ctx context.Context, op string, body []byte, mk func(body io.Reader) esapi.Request) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var attempts atomic.Int32
	ctx = context.WithValue(ctx, attemptsKey{}, &attempts)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	res, err := mk(rd).Do(ctx, c.tp)
	var e *Error
	switch {
	case err != nil:
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		e = c.transportError(op, err)
	case res.Body == nil:
		e = &Error{Op: op, Status: res.StatusCode, Reason: "empty response"}
	default:
		data, rerr := io.ReadAll(res.Body)
		res.Body.Close()
		switch {
		case rerr != nil:
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			e = &Error{Op: op, Status: res.StatusCode, Reason: "reading the response: " + c.redact(rerr.Error())}
		case res.StatusCode >= 200 && res.StatusCode < 300:
			if !c.productOK.Load() {
				if res.Header.Get("X-Elastic-Product") != "Elasticsearch" {
					e = c.transportError(op, errors.New("the server is not Elasticsearch"))
					break
				}
				c.productOK.Store(true)
			}
			return data, nil
		default:
			e = c.statusError(op, res.StatusCode, data)
		}
	}
	e.Attempts = max(int(attempts.Load()), 1)
	return nil, e
}

// backoff is exponential with full jitter in its upper half.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.base << min(attempt, 20)
	if d > c.max || d <= 0 {
		d = c.max
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// transportError classifies an error from the HTTP exchange.
func (c *Client) transportError(op string, err error) *Error {
	msg := c.redact(err.Error())
	e := &Error{Op: op, Reason: msg}
	var uae x509.UnknownAuthorityError
	var he x509.HostnameError
	var cie x509.CertificateInvalidError
	var cve *tls.CertificateVerificationError
	switch {
	case errors.As(err, &uae) || strings.Contains(msg, "certificate signed by unknown authority"):
		e.Hint = "the server certificate is not signed by a trusted CA: pass the cluster's CA with --es-ca-cert " +
			"(for Calico Enterprise: secret tigera-secure-es-http-certs-public in tigera-elasticsearch, key tls.crt)"
	case errors.As(err, &he) || strings.Contains(msg, "certificate is valid for"):
		e.Hint = "the server certificate does not name this host; behind a port-forward pass --es-tls-server-name " +
			"with a name the certificate carries, e.g. tigera-secure-es-http.tigera-elasticsearch.svc"
	case errors.As(err, &cie) || errors.As(err, &cve) || strings.Contains(msg, "x509:") || strings.Contains(msg, "tls:"):
		e.Hint = "TLS handshake failed"
	case strings.Contains(msg, "server is not Elasticsearch"):
		e.Hint = "the server did not identify as Elasticsearch (no X-Elastic-Product header): is the URL Kibana, Linseed or a proxy?"
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		e.Hint = "the server speaks plain HTTP: use an http:// URL"
	case strings.Contains(msg, "malformed HTTP response"):
		e.Hint = "the server speaks HTTPS: use an https:// URL"
	default:
		if strings.Contains(msg, "connection refused") {
			e.Hint = "is the port-forward running? kubectl port-forward -n tigera-elasticsearch svc/tigera-secure-es-http 9200"
		}
	}
	return e
}

// transientError reports whether a failed exchange is worth another
// attempt: a dropped or refused connection or a timeout, never a TLS or
// certificate failure (retrying cannot fix those).
func transientError(err error) bool {
	if err == nil {
		return false
	}
	var uae x509.UnknownAuthorityError
	var he x509.HostnameError
	var cie x509.CertificateInvalidError
	var cve *tls.CertificateVerificationError
	var rhe tls.RecordHeaderError
	if errors.As(err, &uae) || errors.As(err, &he) || errors.As(err, &cie) || errors.As(err, &cve) || errors.As(err, &rhe) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	msg := err.Error()
	if strings.Contains(msg, "x509:") || strings.Contains(msg, "tls:") ||
		strings.Contains(msg, "server gave HTTP response to HTTPS client") || strings.Contains(msg, "malformed HTTP response") {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		strings.Contains(msg, "connection reset") || strings.Contains(msg, "connection refused") || strings.Contains(msg, "broken pipe")
}

// errorBody is Elasticsearch's error response.
type errorBody struct {
	Error json.RawMessage `json:"error"`
}

type errorCause struct {
	Type      string       `json:"type"`
	Reason    string       `json:"reason"`
	RootCause []errorCause `json:"root_cause"`
	CausedBy  *errorCause  `json:"caused_by"`
}

// types lists the error types of the cause, its root causes and the chain
// of caused_by.
func (c *errorCause) types() string {
	var b strings.Builder
	for x := c; x != nil; x = x.CausedBy {
		b.WriteString(x.Type)
		b.WriteByte(' ')
	}
	for _, r := range c.RootCause {
		b.WriteString(r.Type)
		b.WriteByte(' ')
	}
	return b.String()
}

// statusError turns a non-2xx answer into an Error.
func (c *Client) statusError(op string, code int, body []byte) *Error {
	e := &Error{Op: op, Status: code}
	var types string
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil && len(eb.Error) > 0 {
		var cause errorCause
		if json.Unmarshal(eb.Error, &cause) == nil && (cause.Type != "" || cause.Reason != "") {
			e.Type, e.Reason = cause.Type, cause.Reason
			types = cause.types()
			if cause.CausedBy != nil && cause.CausedBy.Reason != "" && cause.CausedBy.Reason != cause.Reason {
				e.Reason += ": " + cause.CausedBy.Reason
			} else if len(cause.RootCause) > 0 && cause.RootCause[0].Reason != cause.Reason {
				e.Reason += ": " + cause.RootCause[0].Reason
			}
		} else {
			var s string
			if json.Unmarshal(eb.Error, &s) == nil {
				e.Reason = s
			}
		}
	} else if len(body) > 0 && len(body) < 512 {
		e.Reason = strings.TrimSpace(string(body))
	}
	e.Reason = c.redact(e.Reason)
	switch {
	case code == http.StatusUnauthorized:
		e.Hint = "authentication failed: check --es-username/--es-password (ES_USERNAME/ES_PASSWORD) or --es-api-key (ES_API_KEY); " +
			"Calico Enterprise's elastic user password is in secret tigera-secure-es-elastic-user in tigera-elasticsearch"
	case code == http.StatusForbidden:
		e.Hint = "the user lacks privileges: it needs read and view_index_metadata on the flow indices"
	case strings.Contains(types, "too_many_buckets"):
		e.err = errTooManyBuckets
	}
	return e
}

var errTooManyBuckets = errors.New("too many buckets")
