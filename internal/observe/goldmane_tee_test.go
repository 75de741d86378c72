package observe

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/config"
)

// The tee is a flow file that gives back what observe read from Goldmane:
// observing it with --from builds the same allowlists.
func TestGoldmaneListTee(t *testing.T) {
	all := goldmaneDemo(t, 2*time.Hour)
	now := gmStart.Add(50 * time.Minute)
	srv, pki := startGoldmane(t, now)
	for _, f := range all {
		if f.StartTime < now.Unix() {
			srv.Add(f)
		}
	}
	c := dialGoldmane(t, srv, pki)
	st, err := allowlist.Open(t.TempDir(), config.Default())
	require.NoError(t, err)
	var tee bytes.Buffer
	res, err := GoldmaneList(context.Background(), st, GoldmaneOptions{Client: c, SourceID: "goldmane:test", Now: func() time.Time { return now }, Tee: &tee})
	require.NoError(t, err)
	require.Equal(t, res.Results, int64(bytes.Count(tee.Bytes(), []byte("\n"))), "one line per result read")

	path := filepath.Join(t.TempDir(), "goldmane-flows.json")
	require.NoError(t, os.WriteFile(path, tee.Bytes(), 0o644))
	replayed, err := allowlist.Open(filepath.Join(t.TempDir(), "store"), config.Default())
	require.NoError(t, err)
	_, err = Files(context.Background(), replayed, FileOptions{Paths: []string{path}, Workers: 1})
	require.NoError(t, err)
	requireSameFiles(t, namespaceFiles(t, st), namespaceFiles(t, replayed))
}
