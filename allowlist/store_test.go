package allowlist

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/demo"
	"github.com/calico-plan/calico-plan/internal/fsutil"
	"github.com/calico-plan/calico-plan/profile"
)

func demoFlows(t testing.TB) []flows.Flow {
	t.Helper()
	var out []flows.Flow
	require.NoError(t, demo.Generate(demo.DefaultOptions(), func(f *flows.Flow) error { out = append(out, *f); return nil }))
	return out
}

func aggregate(p *profile.Profile, fs []flows.Flow) *Aggregator {
	a := NewAggregator(NewClassifier(p))
	for i := range fs {
		a.Add(&fs[i])
	}
	return a
}

func renderStore(t *testing.T, s *Store) map[string]string {
	t.Helper()
	files, err := s.Render()
	require.NoError(t, err)
	out := map[string]string{}
	for k, v := range files {
		out[k] = string(v)
	}
	return out
}

func TestMergeIsOrderIndependent(t *testing.T) {
	p := profile.Default()
	fs := demoFlows(t)
	whole, err := Open(t.TempDir(), p)
	require.NoError(t, err)
	whole.Apply(aggregate(p, fs))

	// Parallel workers: interleaved split merged in the aggregator.
	a, b := NewAggregator(NewClassifier(p)), NewAggregator(NewClassifier(p))
	for i := range fs {
		if i%2 == 0 {
			a.Add(&fs[i])
		} else {
			b.Add(&fs[i])
		}
	}
	b.Merge(a)
	par, _ := Open(t.TempDir(), p)
	par.Apply(b)
	require.Equal(t, renderStore(t, whole), renderStore(t, par))

	// Incremental observe: two time-ordered halves applied one after another.
	inc, _ := Open(t.TempDir(), p)
	inc.Apply(aggregate(p, fs[:len(fs)/2]))
	inc.Apply(aggregate(p, fs[len(fs)/2:]))
	require.Equal(t, renderStore(t, whole), renderStore(t, inc))
}

func TestSaveOpenRoundTripIsByteIdentical(t *testing.T) {
	p := profile.Default()
	dir := t.TempDir()
	s, err := Open(dir, p)
	require.NoError(t, err)
	s.Apply(aggregate(p, demoFlows(t)))
	require.NoError(t, s.Save())
	first := renderStore(t, s)

	s2, err := Open(dir, p)
	require.NoError(t, err)
	require.Equal(t, first, renderStore(t, s2))
	for name, content := range first {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		require.Equal(t, content, string(b), name)
	}
	require.Contains(t, first, "recruiter-responder.yaml")
	rr := first["recruiter-responder.yaml"]
	require.Contains(t, rr, "kind: dns")
	require.Contains(t, rr, "port: UDP/53")
	require.Contains(t, rr, "wouldDeny:")
	require.Contains(t, rr, "104.18.32.7/32")
	require.NotContains(t, rr, "pod-template-hash", "noise labels never reach the store")
}

