package observe

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/flows/goldmane"
	"github.com/calico-plan/calico-plan/flows/goldmane/goldmanetest"
	pb "github.com/calico-plan/calico-plan/flows/goldmanepb"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/demo"
)

// gmStart is the demo's first bucket: Goldmane buckets are 15 s.
var gmStart = time.Date(2026, 11, 26, 22, 0, 0, 0, time.UTC)

// goldmaneDemo returns the demo cluster's flows in 15 s buckets for the
// given duration, as Goldmane messages.
func goldmaneDemo(t *testing.T, d time.Duration) []*pb.Flow {
	t.Helper()
	opt := demo.DefaultOptions()
	opt.Start, opt.Interval, opt.Days = gmStart, 15*time.Second, 1
	end := gmStart.Add(d).Unix()
	var out []*pb.Flow
	var buf bytes.Buffer
	err := demo.Generate(opt, func(f *flows.Flow) error {
		if f.Start >= end {
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
		out = append(out, &m)
		return nil
	})
	if err != io.EOF {
		require.NoError(t, err)
	}
	return out
}

func startGoldmane(t *testing.T, now time.Time) (*goldmanetest.Server, *goldmanetest.PKI) {
	t.Helper()
	pki, err := goldmanetest.NewPKI()
	require.NoError(t, err)
	srv, err := goldmanetest.NewServer(goldmanetest.Options{PKI: pki, Now: now, Origin: gmStart, Retention: time.Hour})
	require.NoError(t, err)
	require.NoError(t, srv.Start())
	t.Cleanup(srv.Stop)
	return srv, pki
}

func dialGoldmane(t *testing.T, srv *goldmanetest.Server, pki *goldmanetest.PKI) *goldmane.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := goldmane.Dial(ctx, goldmane.Config{Addr: srv.Addr(), CertPEM: pki.ClientCertPEM, KeyPEM: pki.ClientKeyPEM, CAPEM: pki.CAPEM})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// expectedStore observes the same flows from a Goldmane JSON file, with
// the observation gaps given.
func expectedStore(t *testing.T, fs []*pb.Flow, from, to time.Time, gaps ...allowlist.Gap) map[string]string {
	t.Helper()
	var buf bytes.Buffer
	for _, f := range fs {
		if f.StartTime < from.Unix() || f.StartTime >= to.Unix() {
			continue
		}
		b, err := protojson.Marshal(f)
		require.NoError(t, err)
		buf.Write(b)
		buf.WriteByte('\n')
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "flows.json")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	st, err := allowlist.Open(filepath.Join(dir, "store"), config.Default())
	require.NoError(t, err)
	_, err = Files(context.Background(), st, FileOptions{Paths: []string{path}, Workers: 1})
	require.NoError(t, err)
	for _, g := range gaps {
		st.AddGap(g)
	}
	return namespaceFiles(t, st)
}

// requireSameFiles compares two stores file by file, printing only the
// first differing lines.
func requireSameFiles(t *testing.T, want, got map[string]string) {
	t.Helper()
	for name, w := range want {
		g, ok := got[name]
		require.True(t, ok, "missing %s", name)
		if w == g {
			continue
		}
		wl, gl := strings.Split(w, "\n"), strings.Split(g, "\n")
		for i := range wl {
			if i >= len(gl) || wl[i] != gl[i] {
				other := ""
				if i < len(gl) {
					other = gl[i]
				}
				t.Fatalf("%s differs at line %d:\nwant %q\ngot  %q", name, i+1, wl[i], other)
			}
		}
		t.Fatalf("%s differs in length", name)
	}
	require.Len(t, got, len(want))
}

func namespaceFiles(t *testing.T, st *allowlist.Store) map[string]string {
	t.Helper()
	files, err := st.Render()
	require.NoError(t, err)
	out := map[string]string{}
	for k, v := range files {
		if strings.HasSuffix(k, ".yaml") && !strings.HasPrefix(k, "_") {
			out[k] = string(v)
		}
	}
	return out
}

func TestGoldmaneListResumesWithoutDoubleCounting(t *testing.T) {
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
	clock := now
	opt := GoldmaneOptions{Client: c, SourceID: "goldmane:test", Now: func() time.Time { return clock }}
	res, err := GoldmaneList(context.Background(), st, opt)
	require.NoError(t, err)
	require.Empty(t, res.Gaps)
	require.Equal(t, now.Add(-time.Hour+15*time.Second), res.From, "first run: everything Goldmane retains (but the bucket that may expire while listed)")
	require.Equal(t, now.Add(-time.Minute), res.To, "complete buckets only")
	require.Greater(t, res.Stats.Used, int64(50), "one result per flow key and day")

	// 30 minutes later: the new buckets arrive; the run resumes at the watermark.
	clock = now.Add(30 * time.Minute)
	srv.SetNow(clock)
	for _, f := range all {
		if f.StartTime >= now.Unix() && f.StartTime < clock.Unix() {
			srv.Add(f)
		}
	}
	res2, err := GoldmaneList(context.Background(), st, opt)
	require.NoError(t, err)
	require.Equal(t, res.To, res2.From)
	require.Empty(t, res2.Gaps)
	// And again at the same time: nothing new, nothing counted twice.
	res3, err := GoldmaneList(context.Background(), st, opt)
	require.NoError(t, err)
	require.Zero(t, res3.Results)

	requireSameFiles(t, expectedStore(t, all, gmStart, clock.Add(-time.Minute)), namespaceFiles(t, st))
	rec := st.FindSource(allowlist.SourceGoldmane, "goldmane:test")
	require.NotNil(t, rec)
	require.Equal(t, allowlist.Time(clock.Add(-time.Minute).Unix()), rec.Watermark)
}

func TestGoldmaneListRecordsRetentionGap(t *testing.T) {
	all := goldmaneDemo(t, 4*time.Hour)
	now := gmStart.Add(30 * time.Minute)
	srv, pki := startGoldmane(t, now)
	for _, f := range all {
		if f.StartTime < now.Unix() {
			srv.Add(f)
		}
	}
	c := dialGoldmane(t, srv, pki)
	st, _ := allowlist.Open(t.TempDir(), config.Default())
	clock := now
	opt := GoldmaneOptions{Client: c, SourceID: "goldmane:test", Now: func() time.Time { return clock }}
	first, err := GoldmaneList(context.Background(), st, opt)
	require.NoError(t, err)

	// Three hours without a collector: Goldmane kept only the last hour.
	clock = now.Add(3 * time.Hour)
	srv.SetNow(clock)
	for _, f := range all {
		if f.StartTime >= now.Unix() && f.StartTime < clock.Unix() {
			srv.Add(f)
		}
	}
	res, err := GoldmaneList(context.Background(), st, opt)
	require.NoError(t, err)
	require.Len(t, res.Gaps, 1)
	g := res.Gaps[0]
	require.Equal(t, allowlist.Time(first.To.Unix()), g.From)
	require.InDelta(t, clock.Add(-time.Hour).Unix(), int64(g.To), 15, "the gap ends where Goldmane's history starts")
	require.Contains(t, g.Reason, "one hour")
	require.Len(t, st.Meta.Gaps, 1)
	files := namespaceFiles(t, st)
	require.Contains(t, files["n8n.yaml"], "gaps:")
}

func TestGoldmaneFollowCheckpointsAndSurvivesRestart(t *testing.T) {
	all := goldmaneDemo(t, 40*time.Minute)
	start := gmStart.Add(20 * time.Minute)
	for _, crash := range []bool{false, true} {
		srv, pki := startGoldmane(t, start)
		addRange(srv, all, gmStart, start)
		// Ten minutes of live buckets, with a restart halfway: the
		// connection drops, or Goldmane's process restarts, losing its
		// memory but for the five minutes Felix resends.
		h := &followHarness{srv: srv, c: dialGoldmane(t, srv, pki), all: all, since: 20 * time.Minute, target: start.Add(9 * time.Minute),
			step: func(i int) {
				if i != 20 {
					return
				}
				if !crash {
					require.NoError(t, srv.Restart())
					return
				}
				now := srv.Now()
				srv.Crash()
				addRange(srv, all, now.Add(-5*time.Minute-15*time.Second), now)
				require.NoError(t, srv.Start())
			}}
		h.run(t)
		require.Greater(t, h.saves.Load(), int64(2))

		// Everything up to the saved watermark, counted exactly once.
		reopened, err := allowlist.Open(h.dir, config.Default())
		require.NoError(t, err)
		rec := reopened.FindSource(allowlist.SourceGoldmane, "goldmane:test")
		require.Equal(t, gmStart, time.Unix(int64(rec.From), 0).UTC())
		require.Equal(t, h.target, rec.Watermark.T())
		require.Empty(t, reopened.Meta.Gaps, "crash %v: nothing was lost", crash)
		requireSameFiles(t, expectedStore(t, all, gmStart, rec.Watermark.T()), namespaceFiles(t, reopened))
		if crash {
			require.Contains(t, h.log.String(), "Goldmane restarted")
			require.NotNil(t, rec.Mark, "the restarted Goldmane's ids")
		}
	}
}
