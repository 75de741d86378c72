package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/output"
)

func newStatusCmd(g *globals) *cobra.Command {
	var now string
	var only []string
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "status [-n NS...] [-o table|wide|json|yaml|md]",
		Short: "Show each namespace's observation window, stability and rollout stage",
		Long: `status summarizes the store: the observed window, the sources ingested, and for
each namespace its tier, rollout stage, stability state and entry counts.

States (judged against the newest observed flow, or --now, never the wall clock):
  Learning     a new entry appeared within the stabilization period (default 72h)
  Stabilizing  no new entry for the stabilization period, but observed for less
               than the minimum window (default 7d)
  Stable       observed at least the minimum window and quiet for the
               stabilization period: a candidate for a staged policy
  NoData       no flows from this namespace

An observation gap (for example Goldmane data lost while no collector ran)
restarts both clocks. status warns when the newest observation is older than
the profile's stability.staleAfter (default 24h) compared with the wall clock.

The table fits 100 columns: times are relative to the judging time, and NEXT
is the next step for the namespace (wait, promote, explain, done). It ends
with a summary line. -o wide adds every column at full length (stable at,
last flow, would-deny entries); -o json and yaml carry everything.
-n NS (repeatable) shows only those namespaces; the store's window, sources
and warnings stay the whole store's.`,
		Example: `  calico-plan status
  calico-plan status -n recruiter-responder -n n8n
  calico-plan status -o json | jq '.namespaces[] | select(.state == "Stable") | .name'
  calico-plan status --now 2026-11-27`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := out.format()
			if err != nil {
				return err
			}
			at, err := parseNow(now)
			if err != nil {
				return err
			}
			st, err := g.openStore()
			if err != nil {
				return err
			}
			rep := buildStatus(st, at, time.Now())
			if err := rep.only(st, only); err != nil {
				return err
			}
			switch f {
			case output.JSON:
				return output.WriteJSON(g.stdout, rep)
			case output.YAML:
				return output.WriteYAML(g.stdout, rep)
			}
			return printStatus(g, rep, f)
		},
	}
	out = addOutputFlag(cmd, output.Table, output.Wide, output.JSON, output.YAML, output.MD)
	cmd.Flags().StringArrayVarP(&only, "namespace", "n", nil, "show only this namespace (repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("namespace", completeNamespaces(g))
	cmd.Flags().StringVar(&now, "now", "", "judge stability at this time (RFC 3339 or YYYY-MM-DD) instead of the newest observed flow")
	return cmd
}

type statusReport struct {
	Store      string            `json:"store" yaml:"store"`
	From       allowlist.Time    `json:"from" yaml:"from"`
	To         allowlist.Time    `json:"to" yaml:"to"`
	JudgedAt   allowlist.Time    `json:"judgedAt" yaml:"judgedAt"`
	Sources    int               `json:"sources" yaml:"sources"`
	Ingest     allowlist.Ingest  `json:"ingest" yaml:"ingest"`
	Gaps       []allowlist.Gap   `json:"gaps,omitempty" yaml:"gaps,omitempty"`
	Warnings   []string          `json:"warnings,omitempty" yaml:"warnings,omitempty"`
	Namespaces []namespaceStatus `json:"namespaces" yaml:"namespaces"`
	// total is the store's namespace count when -n shows fewer (0: all).
	total int
}

type namespaceStatus struct {
	Name       string         `json:"name" yaml:"name"`
	Tier       string         `json:"tier" yaml:"tier"`
	TierSource string         `json:"tierSource" yaml:"tierSource"`
	Stage      string         `json:"stage" yaml:"stage"`
	State      string         `json:"state" yaml:"state"`
	Reason     string         `json:"reason" yaml:"reason"`
	ObservedH  float64        `json:"observedHours" yaml:"observedHours"`
	QuietH     float64        `json:"quietHours" yaml:"quietHours"`
	StableAt   allowlist.Time `json:"stableAt" yaml:"stableAt"`
	Egress     int            `json:"egressEntries" yaml:"egressEntries"`
	Denied     int            `json:"deniedEntries" yaml:"deniedEntries"`
	WouldDeny  int            `json:"wouldDenyEntries" yaml:"wouldDenyEntries"`
	LastFlow   allowlist.Time `json:"lastFlow" yaml:"lastFlow"`
	Excluded   bool           `json:"excluded,omitempty" yaml:"excluded,omitempty"`
	// AddressGaps are public ports without packet-log addresses (they
	// render as any public address; promote's address-evidence gate).
	AddressGaps []string `json:"addressGaps,omitempty" yaml:"addressGaps,omitempty"`
}

// only keeps the rows of the named namespaces (all for none); a name the
// store does not have is an error with a suggestion.
func (r *statusReport) only(st *allowlist.Store, names []string) error {
	if len(names) == 0 {
		return nil
	}
	keep := map[string]bool{}
	for _, name := range names {
		if st.Namespace(name) == nil {
			return unknownNamespace(st, name, "is not in the store")
		}
		keep[name] = true
	}
	rows := r.Namespaces[:0]
	for _, ns := range r.Namespaces {
		if keep[ns.Name] {
			rows = append(rows, ns)
		}
	}
	r.total, r.Namespaces = len(r.Namespaces), rows
	return nil
}

