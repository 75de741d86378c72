package main

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/flows/goldmane/goldmanetest"
	pb "github.com/calico-plan/calico-plan/flows/goldmanepb"
	"github.com/calico-plan/calico-plan/internal/demo"
)

// TestObserveGoldmaneCLI runs 'observe --goldmane' against an in-process
// Goldmane with mutual TLS holding the last 45 minutes of the demo cluster.
func TestObserveGoldmaneCLI(t *testing.T) {
	now := time.Now().UTC()
	start := now.Add(-50 * time.Minute).Truncate(15 * time.Second)
	pki, err := goldmanetest.NewPKI()
	require.NoError(t, err)
	srv, err := goldmanetest.NewServer(goldmanetest.Options{PKI: pki, Now: now, Origin: start, Retention: time.Hour})
	require.NoError(t, err)
	require.NoError(t, srv.Start())
	t.Cleanup(srv.Stop)

	opt := demo.DefaultOptions()
	opt.Start, opt.Interval, opt.Days = start, 15*time.Second, 1
	var buf bytes.Buffer
	n := 0
	err = demo.Generate(opt, func(f *flows.Flow) error {
		if f.Start >= now.Add(-5*time.Minute).Unix() {
			return io.EOF
		}
		buf.Reset()
		if err := flows.WriteGoldmaneJSON(&buf, f, true); err != nil {
			return err
		}
		var m pb.Flow
		if err := protojson.Unmarshal(buf.Bytes(), &m); err != nil {
			return err
		}
		srv.Add(&m)
		n++
		return nil
	})
	require.ErrorIs(t, err, io.EOF)
	require.Greater(t, n, 1000)

	files, err := pki.WriteClientFiles(t.TempDir())
	require.NoError(t, err)
	store := filepath.Join(t.TempDir(), "allowlists")
	args := []string{"observe", "--store", store, "--goldmane", srv.Addr(), "--goldmane-id", "test",
		"--goldmane-cert", files.Cert, "--goldmane-key", files.Key, "--goldmane-ca", files.CA}
	tee := filepath.Join(t.TempDir(), "goldmane.json")
	args = append(args, "--tee", tee)
	_, errs := mustRun(t, args...)
	require.Contains(t, errs, "goldmane test:")
	first := readDir(t, store)
	require.Contains(t, first, "recruiter-responder.yaml")
	require.Contains(t, first["_store.yaml"], "kind: goldmane")
	require.Contains(t, first["_store.yaml"], "watermark:")
	require.Contains(t, first["recruiter-responder.yaml"], "kind: dns")

	// Again: resumes from the watermark, counts nothing twice.
	_, errs = mustRun(t, args...)
	require.Contains(t, errs, "goldmane test:")
	second := readDir(t, store)
	for name, content := range first {
		if name != "_store.yaml" {
			require.Equal(t, content, second[name], name)
		}
	}

	// The tee holds what the two runs read, each flow once: observed as a
	// file it gives the same allowlists.
	replayed := filepath.Join(t.TempDir(), "replayed")
	mustRun(t, "observe", "--store", replayed, "--from", tee)
	again := readDir(t, replayed)
	for name, content := range first {
		if name != "_store.yaml" {
			require.Equal(t, content, again[name], name)
		}
	}

	// The plan tells a Goldmane user to observe Goldmane again, not files.
	waves, _ := mustRun(t, "waves", "--store", store, "--namespace-file", demoNS, "-o", "wide")
	require.Contains(t, waves, "calico-plan observe --store "+store+" --goldmane HOST:PORT")
	require.NotContains(t, waves, "--from FLOWS")

	// A client certificate from another CA is refused with a clear error.
	other := t.TempDir()
	pki2, err := goldmanetest.NewPKI()
	require.NoError(t, err)
	bad, err := pki2.WriteClientFiles(other)
	require.NoError(t, err)
	_, _, err = run(t, "", "observe", "--store", store, "--goldmane", srv.Addr(),
		"--goldmane-cert", bad.Cert, "--goldmane-key", bad.Key, "--goldmane-ca", files.CA)
	require.Error(t, err)
	require.Contains(t, err.Error(), "client certificate")
	require.NotContains(t, err.Error(), "PRIVATE KEY")

	_, _, err = run(t, "", "observe", "--store", store, "--goldmane", srv.Addr())
	require.ErrorContains(t, err, "--goldmane-cert, --goldmane-key and --goldmane-ca")
}
