package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"sigs.k8s.io/yaml"
)

// Wide is the table with every column at full length (-o wide).
const Wide Format = "wide"

// Width is the line width tables are fitted into (-o table): a terminal of
// 100 columns shows them without wrapping.
const Width = 100

// ReportFormats is the -o vocabulary of every command that prints a report.
var ReportFormats = []Format{Table, JSON, YAML, MD}

// JSONToYAML writes as YAML what writeJSON writes as JSON, so that -o yaml
// carries the same fields, names and values as -o json.
func JSONToYAML(w io.Writer, writeJSON func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := writeJSON(&buf); err != nil {
		return err
	}
	dec := json.NewDecoder(&buf)
	for first := true; ; first = false {
		var v json.RawMessage
		if err := dec.Decode(&v); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		y, err := yaml.JSONToYAML(v)
		if err != nil {
			return err
		}
		if !first {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		if _, err := w.Write(y); err != nil {
			return err
		}
	}
}

// Ago is a short relative time: "now", "45m ago", "5h ago", "3d ago"; an
// instant after ref is "in 2d".
func Ago(t, ref time.Time) string {
	d := ref.Sub(t)
	suffix, prefix := " ago", ""
	if d < 0 {
		d, suffix, prefix = -d, "", "in "
	}
	var s string
	switch {
	case d < time.Minute:
		return "now"
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%dh", int(d/time.Hour))
	default:
		s = fmt.Sprintf("%dd", int((d+12*time.Hour)/(24*time.Hour)))
	}
	return prefix + s + suffix
}

// Truncate shortens s to at most n runes, ending in "…" when cut.
func Truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	if n == 1 {
		return "…"
	}
	return string(r[:n-1]) + "…"
}

// Fit shortens the cells of column col (the least important one) so that
// the aligned text table fits width columns; the column keeps at least
// min runes. Other columns are never cut. It reports whether a cell was
// cut.
func (t *Tab) Fit(width, col, min int) bool {
	if col < 0 || col >= len(t.Headers) {
		return false
	}
	widths := t.widths()
	total := 0
	for i, w := range widths {
		total += w
		if i < len(widths)-1 {
			total += 2 // WriteText's padding
		}
	}
	if total <= width {
		return false
	}
	keep := widths[col] - (total - width)
	if keep < min {
		keep = min
	}
	cut := false
	for _, r := range t.Rows {
		if col < len(r) {
			if s := Truncate(r[col], keep); s != r[col] {
				r[col], cut = s, true
			}
		}
	}
	return cut
}

// MaxLineWidth is the widest line of s in runes (tests of -o table).
func MaxLineWidth(s string) int {
	m := 0
	for _, l := range strings.Split(s, "\n") {
		if n := utf8.RuneCountInString(l); n > m {
			m = n
		}
	}
	return m
}

// Wrap breaks text into lines of at most width runes at spaces; lines
// after the first start with indent. A word longer than a line stays whole.
func Wrap(s string, width int, indent string) string {
	var b strings.Builder
	line := 0
	for i, word := range strings.Fields(s) {
		n := utf8.RuneCountInString(word)
		switch {
		case i == 0:
		case line+1+n > width:
			b.WriteString("\n" + indent)
			line = utf8.RuneCountInString(indent)
		default:
			b.WriteByte(' ')
			line++
		}
		b.WriteString(word)
		line += n
	}
	return b.String()
}

// WrapColumns fits the aligned text table into width columns by wrapping
// the cells of cols (least important first; each keeps at least its
// mins runes) onto continuation lines, at spaces and after commas. Nothing
// is cut.
func (t *Tab) WrapColumns(width int, cols, mins []int) {
	widths := t.widths()
	total := 0
	for i, w := range widths {
		total += w
		if i < len(widths)-1 {
			total += 2
		}
	}
	limit := map[int]int{}
	for i, c := range cols {
		if total <= width || c < 0 || c >= len(widths) {
			break
		}
		keep := max(widths[c]-(total-width), mins[i])
		if keep < widths[c] {
			total -= widths[c] - keep
			limit[c] = keep
		}
	}
	if len(limit) == 0 {
		return
	}
	var rows [][]string
	for _, r := range t.Rows {
		lines := make([][]string, len(r))
		n := 1
		for i, c := range r {
			if l, ok := limit[i]; ok {
				lines[i] = wrapCell(c, l)
			} else {
				lines[i] = []string{c}
			}
			n = max(n, len(lines[i]))
		}
		for k := 0; k < n; k++ {
			row := make([]string, len(r))
			for i := range r {
				if k < len(lines[i]) {
					row[i] = lines[i][k]
				}
			}
			rows = append(rows, row)
		}
	}
	t.Rows = rows
}

func (t *Tab) widths() []int {
	widths := make([]int, len(t.Headers))
	measure := func(cells []string) {
		for i, c := range cells {
			if i < len(widths) && utf8.RuneCountInString(c) > widths[i] {
				widths[i] = utf8.RuneCountInString(c)
			}
		}
	}
	measure(t.Headers)
	for _, r := range t.Rows {
		measure(r)
	}
	return widths
}

// wrapCell breaks s into lines of at most n runes, after spaces and commas
// where it can, anywhere where it must.
func wrapCell(s string, n int) []string {
	var out []string
	r := []rune(s)
	for len(r) > n {
		cut := -1
		for i := n; i > 0; i-- {
			if r[i-1] == ',' || r[i-1] == ' ' {
				cut = i
				break
			}
		}
		if cut <= 0 {
			cut = n
		}
		out = append(out, strings.TrimRight(string(r[:cut]), " "))
		r = []rune(strings.TrimLeft(string(r[cut:]), " "))
	}
	return append(out, string(r))
}