func buildStatus(st *allowlist.Store, at allowlist.Time, wall time.Time) *statusReport {
	m := st.Meta
	rep := &statusReport{Store: st.Dir, From: m.Observation.From, To: m.Observation.To, Sources: len(m.Sources), Ingest: m.Ingest, Gaps: m.Gaps, Warnings: append([]string(nil), m.Warnings...)}
	judge := at
	if judge == 0 {
		judge = m.Observation.To
	}
	rep.JudgedAt = judge
	ref := wall
	if at != 0 {
		ref = at.T()
	}
	stale := st.Profile().Stability.StaleAfter.D()
	if m.Observation.To != 0 && stale > 0 && ref.Sub(m.Observation.To.T()) > stale {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("the newest observation (%s) is %s old: run observe again before promoting", m.Observation.To, roundHours(ref.Sub(m.Observation.To.T()))))
	}
	if u := m.Ingest.Unattributed(); u > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d records could not be attributed to a source namespace", u))
	}
	if m.Ingest.Bad > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d bad records were skipped while observing", m.Ingest.Bad))
	}
	for _, s := range m.Sources {
		if s.Partial {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("source %s %s was read partially: allowlists may miss entries", s.Kind, s.ID))
		}
	}
	for _, n := range st.Namespaces() {
		a := allowlist.Assess(n, judge, st.Profile().Stability)
		ns := namespaceStatus{
			Name: n.Namespace, Tier: n.Tier, TierSource: n.TierSource, Stage: n.Rollout.Stage,
			State: a.State, Reason: a.Reason, ObservedH: a.Observed.Hours(), QuietH: a.Quiet.Hours(), StableAt: a.StableAt,
			Egress: len(n.Egress), Denied: len(n.Denied), WouldDeny: len(n.WouldDeny), LastFlow: n.Observation.To,
			Excluded: st.Profile().Excluded(n.Namespace),
		}
		for _, gp := range n.AddressGaps() {
			ns.AddressGaps = append(ns.AddressGaps, "public "+gp.Port)
		}
		rep.Namespaces = append(rep.Namespaces, ns)
	}
	return rep
}

func roundHours(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%.1fd", d.Hours()/24)
	}
	return d.Round(time.Minute).String()
}

func days(h float64) string { return strconv.FormatFloat(h/24, 'f', 1, 64) + "d" }

func printStatus(g *globals, rep *statusReport, f output.Format) error {
	w := g.stdout
	if rep.To == 0 {
		fmt.Fprintf(w, "store %s is empty: run 'calico-plan observe --from PATH' first\n", rep.Store)
		return nil
	}
	shown := output.Plural(len(rep.Namespaces), "namespace")
	if rep.total > 0 {
		shown = fmt.Sprintf("%d of %s shown", len(rep.Namespaces), output.Plural(rep.total, "namespace"))
	}
	fmt.Fprintf(w, "store %s: %s, %s, %d records read, %d used for egress allowlists\n",
		rep.Store, shown, output.Plural(rep.Sources, "source"), rep.Ingest.Records, rep.Ingest.Used)
	fmt.Fprintf(w, "observed %s to %s; judged at %s\n\n", rep.From, rep.To, rep.JudgedAt)
	if f == output.Table {
		return printStatusTable(g, rep)
	}
	t := &output.Tab{Headers: []string{"NAMESPACE", "TIER", "STAGE", "STATE", "OBSERVED", "QUIET", "STABLE AT", "PEERS", "DENIED", "WOULD-DENY", "LAST FLOW"}}
	for _, n := range rep.Namespaces {
		stage := n.Stage
		if n.Excluded {
			stage += " (excluded)"
		}
		stableAt := "-"
		if n.State != "Stable" && n.StableAt != 0 {
			stableAt = n.StableAt.String()
		}
		t.Add(n.Name, n.Tier, stage, n.State, days(n.ObservedH), days(n.QuietH), stableAt,
			strconv.Itoa(n.Egress), strconv.Itoa(n.Denied), strconv.Itoa(n.WouldDeny), n.LastFlow.String())
	}
	var err error
	if f == output.MD {
		err = t.WriteMarkdown(w)
	} else {
		err = t.WriteText(w)
	}
	if err != nil {
		return err
	}
	for _, gp := range rep.Gaps {
		fmt.Fprintf(w, "gap: %s to %s (%s: %s)\n", gp.From, gp.To, gp.Source, gp.Reason)
	}
	for _, n := range rep.Namespaces {
		if len(n.AddressGaps) > 0 && !n.Excluded {
			fmt.Fprintf(w, "address gap: %s: %s without packet-log addresses (renders as any public address; observe the LOG lines with --from kern.log --pods or --loki)\n", n.Name, strings.Join(n.AddressGaps, ", "))
		}
	}
	for _, warn := range rep.Warnings {
		fmt.Fprintln(w, "warning:", warn)
	}
	return nil
}
