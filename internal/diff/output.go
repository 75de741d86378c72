package diff

import (
	"encoding/json"
	"fmt"
	"github.com/calico-plan/calico-plan/internal/output"
	"io"
	"strings"

	"github.com/calico-plan/calico-plan/allowlist"
)

// detailsAfter is the number of lines of a namespace above which the
// Markdown collapses it.
const detailsAfter = 8

func day(t allowlist.Time) string {
	if t == 0 {
		return "-"
	}
	return t.T().Format("2006-01-02")
}

func partly(e *Evidence) bool {
	for _, x := range e.Entries {
		if x.Partly {
			return true
		}
	}
	return false
}

// removedNote is the weighting of a removal; dropsNothing says the
// namespace's new state drops no traffic.
func removedNote(c *Change, dropsNothing bool) string {
	if c.Group.Action != "Allow" {
		return ""
	}
	e := &c.Evidence
	if len(e.Entries) == 0 || (e.Flows == 0 && e.LastSeen == 0) {
		return "no observed traffic"
	}
	s := fmt.Sprintf("%d flows, last seen %s, %s", e.Flows, day(e.LastSeen), output.Plural(e.Days, "day"))
	if dropsNothing {
		return s + " — not dropped: the namespace's new stage enforces nothing"
	}
	if partly(e) {
		return s + " — this change may cut some of them"
	}
	return s + " — this change would cut them"
}

// addedNote is the evidence behind an addition.
func addedNote(c *Change) string {
	if c.Group.Action != "Allow" {
		return ""
	}
	e := &c.Evidence
	if len(e.Entries) == 0 || (e.Flows == 0 && e.LastSeen == 0) {
		return "no observed traffic behind it"
	}
	s := fmt.Sprintf("%d flows, first seen %s, last seen %s, %s", e.Flows, day(e.FirstSeen), day(e.LastSeen), output.Plural(e.Days, "day"))
	var w []string
	for _, x := range e.Entries {
		w = append(w, x.Workloads...)
	}
	if len(w) > 0 {
		s += " (from " + strings.Join(uniq(w, 3), ", ") + ")"
	}
	return s
}

func colon(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

func uniq(s []string, max int) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	if len(out) > max {
		out = append(out[:max], "...")
	}
	return out
}

func nsName(ns string) string {
	if ns == "" {
		return "(cluster-scoped)"
	}
	return ns
}

func (r *Report) headline() string {
	s := &r.Summary
	switch {
	case s.ExitCode == ExitError && s.ChangedNamespaces == 0:
		return "error"
	case s.ChangedNamespaces == 0:
		return fmt.Sprintf("no changes (%s compared)", output.Plural(r.Compared, "namespace"))
	}
	h := fmt.Sprintf("%s changed: %d added, %d removed, %s", output.Plural(s.ChangedNamespaces, "namespace"), s.Added, s.Removed, output.Plural(s.PolicyChanges, "policy change"))
	if s.StageChanges > 0 {
		h += ", " + output.Plural(s.StageChanges, "stage change")
	}
	if s.FlowsCut > 0 {
		h += fmt.Sprintf("; removals affect %d observed flows", s.FlowsCut)
	}
	if s.FlowsDropped > 0 {
		h += fmt.Sprintf("; enforcement drops %d observed flows", s.FlowsDropped)
	}
	return h
}

