package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows/elasticsearch/estest"
	"github.com/calico-plan/calico-plan/flows/goldmane/goldmanetest"
)

// demoChunks splits the demo flow log into n files of whole lines.
func demoChunks(t *testing.T, n int) []string {
	t.Helper()
	f, err := os.Open(demoFlows)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	all, err := io.ReadAll(zr)
	require.NoError(t, err)
	lines := bytes.SplitAfter(all, []byte("\n"))
	dir := t.TempDir()
	var paths []string
	per := (len(lines) + n - 1) / n
	for i := 0; i < n; i++ {
		lo, hi := i*per, min((i+1)*per, len(lines))
		p := filepath.Join(dir, fmt.Sprintf("part-%d.log", i))
		require.NoError(t, os.WriteFile(p, bytes.Join(lines[lo:hi], nil), 0o644))
		paths = append(paths, p)
	}
	return paths
}

// statusView is what a reader saw, without the store's path.
func statusView(t *testing.T, js string) (string, error) {
	var rep statusReport
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		return "", err
	}
	rep.Store = ""
	b, err := json.Marshal(rep)
	return string(b), err
}

// Readers (status, in a loop) while observe writes: they must never change
// the store, and each must see one of the states a sequential run goes
// through; the store ends byte for byte as without readers.
func TestReadersDuringObserveChangeNothing(t *testing.T) {
	parts := demoChunks(t, 8)
	status := func(store string) []string {
		return []string{"status", "--store", store, "--now", "2026-11-27", "-o", "json"}
	}

	// Sequentially, remembering every state a reader may see.
	seq := filepath.Join(t.TempDir(), "allowlists")
	states := map[string]bool{}
	for _, p := range parts {
		mustRun(t, "observe", "--store", seq, "--from", p)
		out, _ := mustRun(t, status(seq)...)
		v, err := statusView(t, out)
		require.NoError(t, err)
		states[v] = true
	}

	// The same with readers in a loop.
	store := filepath.Join(t.TempDir(), "allowlists")
	mustRun(t, "observe", "--store", store, "--from", parts[0])
	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads atomic.Int64
	errs := make(chan error, 8)
	running := make(chan struct{}, 3)
	defer func() { stop.Store(true); wg.Wait() }() // also when the test fails early
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for first := true; first || !stop.Load(); first = false {
				out, _, err := run(t, "", status(store)...)
				if err == nil {
					var v string
					if v, err = statusView(t, out); err == nil && !states[v] {
						err = fmt.Errorf("a reader saw a state no sequential run has: %s", v)
					}
				}
				if err != nil {
					errs <- err
					return
				}
				if reads.Add(1); first {
					running <- struct{}{}
				}
			}
		}()
	}
	// Every reader is looping before observe starts writing.
	for r := 0; r < 3; r++ {
		select {
		case <-running:
		case err := <-errs:
			require.NoError(t, err)
		}
	}
	for _, p := range parts[1:] {
		_, errs, err := run(t, "", "observe", "--store", store, "--from", p)
		require.NoError(t, err, errs)
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	t.Logf("%d reads while observe wrote", reads.Load())
	require.Equal(t, readDir(t, seq), readDir(t, store), "the store equals a run without readers")

	// Observing the inputs again changes nothing: none was lost or half recorded.
	for _, p := range parts {
		_, errs := mustRun(t, "observe", "--store", store, "--from", p)
		require.Contains(t, errs, "already ingested")
	}
	require.Equal(t, readDir(t, seq), readDir(t, store))
}

// Read-only commands never create a store: a missing one is an error.
func TestReadersRefuseAMissingStore(t *testing.T) {
	store := filepath.Join(t.TempDir(), "nowhere")
	for _, args := range [][]string{
		{"status"},
		{"explain", "--namespace", "shop"},
		{"render", "--all"},
		{"waves"},
		{"promote", "--namespace", "shop", "--to", "staged"},
	} {
		_, _, err := run(t, "", append(args, "--store", store)...)
		require.ErrorContains(t, err, "store "+store+" does not exist", "%v", args)
		_, statErr := os.Stat(store)
		require.True(t, os.IsNotExist(statErr), "%v created the store", args)
	}
	// An existing directory without _store.yaml is not a store either.
	require.NoError(t, os.Mkdir(store, 0o755))
	_, _, err := run(t, "", "status", "--store", store)
	require.ErrorContains(t, err, "is not an allowlist store")
	ents, err := os.ReadDir(store)
	require.NoError(t, err)
	require.Empty(t, ents)
}

// Namespace files without _store.yaml (lost, deleted, unreadable, empty):
// the ingest history is unknown, so nothing reads the store and observe
// never counts into it.
func TestStoreWithoutItsRecordIsRefused(t *testing.T) {
	for name, damage := range map[string]func(path string){
		"missing": func(p string) { require.NoError(t, os.Remove(p)) },
		"empty":   func(p string) { require.NoError(t, os.WriteFile(p, nil, 0o644)) },
		"garbage": func(p string) { require.NoError(t, os.WriteFile(p, []byte("{{{"), 0o644)) },
		"unreadable": func(p string) {
			require.NoError(t, os.Remove(p))
			require.NoError(t, os.Mkdir(p, 0o755)) // unreadable as a file, whoever runs the test
		},
	} {
		t.Run(name, func(t *testing.T) {
			store := observeDemo(t)
			meta := filepath.Join(store, allowlist.MetaFile)
			damage(meta)
			before := readDir(t, store)

			_, _, err := run(t, "", "observe", "--store", store, "--from", demoFlows)
			require.Error(t, err)
			require.Contains(t, err.Error(), "git checkout -- "+meta)
			require.Equal(t, before, readDir(t, store), "nothing counted into allowlists of unknown history")

			_, _, err = run(t, "", "status", "--store", store)
			require.ErrorContains(t, err, "git checkout -- "+meta)
		})
	}
}

