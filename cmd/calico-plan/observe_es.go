package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/calico-plan/calico-plan/allowlist"
	es "github.com/calico-plan/calico-plan/flows/elasticsearch"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/observe"
)

// esDefaultSince is the window of a first Elasticsearch observe.
const esDefaultSince = "7d"

// esFlags are observe's Elasticsearch flags.
type esFlags struct {
	flags *cobra.Command

	url, cloudID   string
	index, cluster string
	raw            bool
	pageSize       int

	overlap string

	apiKey, apiKeyFile     string
	username               string
	password, passwordFile string
	caCert, tlsServerName  string
	insecure               bool

	maxRetries   int
	retryBackoff time.Duration
	keepAlive    time.Duration

	// env replaces os.Getenv (tests).
	env func(string) string
}

const esHelp = `
Calico Enterprise: reading flow logs from Elasticsearch (--es URL)
  observe --es reads the flow-log indices directly. By default the
  aggregation is pushed down: Elasticsearch returns one bucket per allowlist
  key with its evidence (sums, first/last seen, days, workloads), so a week
  of millions of flow documents costs a few megabytes. --es-raw transfers
  every document instead (point in time + search_after), for indices whose
  mapping lacks fields the aggregation needs (observe falls back to it by
  itself and says which field is missing).

  Connect through a port-forward to the Elasticsearch service:
    kubectl port-forward -n tigera-elasticsearch svc/tigera-secure-es-http 9200
  The elastic user's password is in secret tigera-secure-es-elastic-user:
    kubectl -n tigera-elasticsearch get secret tigera-secure-es-elastic-user \
      -o go-template='{{.data.elastic | base64decode}}' > es-password
  The CA that signs the server certificate is in secret
  tigera-secure-es-http-certs-public (key tls.crt), in tigera-elasticsearch
  (if your release keeps it elsewhere, look in tigera-operator):
    kubectl -n tigera-elasticsearch get secret tigera-secure-es-http-certs-public \
      -o go-template='{{index .data "tls.crt" | base64decode}}' > es-ca.pem
  Whether that certificate names localhost is not verified for every
  release: if the connection fails with "certificate is valid for ...", add
  --es-tls-server-name tigera-secure-es-http.tigera-elasticsearch.svc.

  Credentials: --es-username (default elastic when a password is given) with
  --es-password-file, or --es-api-key-file; or the environment variables
  ES_USERNAME, ES_PASSWORD, ES_API_KEY. Avoid --es-password and --es-api-key
  on the command line: they end up in shell history. Credentials never
  appear in output, errors or the store. TLS verification is always on
  unless --es-insecure-skip-verify is given (a warning is printed).

  Indices: tigera_secure_ee_flows.<cluster>.* (--es-cluster, default
  "cluster", the name of a standalone or management cluster); with
  --es-index calico_flowlogs.* (single-index layout) the cluster is a term
  filter on the cluster field; any other pattern with --es-index.

  The window is on end_time: --since 7d (default for the first run), or
  --start-time/--end-time (RFC 3339). The store remembers how far each
  Elasticsearch source was read; the next observe resumes there, re-reading
  the last --es-overlap (default 10m) for documents indexed late, without
  counting anything twice. Documents indexed later than the overlap after
  their end_time are missed.

  A search that times out or loses shards fails and merges nothing;
  --allow-partial accepts it with a warning kept in the store. HTTP 429,
  5xx and dropped connections are retried with backoff (--es-max-retries).`

const esExample = `
  # Calico Enterprise, through a port-forward, the last 7 days
  kubectl port-forward -n tigera-elasticsearch svc/tigera-secure-es-http 9200 &
  calico-plan observe --es https://localhost:9200 --es-password-file es-password \
    --es-ca-cert es-ca.pem --since 7d

  # later: resume where the last run stopped (run it from cron)
  ES_PASSWORD=$(cat es-password) calico-plan observe --es https://localhost:9200 --es-ca-cert es-ca.pem

  # a managed cluster's flows, and Calico Cloud's single index
  calico-plan observe --es https://localhost:9200 --es-api-key-file key --es-cluster my-managed-cluster
  calico-plan observe --es https://es.example:9200 --es-api-key-file key --es-index 'calico_flowlogs.*' --es-cluster prod`

