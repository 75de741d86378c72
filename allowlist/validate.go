package allowlist

import (
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/calico-plan/calico-plan/flows"
)

// Validation of the hand-editable values of a namespace file that are not
// names (see validateEntry): evidence and observation times and counts.
// ParseNamespace rejects a file holding a value no observation can produce,
// with the file, the line and the field.

// nodeLine returns the line of key in the mapping under the top-level
// field (in its i-th element when i >= 0), or of the field itself when the
// key is absent (0 when neither is found).
func nodeLine(doc *yaml.Node, field string, i int, key string) int {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return 0
	}
	v := mapValue(doc.Content[0], field)
	if v == nil {
		return 0
	}
	if i >= 0 {
		if v.Kind != yaml.SequenceNode || i >= len(v.Content) {
			return v.Line
		}
		v = v.Content[i]
	}
	if k := mapValue(v, key); k != nil {
		return k.Line
	}
	return v.Line
}

// portLine returns the line of key in field[i].ports[j] (or of the port,
// or of the entry, when the key is absent).
func portLine(doc *yaml.Node, field string, i, j int, key string) int {
	line := entryLine(doc, field, i)
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return line
	}
	list := mapValue(doc.Content[0], field)
	if list == nil || list.Kind != yaml.SequenceNode || i >= len(list.Content) {
		return line
	}
	ports := mapValue(list.Content[i], "ports")
	if ports == nil || ports.Kind != yaml.SequenceNode || j >= len(ports.Content) {
		return line
	}
	if k := mapValue(ports.Content[j], key); k != nil {
		return k.Line
	}
	return ports.Content[j].Line
}

// mapValue returns the value of key in a mapping node (nil if absent).
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// checkTime reports a time no flow log can hold: unset, before 2015 or
// after 2100 (flows.MinTime, flows.MaxTime: the decoders reject records
// outside them, so observed evidence never holds one).
func checkTime(t Time) error {
	switch {
	case t == 0:
		return errors.New("required (an RFC 3339 time)")
	case int64(t) < flows.MinTime:
		return fmt.Errorf("%s is before 2015-01-01: older than any Calico flow log", t)
	case int64(t) >= flows.MaxTime:
		return fmt.Errorf("%s is after 2100-01-01: far in the future", t)
	}
	return nil
}

// validateEvidence checks a port's hand-editable evidence: counts are not
// negative, times are plausible and in order, and every day seen lies
// between the first and the last seen (observed evidence always does). It
// returns the offending key with the error.
func validateEvidence(e *Evidence) (string, error) {
	if e.Flows < 0 {
		return "flows", fmt.Errorf("flows: %d is negative", e.Flows)
	}
	if e.Bytes < 0 {
		return "bytes", fmt.Errorf("bytes: %d is negative", e.Bytes)
	}
	if err := checkTime(e.FirstSeen); err != nil {
		return "firstSeen", fmt.Errorf("firstSeen: %w", err)
	}
	if err := checkTime(e.LastSeen); err != nil {
		return "lastSeen", fmt.Errorf("lastSeen: %w", err)
	}
	if e.LastSeen < e.FirstSeen {
		return "lastSeen", fmt.Errorf("lastSeen: %s is before firstSeen %s", e.LastSeen, e.FirstSeen)
	}
	first, last := DayOf(int64(e.FirstSeen)), DayOf(int64(e.LastSeen))
	for _, d := range e.Days {
		if d < first || d > last {
			return "days", fmt.Errorf("days: %s is outside firstSeen..lastSeen (%s..%s): %d days listed, at most %d possible",
				d, first, last, len(e.Days), last-first+1)
		}
	}
	if t := e.LastNewAddress; t != 0 && (t < e.FirstSeen || t > e.LastSeen) {
		return "lastNewAddress", fmt.Errorf("lastNewAddress: %s is outside firstSeen..lastSeen (%s..%s)", t, e.FirstSeen, e.LastSeen)
	}
	return "", nil
}

// validateObservation checks a namespace's hand-editable observation
// window: when set, its times are plausible and in order.
func validateObservation(o *Observation) (string, error) {
	for _, t := range []struct {
		key string
		v   Time
	}{{"from", o.From}, {"to", o.To}, {"lastNewEntry", o.LastNewEntry}} {
		if t.v == 0 {
			continue
		}
		if err := checkTime(t.v); err != nil {
			return t.key, fmt.Errorf("%s: %w", t.key, err)
		}
	}
	if o.From != 0 && o.To != 0 && o.To < o.From {
		return "to", fmt.Errorf("to: %s is before from %s", o.To, o.From)
	}
	return "", nil
}
