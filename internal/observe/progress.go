package observe

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Progress prints reading progress (records/s, MB read) to a terminal
// every interval. Create it only when the output is a terminal.
type Progress struct {
	w        io.Writer
	records  atomic.Int64
	bytes    atomic.Int64
	total    atomic.Int64 // bytes expected; 0: unknown
	unknown  atomic.Bool  // an input of unknown size (stdin)
	start    time.Time
	stop     chan struct{}
	done     sync.WaitGroup
	interval time.Duration
}

// NewProgress starts a reporter writing to w.
func NewProgress(w io.Writer, interval time.Duration) *Progress {
	p := &Progress{w: w, start: time.Now(), stop: make(chan struct{}), interval: interval}
	p.done.Add(1)
	go p.loop()
	return p
}

func (p *Progress) loop() {
	defer p.done.Done()
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.print("\r")
		}
	}
}

func (p *Progress) print(prefix string) {
	el := time.Since(p.start).Seconds()
	if el <= 0 {
		el = 1e-9
	}
	r, b := p.records.Load(), p.bytes.Load()
	fmt.Fprintf(p.w, "%s%d records, %.1f MB read, %.0f records/s, %.1f MB/s%s   ", prefix, r, float64(b)/1e6, float64(r)/el, float64(b)/1e6/el, p.eta(b, el))
}

// eta is ", 42%, ETA 12s" when the size of what is read is known.
func (p *Progress) eta(b int64, el float64) string {
	total := p.total.Load()
	if total <= 0 || p.unknown.Load() || b <= 0 {
		return ""
	}
	frac := min(float64(b)/float64(total), 1)
	left := time.Duration(el * (1 - frac) / frac * float64(time.Second)).Round(time.Second)
	return fmt.Sprintf(", %.0f%%, ETA %s", frac*100, left)
}

// Expect adds n bytes to what will be read (negative: less than
// announced, for an input skipped or resumed).
func (p *Progress) Expect(n int64) { p.total.Add(n) }

// UnknownSize notes an input whose size is not known: no percentage.
func (p *Progress) UnknownSize() { p.unknown.Store(true) }

// Record counts one decoded record.
func (p *Progress) Record() { p.records.Add(1) }

// Reader counts bytes read through r.
func (p *Progress) Reader(r io.Reader) io.Reader { return &countingReader{r: r, p: p} }

// Stop ends the reporter with a final line.
func (p *Progress) Stop() {
	close(p.stop)
	p.done.Wait()
	p.print("\r")
	fmt.Fprintln(p.w)
}

type countingReader struct {
	r io.Reader
	p *Progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.bytes.Add(int64(n))
	return n, err
}
