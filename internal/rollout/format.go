package rollout

import (
	"fmt"
	"io"
	"strings"

	"github.com/calico-plan/calico-plan/internal/output"
)

// WriteMarkdown writes the plan as a Markdown document: one table per
// wave, then the deferred, excluded and unassigned namespaces, then notes.
func (p *Plan) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# Rollout waves\n\n")
	fmt.Fprintf(&b, "Judged at %s (the newest observed flow). Cluster facts: %s. At most %d namespaces per wave; tiers in rollout order: %s.\n",
		output.Or(p.JudgedAt.String(), "-"), output.MDEscape(p.Facts), p.PerWave, output.Or(strings.Join(p.Tiers, ", "), "none"))
	if len(p.Waves) == 0 {
		b.WriteString("\nNo namespace is scheduled.\n")
	}
	for _, wv := range p.Waves {
		fmt.Fprintf(&b, "\n## Wave %d: tier %s", wv.Number, wv.Tier)
		if wv.Pinned {
			b.WriteString(" (pinned: the pilot)")
		}
		b.WriteString("\n\n| Namespace | Stage | State | Peers | Unmet gates | Next |\n|---|---|---|---|---|---|\n")
		for _, n := range wv.Namespaces {
			gates := make([]string, len(n.UnmetGates))
			for i, g := range n.UnmetGates {
				gates[i] = "**" + output.MDEscape(g.ID) + "**: " + output.MDEscape(g.Reason)
				if g.Unknown {
					gates[i] = "**" + output.MDEscape(g.ID) + "** (unknown): " + output.MDEscape(g.Reason)
				}
			}
			next := "done"
			if n.Next != "" {
				next = mdCode(n.Next)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %s |\n", output.MDEscape(n.Name), n.Stage, n.State, n.Peers, output.Or(strings.Join(gates, "<br>"), "-"), next)
		}
	}
	if len(p.Deferred) > 0 {
		b.WriteString("\n## Deferred\n\nListed, not scheduled (profile tiers.deferred).\n\n| Namespace | Tier | Stage | State | Why |\n|---|---|---|---|---|\n")
		for _, l := range p.Deferred {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", output.MDEscape(l.Name), l.Tier, l.Stage, l.State, output.MDEscape(l.Reason))
		}
	}
	if len(p.Excluded) > 0 {
		b.WriteString("\n## Excluded\n\n| Namespace | Tier | Stage | Why |\n|---|---|---|---|\n")
		for _, l := range p.Excluded {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", output.MDEscape(l.Name), output.Or(l.Tier, "-"), l.Stage, output.MDEscape(l.Reason))
		}
	}
	if len(p.Unassigned) > 0 {
		b.WriteString("\n## Unassigned\n\n| Namespace | Stage | Why |\n|---|---|---|\n")
		for _, l := range p.Unassigned {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", output.MDEscape(l.Name), l.Stage, output.MDEscape(l.Reason))
		}
	}
	if len(p.Notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range p.Notes {
			b.WriteString("- " + n + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteText writes the plan as aligned text: one row per scheduled
// namespace with the IDs of its unmet gates and the next command, then the
// namespaces outside the waves.
func (p *Plan) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "judged at %s; cluster facts: %s; at most %d per wave; tiers: %s\n\n", output.Or(p.JudgedAt.String(), "-"), p.Facts, p.PerWave, output.Or(strings.Join(p.Tiers, ", "), "none"))
	t := &output.Tab{Headers: []string{"WAVE", "TIER", "NAMESPACE", "STAGE", "STATE", "PEERS", "UNMET GATES", "NEXT"}}
	for _, wv := range p.Waves {
		num := fmt.Sprint(wv.Number)
		if wv.Pinned {
			num += " (pinned)"
		}
		for _, n := range wv.Namespaces {
			next := n.Next
			if next == "" {
				next = "done"
			}
			t.Add(num, wv.Tier, n.Name, n.Stage, n.State, fmt.Sprint(n.Peers), output.Or(gateList(n.UnmetGates), "-"), next)
		}
	}
	if err := t.WriteText(w); err != nil {
		return err
	}
	if p.Next != nil {
		p.Next.WriteNext(w)
	}
	for _, sec := range []struct {
		title string
		list  []Listed
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
			fmt.Fprintf(w, "  %s%s: %s\n", l.Name, tier, l.Reason)
		}
	}
	for _, n := range p.Notes {
		fmt.Fprintln(w, "\nnote:", n)
	}
	return nil
}

func mdCode(s string) string { return "`" + strings.ReplaceAll(s, "|", `\|`) + "`" }
