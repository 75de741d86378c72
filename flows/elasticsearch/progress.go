package elasticsearch

import (
	"fmt"
	"io"
	"time"
)

// progress prints one updating line per page to a terminal.
type progress struct {
	w       io.Writer
	start   time.Time
	total   int64 // source-reported documents in the window, when known
	printed bool
}

func newProgress(w io.Writer, start time.Time) *progress { return &progress{w: w, start: start} }

// page reports pages fetched, keys so far (-1 in raw mode) and documents
// covered.
func (p *progress) page(pages int, keys, docs int64) {
	if p == nil || p.w == nil {
		return
	}
	line := fmt.Sprintf("\relasticsearch: %d pages", pages)
	if keys >= 0 {
		line += fmt.Sprintf(", %d keys", keys)
	}
	line += fmt.Sprintf(", %d", docs)
	if p.total > 0 {
		line += fmt.Sprintf(" of %d", p.total)
	}
	line += fmt.Sprintf(" documents, %s   ", time.Since(p.start).Round(100*time.Millisecond))
	fmt.Fprint(p.w, line)
	p.printed = true
}

func (p *progress) done() {
	if p != nil && p.w != nil && p.printed {
		fmt.Fprintln(p.w)
	}
}
