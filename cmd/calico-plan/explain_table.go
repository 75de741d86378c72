package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/output"
)

// printExplainTable is explain -o table: the rules and their evidence in
// output.Width columns (times relative to the newest observed flow,
// workloads left out, long peers and notes cut); -o wide has it all.
func printExplainTable(g *globals, ex *explainReport) error {
	w := g.stdout
	a := ex.Assessment
	wrap := func(s, indent string) string { return output.Wrap(s, output.Width, indent) }
	fmt.Fprintf(w, "namespace %s  tier %s  stage %s\n", ex.Namespace, ex.Tier, ex.Stage)
	fmt.Fprintf(w, "policy %s (%s)\n", ex.Policy, ex.Flavor)
	fmt.Fprintln(w, wrap(fmt.Sprintf("state %s: %s", a.State, a.Reason), "  "))
	fmt.Fprintln(w)
	ago := func(t allowlist.Time) string {
		if t == 0 {
			return "-"
		}
		return output.Ago(t.T(), ex.at.T())
	}
	t := &output.Tab{Headers: []string{"#", "ACTION", "PEER", "PORTS", "FLOWS", "DAYS", "LAST SEEN", "SERVICES / NOTE"}}
	for _, r := range ex.Rules {
		row := []string{strconv.Itoa(r.Index), r.Action, r.Peer, strings.Join(r.Ports, " ")}
		if r.Evidence != nil {
			row = append(row, allowlist.FormatCount(r.Evidence.Flows), strconv.Itoa(len(r.Evidence.Days)), ago(r.Evidence.LastSeen))
		} else {
			row = append(row, "-", "-", "-")
		}
		note := strings.Join(r.Services, " ")
		if r.Note != "" {
			note = strings.TrimSpace(note + " " + r.Note)
		}
		t.Add(append(row, note)...)
	}
	t.WrapColumns(output.Width, []int{7, 2, 3}, []int{21, 28, 8})
	if err := t.WriteText(w); err != nil {
		return err
	}
	for _, sec := range deniedTables(ex, allowlist.FormatCount, ago) {
		fmt.Fprintf(w, "\n%s:\n", sec.title)
		sec.tab.WrapColumns(output.Width, []int{5, 0, 1}, []int{20, 28, 8})
		if err := sec.tab.WriteText(w); err != nil {
			return err
		}
	}
	if len(ex.AddressGaps) > 0 {
		fmt.Fprintf(w, "\nADDRESS GAPS (promote's address-evidence gate):\n")
		for _, gp := range ex.AddressGaps {
			fmt.Fprintln(w, "  "+wrap(gp, "    "))
		}
	}
	if ex.PacketLogs != "" {
		fmt.Fprintf(w, "\nPacket logs:\n%s\n", ex.PacketLogs)
	}
	if len(ex.NotRendered) > 0 {
		fmt.Fprintf(w, "\n%s\n", wrap(fmt.Sprintf("NOT RENDERED: no rule can express these entries; %s, and promote refuses the namespace until they are fixed:", notRenderedEffect(ex.Flavor)), ""))
		for _, u := range ex.NotRendered {
			fmt.Fprintf(w, "  %s\n", wrap(fmt.Sprintf("egress[%d] %s %s (%s flows, last seen %s): %s", u.Entry, u.Peer, strings.Join(u.Ports, " "),
				allowlist.FormatCount(u.Evidence.Flows), ago(u.Evidence.LastSeen), u.Reason), "    "))
		}
	}
	for _, warn := range ex.Warnings {
		fmt.Fprintln(w, "\n"+wrap("warning: "+warn, "  "))
	}
	fmt.Fprintln(w, "\n(first seen and workloads: -o wide; everything: -o json)")
	return nil
}
