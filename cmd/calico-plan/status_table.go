package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/output"
)

// printStatusTable is status -o table: the columns that decide what to do
// next, fitted into output.Width columns, and a summary line.
func printStatusTable(g *globals, rep *statusReport) error {
	w := g.stdout
	t := &output.Tab{Headers: []string{"NAMESPACE", "TIER", "STAGE", "STATE", "AGE", "QUIET", "PEERS", "DENIED", "NEXT"}}
	states := map[string]int{}
	stages := map[string]int{}
	excluded := 0
	var gaps []string
	for _, n := range rep.Namespaces {
		stage := n.Stage
		if n.Excluded {
			stage = "excluded"
			excluded++
		} else {
			states[n.State]++
			stages[n.Stage]++
			if len(n.AddressGaps) > 0 {
				gaps = append(gaps, n.Name)
			}
		}
		denied := strconv.Itoa(n.Denied)
		if n.WouldDeny > 0 {
			denied += "+" + strconv.Itoa(n.WouldDeny) + "wd"
		}
		t.Add(n.Name, n.Tier, stage, n.State, shortDays(n.ObservedH), shortDays(n.QuietH), strconv.Itoa(n.Egress), denied, statusNext(rep, n))
	}
	cut := t.Fit(output.Width, len(t.Headers)-1, 12)
	var tb strings.Builder
	if err := t.WriteText(&tb); err != nil {
		return err
	}
	if err := g.table(tb.String()); err != nil {
		return err
	}
	for _, gp := range rep.Gaps {
		fmt.Fprintln(w, output.Wrap(fmt.Sprintf("gap: %s to %s (%s: %s)", gp.From, gp.To, gp.Source, gp.Reason), output.Width, "  "))
	}
	for _, n := range rep.Namespaces {
		if len(n.AddressGaps) > 0 && !n.Excluded {
			fmt.Fprintln(w, output.Wrap(fmt.Sprintf("address gap: %s: %s without packet-log addresses", n.Name, strings.Join(n.AddressGaps, ", ")), output.Width, "  "))
		}
	}
	if len(gaps) > 0 {
		fmt.Fprintln(w, output.Wrap("  (an address gap renders as any public address; observe the LOG lines with --from kern.log --pods, or --loki)", output.Width, "  "))
	}
	for _, warn := range rep.Warnings {
		fmt.Fprintln(w, output.Wrap("warning: "+warn, output.Width, "  "))
	}
	var parts []string
	for _, s := range []string{"Stable", "Stabilizing", "Learning", "NoData"} {
		if states[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", states[s], s))
		}
	}
	for _, s := range []string{allowlist.StageObserve, allowlist.StageStaged, allowlist.StageEnforced} {
		if stages[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", stages[s], s))
		}
	}
	if excluded > 0 {
		parts = append(parts, fmt.Sprintf("%d excluded", excluded))
	}
	summary := fmt.Sprintf("%d namespaces: %s. AGE: observed for, QUIET: no new entry for, DENIED: denied+would-deny (wd) entries; NEXT Stable in 1d: observe again then. Next: calico-plan waves%s",
		len(rep.Namespaces), strings.Join(parts, ", "), g.globalArgs())
	if cut {
		summary += " (cut to fit: -o wide)"
	}
	fmt.Fprintln(w, "\n"+output.Wrap(summary, output.Width, ""))
	return nil
}

// statusNext is the next step for a namespace, in a few words.
func statusNext(rep *statusReport, n namespaceStatus) string {
	switch {
	case n.Excluded || n.Stage == allowlist.StageExcluded:
		return "-"
	case n.State == "NoData":
		return "observe"
	case n.Stage == allowlist.StageEnforced:
		return "done"
	case n.WouldDeny > 0:
		return "explain (wd)"
	case n.State != "Stable":
		if n.StableAt != 0 {
			return "Stable " + output.Ago(n.StableAt.T(), rep.JudgedAt.T())
		}
		return "observe more"
	case n.Stage == allowlist.StageStaged:
		return "promote → enforced"
	}
	return "promote → staged"
}

// shortDays is hours as whole days ("14d"), or hours under two days.
func shortDays(h float64) string {
	if h < 48 {
		return strconv.FormatFloat(h, 'f', 0, 64) + "h"
	}
	return strconv.FormatFloat(h/24, 'f', 0, 64) + "d"
}