// addElasticsearchFlags registers the --es flags on observe and extends
// its help.
func addElasticsearchFlags(cmd *cobra.Command) *esFlags {
	f := &esFlags{flags: cmd, env: os.Getenv}
	fs := cmd.Flags()
	fs.StringVar(&f.url, "es", "", "Elasticsearch URL to read Calico Enterprise flow logs from (e.g. https://localhost:9200)")
	fs.StringVar(&f.cloudID, "es-cloud-id", "", "Elastic Cloud deployment ID (instead of --es)")
	fs.StringVar(&f.index, "es-index", "", "index pattern (default tigera_secure_ee_flows.<cluster>.*; calico_flowlogs.* filters on the cluster field)")
	fs.StringVar(&f.cluster, "es-cluster", es.DefaultCluster, "cluster name in the index pattern (or the cluster field of calico_flowlogs.*)")
	fs.BoolVar(&f.raw, "es-raw", false, "transfer every document (point in time + search_after) instead of pushing the aggregation down")
	fs.IntVar(&f.pageSize, "es-page-size", 0, "keys per aggregation page (default 1000) or documents per raw page (default 2000)")
	// --since, --start-time, --end-time and --allow-partial may be shared with
	// other time-based sources of observe: whoever registers first defines
	// them, and their values are read by name.
	if fs.Lookup("since") == nil {
		fs.String("since", esDefaultSince, "read the last DURATION (e.g. 7d, 36h) on the first observe of a source")
	}
	if fs.Lookup("start-time") == nil {
		fs.String("start-time", "", "window start, RFC 3339 (instead of --since)")
	}
	if fs.Lookup("end-time") == nil {
		fs.String("end-time", "", "window end, RFC 3339 (default now)")
	}
	fs.StringVar(&f.overlap, "es-overlap", "10m", "re-read this much before where the previous observe stopped, for late documents")
	fs.StringVar(&f.apiKey, "es-api-key", "", "API key (base64 id:key); prefer ES_API_KEY or --es-api-key-file")
	fs.StringVar(&f.apiKeyFile, "es-api-key-file", "", "file holding the API key")
	fs.StringVar(&f.username, "es-username", "", "user for basic auth (default: ES_USERNAME, or elastic when a password is given)")
	fs.StringVar(&f.password, "es-password", "", "password; prefer ES_PASSWORD or --es-password-file")
	fs.StringVar(&f.passwordFile, "es-password-file", "", "file holding the password")
	fs.StringVar(&f.caCert, "es-ca-cert", "", "PEM file with the CA that signs the Elasticsearch certificate")
	fs.StringVar(&f.tlsServerName, "es-tls-server-name", "", "name the server certificate must carry (behind a port-forward)")
	fs.BoolVar(&f.insecure, "es-insecure-skip-verify", false, "do not verify the server certificate (insecure; prints a warning)")
	if fs.Lookup("allow-partial") == nil {
		fs.Bool("allow-partial", false, "accept searches that time out or lose shards, with a warning recorded in the store")
	}
	fs.IntVar(&f.maxRetries, "es-max-retries", 4, "retries of a request after HTTP 429, 5xx or a dropped connection")
	fs.DurationVar(&f.retryBackoff, "es-retry-backoff", 500*time.Millisecond, "first retry delay (doubles per retry, with jitter, up to 30s)")
	fs.DurationVar(&f.keepAlive, "es-keep-alive", 5*time.Minute, "point-in-time keep-alive between raw pages")
	cmd.Long += "\n" + esHelp
	cmd.Example += "\n" + esExample
	return f
}

