// Package output formats command results: aligned text tables, Markdown
// tables, JSON and YAML, chosen with -o.
package output

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"gopkg.in/yaml.v3"
)

// Format is an output format.
type Format string

// Formats.
const (
	Table Format = "table"
	Text  Format = "text"
	JSON  Format = "json"
	YAML  Format = "yaml"
	MD    Format = "md"
)

// Parse validates a format against the ones a command supports.
func Parse(s string, allowed ...Format) (Format, error) {
	for _, a := range allowed {
		if Format(s) == a {
			return a, nil
		}
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return "", fmt.Errorf("unknown output format %q (want %s)", s, strings.Join(names, ", "))
}

// Tab is a simple table.
type Tab struct {
	Headers []string
	Rows    [][]string
}

// Add appends a row.
func (t *Tab) Add(cells ...string) { t.Rows = append(t.Rows, cells) }

// WriteText writes an aligned plain-text table, without trailing blanks.
func (t *Tab) WriteText(w io.Writer) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.Headers, "\t"))
	for _, r := range t.Rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	lines := strings.SplitAfter(b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(strings.TrimSuffix(l, "\n"), " ")
		if strings.HasSuffix(l, "\n") {
			lines[i] += "\n"
		}
	}
	_, err := io.WriteString(w, strings.Join(lines, ""))
	return err
}

// WriteMarkdown writes a GitHub-flavoured Markdown table; cell text is
// escaped so that values cannot break the table.
func (t *Tab) WriteMarkdown(w io.Writer) error {
	row := func(cells []string) string {
		esc := make([]string, len(cells))
		for i, c := range cells {
			esc[i] = MDEscape(c)
		}
		return "| " + strings.Join(esc, " | ") + " |\n"
	}
	var b strings.Builder
	b.WriteString(row(t.Headers))
	sep := make([]string, len(t.Headers))
	for i := range sep {
		sep[i] = "---"
	}
	b.WriteString("|" + strings.Join(sep, "|") + "|\n")
	for _, r := range t.Rows {
		b.WriteString(row(r))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// MDEscape escapes text from policies, flows and stores for Markdown,
// table cells included: nothing in it can start markup, a link, HTML or a
// mention, or end a table cell or line.
func MDEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\', '`', '*', '_', '{', '}', '[', ']', '(', ')', '#', '+', '!', '|', '~':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '@':
			b.WriteString("&#64;")
		case '\n', '\r':
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// WriteJSON writes v as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// WriteYAML writes v as YAML.
func WriteYAML(w io.Writer, v any) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return err
	}
	return enc.Close()
}

// Plural counts a noun: "1 source", "2 sources"; "1 policy", "2
// policies" (a consonant before the y).
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if l := len(noun); l >= 2 && noun[l-1] == 'y' && !strings.ContainsRune("aeiou", rune(noun[l-2])) {
		return strconv.Itoa(n) + " " + noun[:l-1] + "ies"
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// Or is s, or def when s is empty ("-" in a table cell, "none" in a
// sentence).
func Or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