func TestStoreEntriesAndEvidence(t *testing.T) {
	p := profile.Default()
	s, _ := Open(t.TempDir(), p)
	s.Apply(aggregate(p, demoFlows(t)))
	_ = renderStore(t, s)
	rr := s.Namespace("recruiter-responder")
	require.NotNil(t, rr)
	var pg, tg *Entry
	for i, e := range rr.Egress {
		if e.Peer.Kind == PeerNamespace && e.Peer.Namespace == "dbaas" {
			pg = &rr.Egress[i]
		}
		if e.Peer.Kind == PeerPublic && len(e.Peer.Nets) > 0 && e.Ports[0].Port == "TCP/443" {
			tg = &rr.Egress[i]
		}
	}
	require.NotNil(t, pg)
	require.Equal(t, map[string]string{"cnpg.io/cluster": "pg-cluster", "cnpg.io/instanceRole": "primary", "role": "primary"}, pg.Peer.Labels)
	require.Equal(t, []string{"dbaas/pg-cluster-rw"}, pg.Services)
	require.Equal(t, []string{"recruiter-responder-api-7d9c8f5b6-*"}, pg.Workloads)
	ev := pg.Ports[0]
	require.Equal(t, "TCP/5432", ev.Port)
	require.Len(t, ev.Days, 14)
	require.Equal(t, "2026-11-13T00:00:00Z", ev.FirstSeen.String())
	require.Equal(t, "2026-11-27T00:00:00Z", ev.LastSeen.String())
	require.NotNil(t, tg)
	// The would-deny address is allowed traffic today, so it is in the allowlist too.
	require.Equal(t, []string{"91.108.56.130/32", "104.18.32.7/32", "149.154.166.110/32", "149.154.167.41/32", "149.154.167.220/32"}, tg.Peer.Nets)
	// Denied flows are kept apart.
	require.NotEmpty(t, rr.Denied)
	for _, e := range rr.Egress {
		for _, port := range e.Ports {
			require.NotEqual(t, "TCP/853", port.Port, "a denied port never reaches the allowlist")
		}
	}
	// The kube-system upstream DNS is a private /32 on UDP 53, not the cluster DNS.
	ks := s.Namespace("kube-system")
	require.Equal(t, PeerPrivate, ks.Egress[0].Peer.Kind)
	require.Equal(t, []string{"10.0.20.1/32"}, ks.Egress[0].Peer.Nets)
}

func TestAtomicSaveRollsForwardAfterCrash(t *testing.T) {
	p := profile.Default()
	dir := t.TempDir()
	s, _ := Open(dir, p)
	fs := demoFlows(t)
	s.Apply(aggregate(p, fs[:len(fs)/2]))
	require.NoError(t, s.Save())
	before := renderStore(t, s)

	// Crash after the journal is committed: Open reads the committed state
	// without touching the directory; the next Save completes the write.
	s.Apply(aggregate(p, fs[len(fs)/2:]))
	after := renderStore(t, s)
	fsutil.HookAfterJournal = func() error { return errors.New("simulated crash") }
	err := s.Save()
	fsutil.HookAfterJournal = nil
	require.Error(t, err)
	_, statErr := os.Stat(filepath.Join(dir, fsutil.JournalName))
	require.NoError(t, statErr, "journal left behind by the crash")
	// Crash of a later write before its journal: a temp file only.
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".n8n.yaml.tmp-123"), []byte("garbage"), 0o644))
	disk := dirSnapshot(t, dir)
	s2, err := Open(dir, p)
	require.NoError(t, err)
	require.Equal(t, after, renderStore(t, s2), "the committed write is what a reader sees")
	require.NotEqual(t, before, after)
	require.Equal(t, disk, dirSnapshot(t, dir), "opening a store never changes it")

	// A writer completes the journal and removes the stray temp file.
	require.NoError(t, s2.Save())
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		require.False(t, strings.HasPrefix(e.Name(), "."+"calico-plan-journal") || strings.Contains(e.Name(), ".tmp-"), e.Name())
	}
	s3, err := Open(dir, p)
	require.NoError(t, err)
	require.Equal(t, after, renderStore(t, s3))
}

// dirSnapshot returns every file of dir with its content.
func dirSnapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		out[e.Name()] = string(b)
	}
	return out
}