// enabled reports whether an Elasticsearch source was given.
func (f *esFlags) enabled() bool { return f != nil && (f.url != "" || f.cloudID != "") }

func (f *esFlags) changed(name string) bool {
	return f.flags != nil && f.flags.Flags().Changed(name)
}

// value reads a (possibly shared) flag by name.
func (f *esFlags) value(name string) string {
	if f.flags == nil {
		return ""
	}
	if fl := f.flags.Flags().Lookup(name); fl != nil {
		return fl.Value.String()
	}
	return ""
}

// secret returns a credential from its flag, its file or the environment.
func (f *esFlags) secret(flagVal, file, envName, what string) (string, error) {
	if flagVal != "" && file != "" {
		return "", fmt.Errorf("give the %s with the flag or the file, not both", what)
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading the %s: %w", what, err)
		}
		s := strings.TrimRight(string(b), "\r\n")
		if s == "" {
			return "", fmt.Errorf("%s: the %s file is empty", file, what)
		}
		return s, nil
	}
	if flagVal != "" {
		return flagVal, nil
	}
	return f.env(envName), nil
}

func esParseTime(flag, s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("--%s %q: want RFC 3339 (2026-11-27T12:00:00Z) or a date (2026-11-27)", flag, s)
}

// options turns the flags into observe options. warn receives warnings
// for stderr.
func (f *esFlags) options(warn func(string)) (observe.ESOptions, error) {
	var o observe.ESOptions
	if f.env == nil {
		f.env = os.Getenv
	}
	cfg, err := f.clientConfig(warn)
	if err != nil {
		return o, err
	}
	o.Config = cfg
	o.Index, o.Cluster = f.index, f.cluster
	o.Raw, o.AllowPartial, o.PageSize, o.KeepAlive = f.raw, f.value("allow-partial") == "true", f.pageSize, f.keepAlive
	if err := f.window(&o); err != nil {
		return o, err
	}
	return o, nil
}

// clientConfig is the client's configuration: URL, retries, credentials
// (flags, files or environment) and TLS.
func (f *esFlags) clientConfig(warn func(string)) (es.Config, error) {
	cfg := es.Config{URL: f.url, CloudID: f.cloudID, TLSServerName: f.tlsServerName, InsecureSkipVerify: f.insecure,
		MaxRetries: f.maxRetries, RetryBase: f.retryBackoff}
	if f.maxRetries == 0 {
		cfg.MaxRetries = -1
	}
	var err error
	if cfg.APIKey, err = f.secret(f.apiKey, f.apiKeyFile, "ES_API_KEY", "API key"); err != nil {
		return cfg, err
	}
	if cfg.Password, err = f.secret(f.password, f.passwordFile, "ES_PASSWORD", "password"); err != nil {
		return cfg, err
	}
	cfg.Username = f.username
	if cfg.Username == "" {
		cfg.Username = f.env("ES_USERNAME")
	}
	if cfg.APIKey != "" && (f.username != "" || f.password != "" || f.passwordFile != "") {
		return cfg, errors.New("give an API key or a username and password, not both")
	}
	if cfg.APIKey != "" {
		cfg.Username, cfg.Password = "", ""
	} else if cfg.Password != "" && cfg.Username == "" {
		cfg.Username = "elastic"
	}
	if f.password != "" {
		warn("--es-password on the command line can end up in shell history and process lists; prefer ES_PASSWORD or --es-password-file")
	}
	if f.apiKey != "" {
		warn("--es-api-key on the command line can end up in shell history and process lists; prefer ES_API_KEY or --es-api-key-file")
	}
	if f.caCert != "" {
		if cfg.CACert, err = os.ReadFile(f.caCert); err != nil {
			return cfg, fmt.Errorf("--es-ca-cert: %w", err)
		}
	}
	if f.insecure {
		warn("TLS certificate verification is disabled (--es-insecure-skip-verify): anyone on the path can read the credentials and the flow logs; use --es-ca-cert instead")
	}
	return cfg, nil
}

