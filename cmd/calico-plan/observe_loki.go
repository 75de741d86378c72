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
	"github.com/calico-plan/calico-plan/flows/loki"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/observe"
)

// Environment variables with Loki credentials (never flags: a flag's value
// shows in the process list and shell history).
const (
	envLokiToken    = "CALICO_PLAN_LOKI_TOKEN"
	envLokiPassword = "CALICO_PLAN_LOKI_PASSWORD"
)

type lokiFlags struct {
	cmd          *cobra.Command
	url          string
	orgID        string
	tokenFile    string
	user         string
	passwordFile string
	ca           string
	insecure     bool
	query        string
	pageSize     int
	delay        time.Duration
}

const lokiHelp = `

Loki (--loki URL): the packet-log lines of the node journal, read with
query_range in pages of at most 5,000 lines (direction=forward, each page
resuming at the previous one's last timestamp, lines seen there dropped). The
query is the profile's packetLogs.lokiSelector (--loki-query overrides it).
The window: --since or --start-time/--end-time the first time (to: now minus
--loki-delay, so lines still being shipped are read next time), then from
where the previous observe stopped. TLS is verified (--loki-ca for a private
CA). Credentials: a bearer token from $` + envLokiToken + ` or --loki-token-file,
or basic auth with --loki-user and $` + envLokiPassword + ` or
--loki-password-file; the tenant with --loki-org-id (X-Scope-OrgID). They are
never printed. Loki's own code is not part of calico-plan.`

const lokiExamples = `

  # Calico OSS: Goldmane's counts and the LOG lines' addresses of the last 7 days
  calico-plan observe --goldmane-kube --loki https://loki.example.lan --since 7d --pods pods.json`

func addLokiFlags(cmd *cobra.Command) *lokiFlags {
	f := &lokiFlags{cmd: cmd}
	fs := cmd.Flags()
	fs.StringVar(&f.url, "loki", "", "Loki base URL to read packet-log lines from (e.g. https://loki.example:3100)")
	fs.StringVar(&f.orgID, "loki-org-id", "", "Loki tenant (X-Scope-OrgID)")
	fs.StringVar(&f.tokenFile, "loki-token-file", "", "file holding a bearer token (or set $"+envLokiToken+")")
	fs.StringVar(&f.user, "loki-user", "", "basic-auth user (password from $"+envLokiPassword+" or --loki-password-file)")
	fs.StringVar(&f.passwordFile, "loki-password-file", "", "file holding the basic-auth password")
	fs.StringVar(&f.ca, "loki-ca", "", "CA certificate PEM that signs Loki's certificate")
	fs.BoolVar(&f.insecure, "loki-insecure-skip-verify", false, "do not verify Loki's certificate (insecure; prints a warning)")
	fs.StringVar(&f.query, "loki-query", "", "LogQL selector and line filters (default: the profile's packetLogs.lokiSelector)")
	fs.IntVar(&f.pageSize, "loki-page-size", loki.MaxPageSize, "lines per query_range request (at most 5000, Loki's max_entries_limit_per_query)")
	fs.DurationVar(&f.delay, "loki-delay", 2*time.Minute, "leave the newest lines for the next observe (they may still be shipped)")
	if fs.Lookup("since") == nil {
		fs.String("since", "", "first observe of a time-based source: read the last DURATION (e.g. 60m, 7d)")
	}
	if fs.Lookup("start-time") == nil {
		fs.String("start-time", "", "window start, RFC 3339 (instead of --since)")
	}
	if fs.Lookup("end-time") == nil {
		fs.String("end-time", "", "window end, RFC 3339 (default now)")
	}
	cmd.Long += lokiHelp
	cmd.Example += lokiExamples
	return f
}

func (f *lokiFlags) enabled() bool { return f.url != "" }

func readSecretFile(flag, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		// The error names the file, not its content.
		return "", fmt.Errorf("--%s: %w", flag, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("--%s: %s is empty", flag, path)
	}
	return s, nil
}