func TestParseNamespaceErrorsNameFileLineField(t *testing.T) {
	good := `version: 1
namespace: shop
tier: 4-aux
tierSource: label
rollout: {stage: observe}
observation: {from: "2026-11-13T00:00:00Z", to: "2026-11-14T00:00:00Z", lastNewEntry: "", state: Learning}
egress:
  - peer: {kind: dns}
    ports:
      - {port: UDP/53, flows: 1, bytes: 1, firstSeen: "2026-11-13T00:00:00Z", lastSeen: "2026-11-13T00:00:00Z", days: [2026-11-13]}
  - peer: {kind: namespace, namespace: dbaas, labels: {app: "pg"}}
    ports:
      - {port: TCP/5432, flows: 1, bytes: 1, firstSeen: "2026-11-13T00:00:00Z", lastSeen: "2026-11-14T12:00:00Z", days: [2026-11-13..2026-11-14]}
`
	n, err := ParseNamespace([]byte(good), "shop.yaml")
	require.NoError(t, err)
	require.Len(t, n.Egress[1].Ports[0].Days, 2)

	cases := map[string]string{
		strings.Replace(good, `app: "pg"`, `app: "${jndi:x}"`, 1):                    `shop.yaml:11: egress[1].peer.labels[app]: "${jndi:x}" is not a valid label value`,
		strings.Replace(good, "TCP/5432", "TCP/99999", 1):                            `shop.yaml:11: egress[1].ports[0]: port "TCP/99999"`,
		strings.Replace(good, "kind: dns", "kind: everything", 1):                    `shop.yaml:8: egress[0].peer.kind: "everything" is not one of`,
		strings.Replace(good, "tier: 4-aux", "tier: 4-aux\nbogus: 1", 1):             `shop.yaml:4: bogus: unknown key`,
		strings.Replace(good, "version: 1", "version: 9", 1):                         `version 9 is not supported`,
		strings.Replace(good, "namespace: shop", "namespace: Shop", 1):               `shop.yaml:2: namespace: "Shop" is not a valid namespace name`,
		strings.Replace(good, "2026-11-13..2026-11-14", "2026-11-14..2026-11-13", 1): `bad range`,
	}
	for in, want := range cases {
		_, err := ParseNamespace([]byte(in), "shop.yaml")
		require.Error(t, err)
		require.Contains(t, err.Error(), want)
	}
}

func TestTierResolution(t *testing.T) {
	p := profile.Default()
	p.Tiers.NameRules = []profile.NameRule{{Prefix: "aux-", Tier: "4-aux"}}
	s, _ := Open(t.TempDir(), p)
	f := srcFlow()
	f.Dest = flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", Port: 443}
	for _, ns := range []string{"shop", "aux-tools", "other"} {
		f.Source.Namespace = ns
		s.Apply(aggregate(p, []flows.Flow{f}))
	}
	require.Equal(t, TierUnassigned, s.Namespace("shop").Tier)
	require.Equal(t, "4-aux", s.Namespace("aux-tools").Tier)
	require.Equal(t, "name-rule", s.Namespace("aux-tools").TierSource)
	s.SetNamespaceLabels(map[string]map[string]string{"shop": {"tier": "3-edge"}, "aux-tools": {}})
	require.Equal(t, "3-edge", s.Namespace("shop").Tier)
	require.Equal(t, "label", s.Namespace("shop").TierSource)
	require.Equal(t, "4-aux", s.Namespace("aux-tools").Tier)
	require.Equal(t, TierUnassigned, s.Namespace("other").Tier)
	// A later run without labels keeps what labels said.
	s.SetNamespaceLabels(nil)
	require.Equal(t, "3-edge", s.Namespace("shop").Tier)
}

func TestOpenReadableLeavesBrokenFilesOutAndNeverSaves(t *testing.T) {
	p := profile.Default()
	dir := t.TempDir()
	s, err := Open(dir, p)
	require.NoError(t, err)
	s.Apply(aggregate(p, demoFlows(t)))
	require.NoError(t, s.Save())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tasks.yaml"), []byte("version: 1\nnamespace: tasks\nbogus: 1\n"), 0o644))

	_, err = Open(dir, p)
	require.ErrorContains(t, err, "tasks.yaml:3: bogus: unknown key")
	r, err := OpenReadable(dir, p)
	require.NoError(t, err)
	require.Nil(t, r.Namespace("tasks"))
	require.NotNil(t, r.Namespace("proxy"))
	require.ErrorContains(t, r.Broken["tasks"], "tasks.yaml:3: bogus: unknown key")
	require.ErrorContains(t, r.Save(), "not saved")
	b, err := os.ReadFile(filepath.Join(dir, "tasks.yaml"))
	require.NoError(t, err)
	require.Contains(t, string(b), "bogus: 1", "the broken file is left as it is")
}