// window sets the time window to read (--since or --start-time, --end-time,
// --es-overlap).
func (f *esFlags) window(o *observe.ESOptions) error {
	var err error
	since, fromTime, toTime := f.value("since"), f.value("start-time"), f.value("end-time")
	if fromTime != "" && f.changed("since") {
		return errors.New("give --since or --start-time, not both")
	}
	if fromTime != "" {
		if o.From, err = esParseTime("start-time", fromTime); err != nil {
			return err
		}
	} else {
		if since == "" {
			// --since is shared with Goldmane, whose default is empty
			// (all it retains); Elasticsearch's is 7d.
			since = esDefaultSince
		}
		if o.Since, err = config.ParseDuration(since); err != nil || o.Since <= 0 {
			return fmt.Errorf("--since %q: want a positive duration such as 7d or 36h", since)
		}
	}
	if toTime != "" {
		if o.To, err = esParseTime("end-time", toTime); err != nil {
			return err
		}
		if !o.From.IsZero() && !o.To.After(o.From) {
			return errors.New("--end-time must be after --start-time")
		}
	}
	if o.Overlap, err = config.ParseDuration(f.overlap); err != nil || o.Overlap < 0 {
		return fmt.Errorf("--es-overlap %q: want a duration such as 10m (0 for none)", f.overlap)
	}
	return nil
}

// runElasticsearch observes Elasticsearch into the store; the caller saves
// it, then reports with printESReport.
func runElasticsearch(ctx context.Context, g *globals, st *allowlist.Store, f *esFlags) (*observe.ESResult, error) {
	w := g.stderr
	o, err := f.options(func(msg string) { fmt.Fprintln(w, "warning:", msg) })
	if err != nil {
		return nil, err
	}
	if g.isTerminal != nil && g.isTerminal() {
		o.Progress = w
	}
	return observe.Elasticsearch(ctx, st, o)
}

func printESReport(g *globals, res *observe.ESResult) {
	w := g.stderr
	fmt.Fprintf(w, "elasticsearch %s: %s .. %s", res.SourceID, res.From.Format(time.RFC3339), res.To.Format(time.RFC3339))
	if res.Resumed {
		fmt.Fprint(w, " (resumed)")
	}
	fmt.Fprintln(w)
	for _, n := range res.Notes {
		fmt.Fprintln(w, "  note:", n)
	}
	if res.UpToDate {
		return
	}
	if s := res.Search; s != nil {
		switch s.Mode {
		case es.ModeAggregation:
			fmt.Fprintf(w, "  aggregation push-down: %d pages, %d keys covering %d documents", s.Pages, s.Buckets, s.Docs)
		default:
			fmt.Fprintf(w, "  raw scan: %d pages, %d documents", s.Pages, s.Docs)
		}
		fmt.Fprintf(w, "; %s received in %s\n", esHumanBytes(s.BytesReceived), s.Elapsed.Round(time.Millisecond))
		for _, warn := range s.Warnings {
			fmt.Fprintln(w, "  warning:", warn)
		}
		if d := s.Decode; d.Bad > 0 {
			fmt.Fprintf(w, "  %d bad documents skipped (%s); first examples:\n", d.Bad, reasons(d.ByReason))
			for _, p := range d.Examples {
				fmt.Fprintln(w, "    ", p.String())
			}
		}
	}
	st := res.Stats
	fmt.Fprintf(w, "%d records, %d used for egress allowlists", st.Records, st.Used)
	if len(st.Skipped) > 0 {
		fmt.Fprintf(w, "; not used: %s", reasons(st.Skipped))
	}
	fmt.Fprintln(w)
	if u := st.Unattributed(); u > 0 {
		fmt.Fprintf(w, "warning: %d records could not be attributed to a source namespace\n", u)
	}
	if st.LabelsDropped > 0 {
		fmt.Fprintf(w, "warning: %d labels were left out of selectors because they are not valid Kubernetes labels\n", st.LabelsDropped)
	}
}

func esHumanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
