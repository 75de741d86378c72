package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/output"
	"github.com/calico-plan/calico-plan/internal/rollout"
)

// observeCommand is the observe command that brings more data from the
// sources the store actually uses: Goldmane users are told --goldmane,
// Elasticsearch users --es, files --from.
func observeCommand(st *allowlist.Store, storeArgs string) string {
	var args []string
	add := func(a string) {
		if !slices.Contains(args, a) {
			args = append(args, a)
		}
	}
	for _, s := range st.Meta.Sources {
		switch s.Kind {
		case allowlist.SourceGoldmane:
			if strings.HasPrefix(s.ID, "kube/") {
				add("--goldmane-kube")
			} else {
				add("--goldmane HOST:PORT")
			}
		case allowlist.SourceElasticsearch:
			add("--es URL")
		case allowlist.SourceLoki:
			add("--loki URL")
		case allowlist.SourceFile:
			add("--from FLOWS")
		}
	}
	if len(args) == 0 {
		args = []string{"--from FLOWS"}
	}
	return "calico-plan observe" + storeArgs + " " + strings.Join(args, " ")
}

// printWavesTable is waves -o table: the plan in output.Width columns.
// NEXT names the step; the commands, with the flags they need, follow the
// table once each. -o wide prints every command in full on its row.
func printWavesTable(g *globals, p *rollout.Plan, storeArgs, clusterArgs string) error {
	w := g.stdout
	fmt.Fprintf(w, "judged at %s; at most %d per wave; tiers: %s\n", output.Or(p.JudgedAt.String(), "-"), p.PerWave, output.Or(strings.Join(p.Tiers, ", "), "none"))
	fmt.Fprintf(w, "cluster facts: %s\n\n", p.Facts)
	t := &output.Tab{Headers: []string{"WAVE", "TIER", "NAMESPACE", "STAGE", "STATE", "PEERS", "UNMET GATES", "NEXT"}}
	var cmds []string
	pinned := false
	for _, wv := range p.Waves {
		num := fmt.Sprint(wv.Number)
		if wv.Pinned {
			num += "*"
			pinned = true
		}
		for _, n := range wv.Namespaces {
			ids := make([]string, len(n.UnmetGates))
			for i, g := range n.UnmetGates {
				ids[i] = g.ID
				if g.Unknown {
					ids[i] += "?"
				}
			}
			next, full := shortNext(n, p, storeArgs, clusterArgs)
			if full != "" && !slices.Contains(cmds, full) {
				cmds = append(cmds, full)
			}
			t.Add(num, wv.Tier, n.Name, n.Stage, n.State, fmt.Sprint(n.Peers), output.Or(strings.Join(ids, " "), "-"), next)
		}
	}
	t.WrapColumns(output.Width, []int{6, 7}, []int{12, 16})
	var tb strings.Builder
	if err := t.WriteText(&tb); err != nil {
		return err
	}
	if err := g.table(tb.String()); err != nil {
		return err
	}
	if pinned {
		fmt.Fprintln(w, "* pinned (the profile's rollout.pinned: the pilot goes first)")
	}
	if len(cmds) > 0 {
		fmt.Fprintln(w, "\nnext commands (NS: the namespace of the row; full commands: -o wide):")
		for _, c := range cmds {
			fmt.Fprintln(w, "  "+wrapCommand(c, output.Width-4))
		}
	}
	if p.Next != nil {
		p.Next.WriteNext(w)
	}
	for _, sec := range []struct {
		title string
		list  []rollout.Listed
	}{{"deferred", p.Deferred}, {"excluded", p.Excluded}, {"unassigned", p.Unassigned}} {
		if len(sec.list) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", sec.title)
		for _, l := range sec.list {
			tier := ""
			if l.Tier != "" {
				tier = " (" + l.Tier + ")"
			}
			fmt.Fprintln(w, "  "+output.Wrap(fmt.Sprintf("%s%s: %s", l.Name, tier, l.Reason), output.Width-2, "    "))
		}
	}
	for _, n := range p.Notes {
		fmt.Fprintln(w, "\n"+output.Wrap("note: "+n, output.Width, "  "))
	}
	return nil
}

// shortNext is the NEXT cell of a namespace and the command it stands for
// (with NS for the namespace), or "" when there is none.
func shortNext(n rollout.NamespacePlan, p *rollout.Plan, storeArgs, clusterArgs string) (string, string) {
	next := n.Next
	if next == "" {
		return "done", ""
	}
	comment := ""
	if i := strings.Index(next, "#"); i >= 0 {
		next, comment = strings.TrimSpace(next[:i]), strings.TrimSpace(next[i+1:])
	}
	full := strings.Replace(next, " --namespace "+n.Name, " --namespace NS", 1)
	cell := strings.TrimPrefix(next, "calico-plan ")
	for _, a := range []string{storeArgs, clusterArgs, " --namespace " + n.Name} {
		if a != "" {
			cell = strings.Replace(cell, a, "", 1)
		}
	}
	if fields := strings.Fields(cell); len(fields) > 0 {
		cell = fields[0]
		if to := strings.Index(next, " --to "); to >= 0 {
			cell += " → " + strings.Fields(next[to+len(" --to "):])[0]
		}
	}
	if n.StableAt != 0 && n.State != "Stable" && strings.Contains(comment, "Stable at") {
		cell += " (Stable " + output.Ago(n.StableAt.T(), p.JudgedAt.T()) + ")"
	}
	return cell, full
}

// wrapCommand breaks a long command into shell continuation lines, never
// between a flag and its value.
func wrapCommand(c string, width int) string {
	words := strings.Fields(c)
	var groups []string
	for i := 0; i < len(words); i++ {
		g := words[i]
		if strings.HasPrefix(g, "--") && i+1 < len(words) && !strings.HasPrefix(words[i+1], "-") {
			g += " " + words[i+1]
			i++
		}
		groups = append(groups, g)
	}
	var b strings.Builder
	line := 0
	for i, g := range groups {
		n := len([]rune(g))
		switch {
		case i == 0:
		case line+1+n > width:
			b.WriteString(" \\\n      ")
			line = 6
		default:
			b.WriteByte(' ')
			line++
		}
		b.WriteString(g)
		line += n
	}
	return b.String()
}
