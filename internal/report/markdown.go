package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/calico-plan/calico-plan/internal/output"
)

// CommentLimit is the longest pull-request comment GitHub accepts, in
// characters; a longer Markdown report needs -o html or a smaller change.
const CommentLimit = 65536

// detailsAfter is the number of lines of a namespace diff above which the
// Markdown collapses it (as diff -o md does).
const detailsAfter = 8

var esc = output.MDEscape

// statusMark is a summary row's status in Markdown.
var statusMark = map[string]string{StatusOK: "✅ ok", StatusChanges: "📝 changes", StatusProblem: "❌ problem", StatusSkipped: "⏭️ not run"}

// WriteMarkdown writes the report as one pull-request comment: the summary,
// the diff, the check's problems (the rest collapsed), the egress graph of
// what changes as a mermaid block, and the wave plan (the waves the change
// touches open, the others collapsed).
func WriteMarkdown(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## calico-plan report: %s\n\n", r.Result)
	if r.Title != "" {
		fmt.Fprintf(&b, "%s\n\n", esc(r.Title))
	}
	b.WriteString("| part | result | |\n|---|---|---|\n")
	for _, s := range r.Summary {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", s.Part, statusMark[s.Status], esc(s.Text))
	}
	fmt.Fprintf(&b, "\nExit code %d (0 no changes, 2 changes and no problems, 3 check found problems, 1 error).\n\n", r.ExitCode)

	mdDiff(&b, &r.Diff)
	mdCheck(&b, &r.Check)
	mdGraph(&b, &r.Graph)
	mdWaves(&b, &r.Waves)
	_, err := io.WriteString(w, b.String())
	return err
}

func mdDiff(b *strings.Builder, d *DiffSection) {
	fmt.Fprintf(b, "### Diff: %s\n\n", esc(d.Headline))
	fmt.Fprintf(b, "%s → %s, flavor %s.\n\n", esc(d.Old), esc(d.New), esc(d.Flavor))
	if len(d.Namespaces) > 0 {
		b.WriteString("| namespace | added | removed | flows affected by removals |\n|---|---|---|---|\n")
		for _, n := range d.Namespaces {
			fmt.Fprintf(b, "| %s | %d | %d | %d |\n", esc(n.Name), n.Added, n.Removed, n.FlowsCut)
		}
		b.WriteString("\n")
	}
	for _, n := range d.Namespaces {
		var lines []string
		for _, l := range n.Lines {
			lines = append(lines, mdDiffLine(l))
		}
		if len(lines) > detailsAfter {
			fmt.Fprintf(b, "<details><summary>%s</summary>\n\n%s\n\n</details>\n\n", esc(n.Title), strings.Join(lines, "\n"))
		} else {
			fmt.Fprintf(b, "#### %s\n\n%s\n\n", esc(n.Title), strings.Join(lines, "\n"))
		}
	}
	mdList(b, "#### Diff errors", d.Errors, false)
	mdList(b, "Diff notes", d.Notes, true)
}

func mdDiffLine(l DiffLine) string {
	note := ""
	if l.Note != "" {
		note = ": " + l.Note
	}
	switch l.Kind {
	case LineRemoved:
		return "- **−** " + esc(l.Text+note)
	case LineAdded:
		return "- **\\+** " + esc(l.Text+note)
	}
	return "- " + esc(l.Text+note)
}

// mdList writes a list under a heading, or collapsed under a summary.
func mdList(b *strings.Builder, title string, items []string, collapsed bool) {
	if len(items) == 0 {
		return
	}
	if collapsed {
		fmt.Fprintf(b, "<details><summary>%s</summary>\n\n", title)
	} else {
		fmt.Fprintf(b, "%s\n\n", title)
	}
	for _, s := range items {
		fmt.Fprintf(b, "- %s\n", esc(s))
	}
	b.WriteString("\n")
	if collapsed {
		b.WriteString("</details>\n\n")
	}
}

