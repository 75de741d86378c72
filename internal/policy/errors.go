package policy

import (
	"fmt"
	"strings"
)

// Error is a problem found while loading a manifest. The object it belongs
// to is not loaded unless the error is a Warning (or the Loader runs with
// AllowInvalid and the problem does not prevent compilation).
type Error struct {
	File string
	// Line is the 1-based line in File: where the problem is when the
	// YAML parser says so, else where the document starts; 0 when
	// unknown.
	Line int
	Doc  int    // 0-based document index in the file; -1 for file-level errors
	Kind string // the object's kind, when known
	Name string // "ns/name" or "name", when known
	// Field is the field path inside the document, e.g.
	// "spec.egress[2].destination.selector" or "items[1].metadata.name".
	Field string
	Msg   string
	// Warning marks a problem Calico accepts but that probably is not what
	// the author meant (the object is loaded).
	Warning bool
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Doc >= 0 {
		fmt.Fprintf(&b, ": doc %d", e.Doc)
	}
	if e.Kind != "" || e.Name != "" {
		b.WriteString(" (")
		b.WriteString(e.Kind)
		if e.Name != "" {
			if e.Kind != "" {
				b.WriteByte(' ')
			}
			b.WriteString(e.Name)
		}
		b.WriteByte(')')
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	if e.Warning {
		b.WriteString("warning: ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// diag collects the problems of one object.
type diag struct {
	file     string
	doc      int
	prefix   string // field path prefix ("items[2]" inside lists)
	kind     string
	name     string
	errs     *[]error
	invalid  bool // validation failed: Calico would reject the object
	unusable bool // the object cannot be compiled (bad selector, CIDR, ...)
}

func (d *diag) path(field string) string {
	switch {
	case d.prefix == "":
		return field
	case field == "":
		return d.prefix
	}
	return d.prefix + "." + field
}

func (d *diag) add(field string, warning bool, format string, args ...any) {
	*d.errs = append(*d.errs, &Error{
		File: d.file, Doc: d.doc, Kind: d.kind, Name: d.name,
		Field: d.path(field), Msg: fmt.Sprintf(format, args...), Warning: warning,
	})
}

// errf records a validation error: Calico's API would reject the object.
func (d *diag) errf(field, format string, args ...any) {
	d.invalid = true
	d.add(field, false, format, args...)
}

// fatalf records an error that makes the object impossible to compile.
func (d *diag) fatalf(field, format string, args ...any) {
	d.invalid = true
	d.unusable = true
	d.add(field, false, format, args...)
}

// warnf records a warning.
func (d *diag) warnf(field, format string, args ...any) {
	d.add(field, true, format, args...)
}

func (d *diag) source() Source { return Source{File: d.file, Doc: d.doc, Path: d.prefix} }

func joinPath(base, field string) string {
	if base == "" {
		return field
	}
	if strings.HasPrefix(field, "[") {
		return base + field
	}
	return base + "." + field
}
