// Package yamldoc locates the documents of a multi-document YAML stream by
// line, so that errors about a document can say "file:line:" as every
// calico-plan error does.
package yamldoc

import (
	"bytes"
	"regexp"
	"strconv"
)

// StartLines returns the 1-based line each document of src starts on, split
// as k8s.io/apimachinery's utilyaml.YAMLReader splits it: a "---" line
// (spaces or a comment may follow) ends the document before it and is part
// of none, so the i-th document YAMLReader returns starts on StartLines[i].
func StartLines(src []byte) []int {
	var starts []int
	inDoc := false
	for line := 1; len(src) > 0; line++ {
		l := src
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			l, src = src[:i], src[i+1:]
		} else {
			src = nil
		}
		if rest, ok := bytes.CutPrefix(l, []byte("---")); ok {
			if t := bytes.TrimSpace(rest); len(t) == 0 || t[0] == '#' {
				inDoc = false
				continue
			}
		}
		if !inDoc {
			starts = append(starts, line)
			inDoc = true
		}
	}
	return starts
}

var lineRE = regexp.MustCompile(`(?:yaml: )?line (\d+): `)

// Locate places a parser message within a file: a document starting on
// line start whose message says "line N: " (yaml's, relative to the
// document) is at start+N-1, and the "line N: " is taken out of the
// message; any other message is at the document's first line.
func Locate(start int, msg string) (int, string) {
	m := lineRE.FindStringSubmatchIndex(msg)
	if m == nil {
		return start, msg
	}
	n, err := strconv.Atoi(msg[m[2]:m[3]])
	if err != nil || n < 1 {
		return start, msg
	}
	return start + n - 1, msg[:m[0]] + msg[m[1]:]
}
