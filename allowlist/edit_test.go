package allowlist

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/profile"
)

func findEntry(list []Entry, kind, port string) *Entry {
	for i, e := range list {
		if e.Peer.Kind != kind {
			continue
		}
		for _, p := range e.Ports {
			if p.Port == port {
				return &list[i]
			}
		}
	}
	return nil
}

func portEvidence(e *Entry, port string) Evidence {
	for _, p := range e.Ports {
		if p.Port == port {
			return p.Evidence
		}
	}
	return Evidence{}
}

func TestFoldWouldDenyKeepsEvidenceWithoutDoubleCounting(t *testing.T) {
	p := profile.Default()
	dir := t.TempDir()
	s, err := Open(dir, p)
	require.NoError(t, err)
	s.Apply(aggregate(p, demoFlows(t)))
	require.NoError(t, s.Save())

	rr := s.Namespace("recruiter-responder")
	require.Len(t, rr.WouldDeny, 1)
	wd := rr.WouldDeny[0]
	require.Equal(t, []string{"104.18.32.7/32"}, wd.Peer.Nets)
	before := portEvidence(findEntry(rr.Egress, PeerPublic, "TCP/443"), "TCP/443")
	denied := len(rr.Denied)
	require.NotZero(t, denied)

	moved, err := s.FoldIntoEgress("recruiter-responder", false)
	require.NoError(t, err)
	require.Len(t, moved, 1)
	require.Equal(t, "wouldDeny", moved[0].From)
	require.Equal(t, wd, moved[0].Entry, "the moved entry is reported with its evidence")

	require.Empty(t, rr.WouldDeny)
	require.Len(t, rr.Denied, denied, "denied entries stay without --include-denied")
	after := findEntry(rr.Egress, PeerPublic, "TCP/443")
	require.Contains(t, after.Peer.Nets, "104.18.32.7/32")
	require.Equal(t, before.Flows, portEvidence(after, "TCP/443").Flows, "would-deny flows were already counted as allowed egress")
	require.Equal(t, before.FirstSeen, portEvidence(after, "TCP/443").FirstSeen)

	require.NoError(t, s.Save())
	s2, err := Open(dir, p)
	require.NoError(t, err)
	require.Empty(t, s2.Namespace("recruiter-responder").WouldDeny, "the fold is saved")
	require.Equal(t, rr.Egress, s2.Namespace("recruiter-responder").Egress)
}

func TestFoldIncludeDeniedMovesDeniedEntries(t *testing.T) {
	p := profile.Default()
	s, err := Open(t.TempDir(), p)
	require.NoError(t, err)
	s.Apply(aggregate(p, demoFlows(t)))
	_, err = s.Render()
	require.NoError(t, err)
	rr := s.Namespace("recruiter-responder")
	dot := findEntry(rr.Denied, PeerPublic, "TCP/853")
	require.NotNil(t, dot)
	want := portEvidence(dot, "TCP/853")
	require.Nil(t, findEntry(rr.Egress, PeerPublic, "TCP/853"))

	moved, err := s.FoldIntoEgress("recruiter-responder", true)
	require.NoError(t, err)
	require.Len(t, moved, 2)
	require.Equal(t, "denied", moved[1].From)
	require.Empty(t, rr.Denied)
	got := findEntry(rr.Egress, PeerPublic, "TCP/853")
	require.NotNil(t, got)
	require.Equal(t, want, portEvidence(got, "TCP/853"), "denied flows were never counted as egress: evidence moves unchanged")

	_, err = s.FoldIntoEgress("nope", false)
	require.ErrorContains(t, err, `namespace "nope" is not in the store`)
}

func TestFoldHandEditedEntryNotInEgress(t *testing.T) {
	p := profile.Default()
	n, err := ParseNamespace([]byte(`version: 1
namespace: shop
tier: 4-aux
tierSource: label
rollout: {stage: staged}
observation: {from: "2026-11-01T00:00:00Z", to: "2026-11-10T00:00:00Z", lastNewEntry: "", state: Stable}
egress:
  - peer: {kind: dns}
    ports:
      - {port: UDP/53, flows: 10, bytes: 100, firstSeen: "2026-11-01T00:00:00Z", lastSeen: "2026-11-10T00:00:00Z", days: [2026-11-01..2026-11-10]}
wouldDeny:
  - peer: {kind: namespace, namespace: dbaas}
    ports:
      - {port: TCP/5432, flows: 3, bytes: 30, firstSeen: "2026-11-09T00:00:00Z", lastSeen: "2026-11-09T06:00:00Z", days: [2026-11-09]}
    workloads: [shop-api-*]
`), "shop.yaml")
	require.NoError(t, err)
	s, err := Open(t.TempDir(), p)
	require.NoError(t, err)
	s.ns["shop"] = n
	moved, err := s.FoldIntoEgress("shop", false)
	require.NoError(t, err)
	require.Len(t, moved, 1)
	e := findEntry(n.Egress, PeerNamespace, "TCP/5432")
	require.NotNil(t, e)
	require.Equal(t, "dbaas", e.Peer.Namespace)
	require.Equal(t, int64(3), e.Ports[0].Flows)
	require.Equal(t, []string{"shop-api-*"}, e.Workloads)
}

func TestNoEgressDeclarations(t *testing.T) {
	n := &Namespace{Namespace: "nextcloud"}
	_, err := n.SetNoEgress("nextcloud-backup", "")
	require.ErrorContains(t, err, "a reason is required")
	_, err = n.SetNoEgress("Not_A_Name", "x")
	require.ErrorContains(t, err, "not a valid object name")

	replaced, err := n.SetNoEgress("nextcloud-backup", "writes to a local PVC only")
	require.NoError(t, err)
	require.False(t, replaced)
	_, err = n.SetNoEgress("db-vacuum", "in-pod only")
	require.NoError(t, err)
	replaced, err = n.SetNoEgress("nextcloud-backup", "local PVC only (checked 2026-11-27)")
	require.NoError(t, err)
	require.True(t, replaced)
	require.Equal(t, []NoEgress{{"db-vacuum", "in-pod only"}, {"nextcloud-backup", "local PVC only (checked 2026-11-27)"}}, n.NoEgress)
	d, ok := n.NoEgressFor("nextcloud-backup")
	require.True(t, ok)
	require.Equal(t, "local PVC only (checked 2026-11-27)", d.Reason)
	require.True(t, n.RemoveNoEgress("db-vacuum"))
	require.False(t, n.RemoveNoEgress("db-vacuum"))
	require.Len(t, n.NoEgress, 1)
}