func (f *lokiFlags) options(st *allowlist.Store, warn func(string)) (observe.LokiOptions, error) {
	var o observe.LokiOptions
	cfg := loki.Config{URL: f.url, OrgID: f.orgID, InsecureSkipVerify: f.insecure, PageSize: f.pageSize}
	var err error
	switch {
	case f.tokenFile != "":
		if cfg.BearerToken, err = readSecretFile("loki-token-file", f.tokenFile); err != nil {
			return o, err
		}
	case os.Getenv(envLokiToken) != "":
		cfg.BearerToken = os.Getenv(envLokiToken)
	}
	if f.user != "" {
		if cfg.BearerToken != "" {
			return o, errors.New("give a bearer token or --loki-user, not both")
		}
		cfg.Username = f.user
		switch {
		case f.passwordFile != "":
			if cfg.Password, err = readSecretFile("loki-password-file", f.passwordFile); err != nil {
				return o, err
			}
		case os.Getenv(envLokiPassword) != "":
			cfg.Password = os.Getenv(envLokiPassword)
		default:
			return o, fmt.Errorf("--loki-user needs a password: set $%s or --loki-password-file", envLokiPassword)
		}
	}
	if f.ca != "" {
		if cfg.CACert, err = os.ReadFile(f.ca); err != nil {
			return o, fmt.Errorf("--loki-ca: %w", err)
		}
	}
	if f.insecure {
		warn("TLS certificate verification is disabled (--loki-insecure-skip-verify): anyone on the path can read the credentials and the lines; use --loki-ca instead")
	}
	o.Config, o.Query, o.Delay = cfg, f.query, f.delay
	value := func(name string) string { return f.cmd.Flags().Lookup(name).Value.String() }
	since, fromTime, toTime := value("since"), value("start-time"), value("end-time")
	if fromTime != "" && f.cmd.Flags().Changed("since") {
		return o, errors.New("give --since or --start-time, not both")
	}
	if fromTime != "" {
		if o.From, err = esParseTime("start-time", fromTime); err != nil {
			return o, err
		}
	} else if since != "" {
		if o.Since, err = config.ParseDuration(since); err != nil || o.Since <= 0 {
			return o, fmt.Errorf("--since %q: want a positive duration such as 7d or 36h", since)
		}
	}
	if toTime != "" {
		if o.To, err = esParseTime("end-time", toTime); err != nil {
			return o, err
		}
	}
	return o, nil
}

// runLoki observes Loki into the store; the caller saves it.
func runLoki(ctx context.Context, g *globals, st *allowlist.Store, f *lokiFlags, p *packetFlags, live *clusterFlags, strict bool) (*observe.LokiResult, error) {
	o, err := f.options(st, func(msg string) { fmt.Fprintln(g.stderr, "warning:", msg) })
	if err != nil {
		return nil, err
	}
	if o.Packets, err = p.packetOptions(ctx, g, st, live); err != nil {
		return nil, err
	}
	o.Strict = strict
	return observe.Loki(ctx, st, o)
}

func printLokiReport(g *globals, res *observe.LokiResult) {
	w := g.stderr
	fmt.Fprintf(w, "loki %s: %s .. %s", res.SourceID, res.From.Format(time.RFC3339), res.To.Format(time.RFC3339))
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
	r := res.Read
	fmt.Fprintf(w, "  %d lines from %d streams in %d query_range requests (%d repeated at page boundaries, dropped)\n", r.Lines, r.Streams, r.Requests, r.Duplicates)
	d := res.Decode
	if p := d.Packets; p != nil {
		fmt.Fprintf(w, "  packet log: %d LOG lines, %d counted once per 5-tuple and window (%d repeats), %d from host interfaces, %d unattributed, %d ambiguous, %d other lines\n",
			p.Lines, p.Lines-p.Repeats, p.Repeats, p.Host, p.Unattributed, p.Ambiguous, p.Other)
	}
	for _, warn := range d.Warnings {
		fmt.Fprintln(w, "  warning:", warn)
	}
	if d.Bad > 0 {
		fmt.Fprintf(w, "  %d bad lines skipped (%s); first examples:\n", d.Bad, reasons(d.ByReason))
		for _, p := range d.Examples {
			fmt.Fprintln(w, "    ", p.String())
		}
	}
	s := res.Stats
	fmt.Fprintf(w, "  %d connections, %d used for egress allowlists\n", s.Records, s.Used)
}