// An input without a single valid record (a README passed by mistake) is
// rejected: exit 1, not counted, not remembered as ingested. The other
// inputs of the run are saved; "ingested" is printed after the save.
func TestObserveRejectsInputWithoutValidRecords(t *testing.T) {
	dir := t.TempDir()
	readme := filepath.Join(dir, "README.md")
	require.NoError(t, os.WriteFile(readme, []byte("# calico-plan\n\nLock pod egress down.\n\n```sh\nmake demo\n```\n"), 0o644))

	// Alone, into a new store: nothing is created.
	store := filepath.Join(dir, "allowlists")
	_, errs, err := run(t, "", "observe", "--store", store, "--from", readme)
	require.ErrorContains(t, err, "1 of 1 inputs rejected")
	require.ErrorContains(t, err, readme)
	require.Equal(t, 1, exitCodeOf(err))
	require.Contains(t, errs, readme+": rejected")
	require.Contains(t, errs, "not recorded as ingested")
	require.Contains(t, errs, "store: "+store+" not created")
	_, statErr := os.Stat(store)
	require.True(t, os.IsNotExist(statErr), "no store from a rejected input")

	// With a good input: that one is saved, the README is not recorded.
	_, errs, err = run(t, "", "observe", "--store", store, "--from", demoFlows, "--from", readme)
	require.ErrorContains(t, err, "1 of 2 inputs rejected")
	require.Contains(t, errs, "ingested (enterprise, 4908 records")
	meta, err := os.ReadFile(filepath.Join(store, allowlist.MetaFile))
	require.NoError(t, err)
	require.NotContains(t, string(meta), "README")
	var m allowlist.Meta
	require.NoError(t, yaml.Unmarshal(meta, &m))
	require.Len(t, m.Sources, 1)
	require.Zero(t, m.Ingest.Bad, "the rejected input's bad lines are not the store's")

	// Again: the demo is skipped, the README rejected again, nothing changes.
	before := readDir(t, store)
	_, errs, err = run(t, "", "observe", "--store", store, "--from", demoFlows, "--from", readme)
	require.ErrorContains(t, err, "1 of 2 inputs rejected")
	require.Contains(t, errs, "already ingested")
	require.Equal(t, before, readDir(t, store))
}

// closedAddr is a local address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// A source that cannot be reached leaves no store behind: nothing (not the
// directory, _store.yaml, .gitignore or the lock file) is created before the
// first read succeeds.
func TestFailedConnectionCreatesNoStore(t *testing.T) {
	pki, err := goldmanetest.NewPKI()
	require.NoError(t, err)
	files, err := pki.WriteClientFiles(t.TempDir())
	require.NoError(t, err)
	for name, args := range map[string][]string{
		"goldmane":        {"--goldmane", closedAddr(t), "--goldmane-cert", files.Cert, "--goldmane-key", files.Key, "--goldmane-ca", files.CA},
		"goldmane-follow": {"--goldmane", closedAddr(t), "--goldmane-cert", files.Cert, "--goldmane-key", files.Key, "--goldmane-ca", files.CA, "--follow"},
		"elasticsearch":   {"--es", "http://" + closedAddr(t), "--es-max-retries", "0"},
	} {
		t.Run(name, func(t *testing.T) {
			store := filepath.Join(t.TempDir(), "allowlists")
			_, _, err := run(t, "", append([]string{"observe", "--store", store}, args...)...)
			require.Error(t, err)
			_, statErr := os.Stat(store)
			require.True(t, os.IsNotExist(statErr), "a failed connection left %s behind", store)
		})
	}
}

// The documented default window of a first Elasticsearch observe is 7d,
// also with the full observe command (where --since is shared with
// Goldmane, whose default is empty).
func TestObserveESDefaultsToSevenDays(t *testing.T) {
	fx := newESFixture(t, estest.Options{TLS: true, Username: "elastic", Password: esTestSecret})
	_, errs, err := run(t, "", "observe", "--store", fx.storeDir, "--es", fx.srv.URL,
		"--es-password-file", fx.passFile, "--es-ca-cert", fx.caFile)
	require.NoError(t, err, errs)
	require.Contains(t, errs, "elasticsearch ")
	meta, err := os.ReadFile(filepath.Join(fx.storeDir, allowlist.MetaFile))
	require.NoError(t, err)
	var m allowlist.Meta
	require.NoError(t, yaml.Unmarshal(meta, &m))
	require.Len(t, m.Sources, 1)

	m1 := regexp.MustCompile(`: (\S+) \.\. (\S+)\n`).FindStringSubmatch(errs)
	require.NotNil(t, m1, errs)
	from, err := time.Parse(time.RFC3339, m1[1])
	require.NoError(t, err)
	to, err := time.Parse(time.RFC3339, m1[2])
	require.NoError(t, err)
	require.Equal(t, 7*24*time.Hour, to.Sub(from), errs)
}
