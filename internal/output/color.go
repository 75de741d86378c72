package output

import (
	"regexp"
	"strings"
)

// Colour escape sequences (SGR).
const (
	Green  = "\x1b[32m"
	Yellow = "\x1b[33m"
	Red    = "\x1b[31m"
	Grey   = "\x1b[90m"
	reset  = "\x1b[0m"
)

// ColorEnabled says whether to colour output: only on a terminal, and
// never with NO_COLOR set (https://no-color.org) or TERM=dumb.
func ColorEnabled(terminal bool, getenv func(string) string) bool {
	return terminal && getenv("NO_COLOR") == "" && getenv("TERM") != "dumb"
}

// Paint colours every whole-word occurrence of the words in text. It is
// applied to text already aligned, so colour never shifts a column.
func Paint(text string, words map[string]string) string {
	if len(words) == 0 {
		return text
	}
	keys := make([]string, 0, len(words))
	for w := range words {
		keys = append(keys, regexp.QuoteMeta(w))
	}
	re := regexp.MustCompile(`\b(` + strings.Join(keys, "|") + `)\b`)
	return re.ReplaceAllStringFunc(text, func(m string) string { return words[m] + m + reset })
}