func mdCheck(b *strings.Builder, c *CheckSection) {
	if !c.Ran {
		fmt.Fprintf(b, "### Check: not run\n\n%s\n\n", esc(c.Note))
		return
	}
	fmt.Fprintf(b, "### Check: %s\n\n", esc(c.Headline))
	if c.Note != "" {
		fmt.Fprintf(b, "%s ", esc(c.Note))
	}
	fmt.Fprintf(b, "%s\n\n", esc(c.Intro))
	b.WriteString("| check | count |\n|---|---|\n")
	for _, n := range c.Counts {
		v := n.Value
		if n.Problem {
			v = "**" + v + "**"
		}
		fmt.Fprintf(b, "| %s | %s |\n", n.Label, v)
	}
	b.WriteString("\n")
	mdList(b, "#### Policy files", c.PolicyProblems, false)
	for _, t := range c.Tables {
		if t.Open {
			fmt.Fprintf(b, "#### %s (%s)\n\n", t.Title, output.Plural(t.Records, "record"))
		} else {
			fmt.Fprintf(b, "<details><summary>%s: %s in %s</summary>\n\n", t.Title, output.Plural(t.Records, "record"), output.Plural(len(t.Rows)+t.More, "group"))
		}
		b.WriteString("| source | destination | port | records | flows | last seen | verdict |\n|---|---|---|---|---|---|---|\n")
		for _, r := range t.Rows {
			fmt.Fprintf(b, "| %s | %s | %s | %d | %d | %s | %s |\n", esc(r.Source), esc(r.Dest), esc(r.Port), r.Records, r.Flows, r.LastSeen, esc(r.Verdict))
		}
		if t.More > 0 {
			fmt.Fprintf(b, "| … %d more groups (see `calico-plan check -o json`) | | | | | | |\n", t.More)
		}
		b.WriteString("\n")
		if !t.Open {
			b.WriteString("</details>\n\n")
		}
	}
	if len(c.ProbesAllowed) > 0 {
		b.WriteString("#### Probes that got through\n\nUnobserved egress from a namespace these policies lock down should be denied.\n\n")
		b.WriteString("| namespace | probes | from | allowed by |\n|---|---|---|---|\n")
		for _, p := range c.ProbesAllowed {
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", esc(p.Namespace), esc(p.Probes), esc(p.From), esc(p.By))
		}
		b.WriteString("\n")
		for _, h := range c.Hints {
			fmt.Fprintf(b, "> %s\n\n", esc(h))
		}
	}
	if len(c.Probes) > 0 {
		fmt.Fprintf(b, "<details><summary>Probes: %s</summary>\n\n| namespace | public | private | pod | locked down by |\n|---|---|---|---|---|\n", output.Plural(len(c.Probes), "namespace"))
		for _, p := range c.Probes {
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", esc(p.Namespace), p.Public, p.Private, p.Pod, esc(p.Why))
		}
		b.WriteString("\n</details>\n\n")
	}
	mdList(b, "Assumptions", c.Assumptions, true)
}

func mdGraph(b *strings.Builder, g *GraphSection) {
	b.WriteString("### Egress graph of what changes\n\n")
	if g.Note != "" {
		fmt.Fprintf(b, "%s\n\n", esc(g.Note))
	}
	if g.Graph == nil || len(g.Graph.Edges) == 0 {
		b.WriteString("Nothing to draw.\n\n")
		return
	}
	b.WriteString("```mermaid\n")
	var m strings.Builder
	if err := writeMermaid(&m, g.Graph); err == nil {
		b.WriteString(m.String())
	}
	b.WriteString("```\n\n")
	var legend []string
	for _, k := range g.Legend {
		legend = append(legend, fmt.Sprintf("%s: %s", k, KindText(k)))
	}
	fmt.Fprintf(b, "Edges: %s. Namespaces are coloured by stage: observe grey, staged amber, enforced green.\n\n", strings.Join(legend, "; "))
}

func mdWaves(b *strings.Builder, s *WavesSection) {
	b.WriteString("### Wave plan\n\n")
	if !s.Ran {
		fmt.Fprintf(b, "%s\n\n", esc(s.Note))
		return
	}
	fmt.Fprintf(b, "%s Namespaces this change touches are marked ✱.\n\n", esc(s.Intro))
	if len(s.Waves) == 0 {
		b.WriteString("No namespace is scheduled.\n\n")
	}
	for _, w := range s.Waves {
		title := fmt.Sprintf("Wave %d: tier %s", w.Number, esc(w.Tier))
		if w.Pinned {
			title += " (pinned: the pilot)"
		}
		if w.Touched {
			fmt.Fprintf(b, "#### %s ✱\n\n", title)
		} else {
			fmt.Fprintf(b, "<details><summary>%s</summary>\n\n", title)
		}
		b.WriteString("| namespace | stage | state | peers | unmet gates | next |\n|---|---|---|---|---|---|\n")
		for _, n := range w.Namespaces {
			gates := make([]string, len(n.Gates))
			for i, g := range n.Gates {
				gates[i] = esc(g)
			}
			next := "done"
			if n.Next != "" {
				next = mdCode(n.Next)
			}
			fmt.Fprintf(b, "| %s | %s | %s | %d | %s | %s |\n", mark(esc(n.Name), n.Changed), esc(n.Stage), esc(n.State), n.Peers, orDash(strings.Join(gates, "<br>")), next)
		}
		b.WriteString("\n")
		if !w.Touched {
			b.WriteString("</details>\n\n")
		}
	}
	if len(s.Outside) > 0 {
		fmt.Fprintf(b, "<details><summary>Outside the waves: %s</summary>\n\n| namespace | list | tier | stage | why |\n|---|---|---|---|---|\n", output.Plural(len(s.Outside), "namespace"))
		for _, l := range s.Outside {
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", mark(esc(l.Name), l.Changed), l.Section, esc(l.Tier), esc(l.Stage), esc(l.Reason))
		}
		b.WriteString("\n</details>\n\n")
	}
	mdList(b, "Wave notes", s.Notes, true)
}

func mark(s string, changed bool) string {
	if changed {
		return s + " ✱"
	}
	return s
}

// mdCode is a command as inline code, or escaped text when it holds a
// backtick (a code span cannot hold one safely). Pipes are escaped: GFM
// splits table cells on them even inside code.
func mdCode(s string) string {
	s = strings.NewReplacer("\n", " ", "\r", " ").Replace(s)
	if strings.Contains(s, "`") {
		return esc(s)
	}
	return "`" + strings.ReplaceAll(s, "|", `\|`) + "`"
}

// when is a Unix time as RFC 3339 UTC ("-" for none).
func when(unix int64) string {
	if unix == 0 {
		return "-"
	}
	return time.Unix(unix, 0).UTC().Format(time.RFC3339)
}
