package observe

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Progress shows percent and ETA when the size is known, and not otherwise.
func TestProgressPercentAndETA(t *testing.T) {
	var buf bytes.Buffer
	p := &Progress{w: &buf, start: time.Now().Add(-10 * time.Second)}
	p.Expect(1000)
	_, err := io.Copy(io.Discard, p.Reader(strings.NewReader(strings.Repeat("x", 250))))
	require.NoError(t, err)
	p.print("")
	require.Contains(t, buf.String(), ", 25%, ETA 30s")

	buf.Reset()
	p.UnknownSize()
	p.print("")
	require.NotContains(t, buf.String(), "%")
}
