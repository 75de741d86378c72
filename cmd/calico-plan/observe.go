package main

import (
	"context"
	"fmt"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/observe"
	"github.com/calico-plan/calico-plan/internal/output"
)

type observeOpts struct {
	from       []string
	namespaces string
	snapshot   string
	strict     bool
	workers    int
	es         *esFlags
	goldmane   *goldmaneFlags
	packets    *packetFlags
	loki       *lokiFlags
}

func newObserveCmd(g *globals) *cobra.Command {
	o := &observeOpts{}
	cmd := &cobra.Command{
		Use:   "observe (--from PATH... | --es URL | --goldmane HOST:PORT | --goldmane-kube | --loki URL) [--pods FILE] [--namespace-file FILE | --cluster FILE]",
		Short: "Read flow logs into the allowlist store",
		Long: `observe reads Calico flow logs and merges each namespace's egress into the
allowlist store (--store, default ./allowlists): one YAML file per namespace
with every peer and port seen, and evidence (flows, bytes, first and last seen,
days seen, a sample of workloads).

Inputs (--from, repeatable): files, directories (read recursively), globs, or
'-' for stdin; gzip is read transparently. Formats are detected per file:
  - Calico Enterprise flows.log (JSON lines), Elasticsearch documents, a saved
    _search response, Linseed {"items": [...]} lists
  - Goldmane flows as emitter JSON or protojson, one per line or as an array
  - Whisker GET /flows responses and its SSE stream (lower fidelity: warned)
  - kernel LOG lines written by Calico's Log rule ("calico-packet: IN=cali..."):
    journalctl -k -o short-iso / short-iso-precise / json, kern.log with
    RFC 3339 times, dmesg --time-format iso or -T, logcli output (default or
    jsonl) and saved Loki query_range answers. They carry the exact
    addresses Goldmane lacks (README: "Packet logs")

Only flows reported by the source (reporter=src) from pods count: a pod-to-pod
connection is reported twice, and the dst copy is ignored. Denied flows are
kept apart and never allowlisted. Running observe twice on the same data
changes nothing: each file's content hash is remembered, and a file that grew
since (a live flows.log) is read from where the previous run stopped.

Bad records (malformed JSON, wrong types, unknown enums, truncated lines or
gzip, impossible values: times missing, before 2015 or from 2100 on, an end
before the start, a record longer than 2 days, negative counts, destination
port 0 on TCP/UDP/SCTP) are skipped, counted and reported with file, line and
field; --strict makes the first one fatal and leaves the store untouched. An
input with bad records and no valid one (not a flow log?) is rejected: nothing
of it is counted or remembered, and observe exits 1 once the other inputs are
saved. A gzip file cut off mid-stream (copied while it was written) is read up
to its last complete line; the rest is read when the complete file is observed.

observe is the only command that creates a store, and only once a read
succeeded: a source that cannot be reached leaves nothing behind. A store
whose _store.yaml is missing or damaged is refused (restore it from git).

--namespace-file takes 'kubectl get ns -o yaml' output (a NamespaceList or
Namespace documents), --cluster a snapshot ('calico-plan snapshot'), to learn
each namespace's tier from its label.`,
		Example: `  # a day of Calico Enterprise flow logs, rotated files included
  calico-plan observe --from /var/log/calico/flowlogs/ --namespace-file ns.yaml

  # a saved Elasticsearch search and a Goldmane capture
  calico-plan observe --from search.json --from goldmane-flows.json

  # from a pipe
  kubectl exec -n calico-system ds/calico-node -- cat /var/log/calico/flowlogs/flows.log | calico-plan observe --from -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runObserve(cmd, g, o) },
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.from, "from", nil, "flow-log file, directory, glob or '-' (repeatable)")
	f.StringVar(&o.namespaces, "namespace-file", "", "Namespace list (kubectl get ns -o yaml) to assign tiers from labels")
	deprecatedAlias(cmd, "namespace-file", "namespaces")
	f.StringVar(&o.snapshot, "cluster", "", "cluster snapshot (from 'calico-plan snapshot') to assign tiers from its namespaces' labels")
	f.BoolVar(&o.strict, "strict", false, "fail on the first bad record instead of skipping it")
	f.IntVar(&o.workers, "workers", 0, "decoding goroutines per input (default: number of CPUs)")
	f.String("since", "", "first observe of a time-based source: read the last DURATION (e.g. 60m, 7d; Elasticsearch default 7d, Goldmane default all it retains)")
	f.Bool("allow-partial", false, "keep data read with errors (timed-out search, lost shards, shifting pages), with a warning recorded in the store")
	o.es = addElasticsearchFlags(cmd)
	o.goldmane = addGoldmaneFlags(cmd)
	o.packets = addPacketFlags(cmd)
	o.loki = addLokiFlags(cmd)
	// --from is the input; the window's edges are not "from"s.
	deprecatedAlias(cmd, "start-time", "from-time")
	deprecatedAlias(cmd, "end-time", "to-time")
	groupFlagsInHelp(cmd, observeFlagGroups)
	return cmd
}

func runObserve(cmd *cobra.Command, g *globals, o *observeOpts) error {
	if len(o.from) == 0 && !o.es.enabled() && !o.goldmane.enabled() && !o.loki.enabled() {
		return fmt.Errorf("nothing to observe: give --from PATH (a file, directory, glob or '-'), --es URL (Calico Enterprise), --goldmane HOST:PORT / --goldmane-kube (Calico OSS 3.30+) or --loki URL (packet-log lines)")
	}
	var nsLabels cluster.NamespaceLabels
	if o.namespaces != "" || o.snapshot != "" {
		var err error
		if nsLabels, err = loadNamespaceLabels(o.snapshot, o.namespaces); err != nil {
			return err
		}
	}
	// Nothing is created before the first read succeeds: a new store's
	// directory, lock and files appear with its first save.
	w, err := g.openStoreForWrite(true)
	if err != nil {
		return err
	}
	defer w.close()
	st := w.st
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var files *observe.Result
	if len(o.from) > 0 {
		if files, err = observeFiles(ctx, g, st, o); err != nil {
			return err
		}
	}
	var es *observe.ESResult
	if o.es.enabled() {
		if es, err = runElasticsearch(ctx, g, st, o.es); err != nil {
			return err
		}
	}
	var lk *observe.LokiResult
	if o.loki.enabled() {
		if lk, err = runLoki(ctx, g, st, o.loki, o.packets, &o.goldmane.live, o.strict); err != nil {
			return err
		}
	}
	if nsLabels != nil {
		st.SetNamespaceLabels(nsLabels)
	}
	// Reports say "ingested" only once the store is saved. A new store is
	// not created when every input was rejected.
	saved := false
	if es != nil || (lk != nil && !lk.UpToDate) || (files != nil && (!st.IsNew() || len(files.Rejected()) < len(files.Inputs))) {
		if err := w.save(); err != nil {
			return err
		}
		saved = true
	}
	if files != nil {
		printObserveReport(g, files, st.Dir, saved)
	}
	if es != nil {
		printESReport(g, es)
	}
	if lk != nil {
		printLokiReport(g, lk)
	}
	if files != nil {
		if err := rejectedError(files); err != nil {
			return err
		}
	}
	if o.goldmane.enabled() {
		return runGoldmane(ctx, g, w, o.goldmane)
	}
	return nil
}

// observeFiles observes the --from inputs, with progress on a terminal.
func observeFiles(ctx context.Context, g *globals, st *allowlist.Store, o *observeOpts) (*observe.Result, error) {
	packets, err := o.packets.packetOptions(ctx, g, st, &o.goldmane.live)
	if err != nil {
		return nil, err
	}
	opt := observe.FileOptions{Paths: o.from, Strict: o.strict, Workers: o.workers, Stdin: g.stdin, Packets: packets}
	if g.isTerminal() {
		opt.Progress = observe.NewProgress(g.stderr, 500*time.Millisecond)
	}
	res, err := observe.Files(ctx, st, opt)
	if opt.Progress != nil {
		opt.Progress.Stop()
	}
	return res, err
}

// rejectedError names the inputs that were rejected; nil when none was.
func rejectedError(files *observe.Result) error {
	rej := files.Rejected()
	if len(rej) == 0 {
		return nil
	}
	names := make([]string, len(rej))
	for i, in := range rej {
		names[i] = in.Name
	}
	return fmt.Errorf("%d of %d inputs rejected, nothing of them counted or recorded as ingested: %s (see the notes above)", len(rej), len(files.Inputs), strings.Join(names, ", "))
}

func printObserveReport(g *globals, res *observe.Result, dir string, saved bool) {
	w := g.stderr
	for _, in := range res.Inputs {
		line := fmt.Sprintf("%s: %s", in.Name, in.Outcome)
		if in.Outcome != observe.OutcomeSkipped {
			line += fmt.Sprintf(" (%s, %d records, %d used for egress, %d bad)", in.Decode.Format, in.Decode.Records, in.Used, in.Decode.Bad)
		}
		fmt.Fprintln(w, line)
		if p := in.Decode.Packets; p != nil {
			fmt.Fprintf(w, "  packet log: %d LOG lines, %d counted once per 5-tuple and window (%d repeats), %d from host interfaces, %d unattributed, %d ambiguous, %d other lines\n",
				p.Lines, p.Lines-p.Repeats, p.Repeats, p.Host, p.Unattributed, p.Ambiguous, p.Other)
		}
		for _, n := range in.Notes {
			fmt.Fprintln(w, "  note:", n)
		}
		for _, warn := range in.Decode.Warnings {
			fmt.Fprintln(w, "  warning:", warn)
		}
	}
	d := res.Decode
	if d.Bad > 0 {
		fmt.Fprintf(w, "%s skipped (%s); first examples:\n", output.Plural(int(d.Bad), "bad record"), reasons(d.ByReason))
		for _, p := range d.Examples {
			fmt.Fprintln(w, "  ", p.String())
		}
	}
	s := res.Stats
	fmt.Fprintf(w, "%d records, %d used for egress allowlists", s.Records, s.Used)
	if len(s.Skipped) > 0 {
		fmt.Fprintf(w, "; not used: %s", reasons(s.Skipped))
	}
	fmt.Fprintln(w)
	if u := s.Unattributed(); u > 0 {
		fmt.Fprintf(w, "warning: %d records could not be attributed to a source namespace\n", u)
	}
	if s.LabelsDropped > 0 {
		fmt.Fprintf(w, "warning: %d labels were left out of selectors because they are not valid Kubernetes labels\n", s.LabelsDropped)
	}
	if !saved {
		fmt.Fprintf(w, "store: %s not created: nothing was ingested\n", dir)
		return
	}
	fmt.Fprintf(w, "store: %s (see 'calico-plan status --store %s')\n", dir, dir)
}

func reasons(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
