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

// removedNote is the weighting of a removal.
func removedNote(c *Change) string {
	if c.Group.Action != "Allow" {
		return ""
	}
	e := &c.Evidence
	if len(e.Entries) == 0 || (e.Flows == 0 && e.LastSeen == 0) {
		return "no observed traffic"
	}
	s := fmt.Sprintf("%d flows, last seen %s, %s", e.Flows, day(e.LastSeen), plural(e.Days, "day"))
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
	s := fmt.Sprintf("%d flows, first seen %s, last seen %s, %s", e.Flows, day(e.FirstSeen), day(e.LastSeen), plural(e.Days, "day"))
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

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
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
		return fmt.Sprintf("no changes (%s compared)", plural(r.Compared, "namespace"))
	}
	h := fmt.Sprintf("%s changed: %d added, %d removed, %s", plural(s.ChangedNamespaces, "namespace"), s.Added, s.Removed, plural(s.PolicyChanges, "policy change"))
	if s.FlowsCut > 0 {
		h += fmt.Sprintf("; removals affect %d observed flows", s.FlowsCut)
	}
	return h
}

// WriteText writes the diff for a terminal or CI log.
func WriteText(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "calico-plan diff: %s -> %s (flavor %s)\n", r.Old, r.New, r.Flavor)
	fmt.Fprintf(&b, "%s\n", r.headline())
	for _, d := range r.Namespaces {
		fmt.Fprintf(&b, "\n%s: +%d -%d", nsName(d.Namespace), len(d.Added), len(d.Removed))
		if d.FlowsCut > 0 {
			fmt.Fprintf(&b, ", removals affect %d flows", d.FlowsCut)
		}
		b.WriteString("\n")
		for _, p := range d.Policies {
			fmt.Fprintf(&b, "  policy %s: %s\n", p.Policy, p.Change)
		}
		for i := range d.Removed {
			c := &d.Removed[i]
			fmt.Fprintf(&b, "  - %s%s\n", c.Text, colon(removedNote(c)))
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
		b.WriteString("| namespace | added | removed | flows affected by removals |\n|---|---|---|---|\n")
		for _, d := range r.Namespaces {
			fmt.Fprintf(&b, "| %s | %d | %d | %d |\n", output.MDEscape(nsName(d.Namespace)), len(d.Added), len(d.Removed), d.FlowsCut)
		}
		b.WriteString("\n")
	}
	for _, d := range r.Namespaces {
		var lines []string
		for _, p := range d.Policies {
			lines = append(lines, fmt.Sprintf("- policy %s: %s", output.MDEscape(p.Policy), output.MDEscape(p.Change)))
		}
		for i := range d.Removed {
			c := &d.Removed[i]
			lines = append(lines, fmt.Sprintf("- **−** %s%s", output.MDEscape(c.Text), output.MDEscape(colon(removedNote(c)))))
		}
		for i := range d.Added {
			c := &d.Added[i]
			lines = append(lines, fmt.Sprintf("- **\\+** %s%s", output.MDEscape(c.Text), output.MDEscape(colon(addedNote(c)))))
		}
		title := fmt.Sprintf("%s: +%d −%d", nsName(d.Namespace), len(d.Added), len(d.Removed))
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