// WriteText writes the diff for a terminal or CI log.
func WriteText(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "calico-plan diff: %s -> %s (flavor %s)\n", r.Old, r.New, r.Flavor)
	fmt.Fprintf(&b, "%s\n", r.headline())
	for _, d := range r.Namespaces {
		fmt.Fprintf(&b, "\n%s: ", nsName(d.Namespace))
		if d.Stage != nil {
			fmt.Fprintf(&b, "%s -> %s, ", d.Stage.From, d.Stage.To)
		}
		fmt.Fprintf(&b, "+%d -%d", len(d.Added), len(d.Removed))
		if d.FlowsCut > 0 {
			fmt.Fprintf(&b, ", removals affect %d flows", d.FlowsCut)
		}
		if d.FlowsDropped > 0 {
			fmt.Fprintf(&b, ", enforcement drops %d flows", d.FlowsDropped)
		}
		b.WriteString("\n")
		if d.Stage != nil {
			fmt.Fprintf(&b, "  stage %s -> %s: %s\n", d.Stage.From, d.Stage.To, stageNote(d.Stage))
			for _, e := range d.Stage.Drops.Entries {
				fmt.Fprintf(&b, "    drops %s %s: %d flows, last seen %s\n", e.Peer, e.Port, e.Flows, day(e.LastSeen))
			}
		}
		for _, p := range d.Policies {
			fmt.Fprintf(&b, "  policy %s: %s\n", p.Policy, p.Change)
		}
		for i := range d.Removed {
			c := &d.Removed[i]
			fmt.Fprintf(&b, "  - %s%s\n", c.Text, colon(removedNote(c, d.DropsNothing)))
		}
		for i := range d.Added {
			c := &d.Added[i]
			fmt.Fprintf(&b, "  + %s%s\n", c.Text, colon(addedNote(c)))
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\nnote: %s\n", n)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "\nerror: %s\n", e)
	}
	fmt.Fprintf(&b, "\nresult: %s (exit %d)\n", r.Summary.Result, r.Summary.ExitCode)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes a pull-request comment: a summary table (namespace,
// added, removed, flows affected by removals), then the details of each
// namespace, collapsed when long.
func WriteMarkdown(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### calico-plan diff: %s\n\n", output.MDEscape(r.headline()))
	fmt.Fprintf(&b, "%s → %s, flavor %s.\n\n", output.MDEscape(r.Old), output.MDEscape(r.New), output.MDEscape(r.Flavor))
	if len(r.Namespaces) > 0 {
		if r.Summary.StageChanges == 0 {
			b.WriteString("| namespace | added | removed | flows affected by removals |\n|---|---|---|---|\n")
		} else {
			b.WriteString("| namespace | stage | added | removed | flows affected by removals | flows enforcement drops |\n|---|---|---|---|---|---|\n")
		}
		for _, d := range r.Namespaces {
			if r.Summary.StageChanges == 0 {
				fmt.Fprintf(&b, "| %s | %d | %d | %d |\n", output.MDEscape(nsName(d.Namespace)), len(d.Added), len(d.Removed), d.FlowsCut)
				continue
			}
			stage := ""
			if d.Stage != nil {
				stage = d.Stage.From + " → " + d.Stage.To
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d |\n", output.MDEscape(nsName(d.Namespace)), output.MDEscape(stage), len(d.Added), len(d.Removed), d.FlowsCut, d.FlowsDropped)
		}
		b.WriteString("\n")
	}
	for _, d := range r.Namespaces {
		var lines []string
		if d.Stage != nil {
			lines = append(lines, fmt.Sprintf("- **stage %s → %s**: %s", output.MDEscape(d.Stage.From), output.MDEscape(d.Stage.To), output.MDEscape(stageNote(d.Stage))))
			for _, e := range d.Stage.Drops.Entries {
				lines = append(lines, fmt.Sprintf("  - drops %s %s: %d flows, last seen %s", output.MDEscape(e.Peer), output.MDEscape(e.Port), e.Flows, day(e.LastSeen)))
			}
		}
		for _, p := range d.Policies {
			lines = append(lines, fmt.Sprintf("- policy %s: %s", output.MDEscape(p.Policy), output.MDEscape(p.Change)))
		}
		for i := range d.Removed {
			c := &d.Removed[i]
			lines = append(lines, fmt.Sprintf("- **−** %s%s", output.MDEscape(c.Text), output.MDEscape(colon(removedNote(c, d.DropsNothing)))))
		}
		for i := range d.Added {
			c := &d.Added[i]
			lines = append(lines, fmt.Sprintf("- **\\+** %s%s", output.MDEscape(c.Text), output.MDEscape(colon(addedNote(c)))))
		}
		title := fmt.Sprintf("%s: +%d −%d", nsName(d.Namespace), len(d.Added), len(d.Removed))
		if d.Stage != nil {
			title = fmt.Sprintf("%s: %s → %s, +%d −%d", nsName(d.Namespace), d.Stage.From, d.Stage.To, len(d.Added), len(d.Removed))
		}
		if d.FlowsCut > 0 {
			title += fmt.Sprintf(", removals affect %d flows", d.FlowsCut)
		}
		if len(lines) > detailsAfter {
			fmt.Fprintf(&b, "<details><summary>%s</summary>\n\n%s\n\n</details>\n\n", output.MDEscape(title), strings.Join(lines, "\n"))
		} else {
			fmt.Fprintf(&b, "#### %s\n\n%s\n\n", output.MDEscape(title), strings.Join(lines, "\n"))
		}
	}
	if len(r.Errors) > 0 {
		b.WriteString("#### Errors\n\n")
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "- %s\n", output.MDEscape(e))
		}
		b.WriteString("\n")
	}
	if len(r.Notes) > 0 {
		b.WriteString("<details><summary>Notes</summary>\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", output.MDEscape(n))
		}
		b.WriteString("\n</details>\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as one JSON document.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}
