package allowlist

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/profile"
)

// A store file as observe writes it (block style: one key per line).
const evidenceFile = `version: 1
namespace: shop
tier: 4-aux
tierSource: label
rollout:
  stage: observe
  since: "2026-11-13T00:00:00Z"
observation:
  from: "2026-11-13T00:00:00Z"
  to: "2026-11-15T00:00:00Z"
  lastNewEntry: "2026-11-14T00:00:00Z"
  state: Learning
egress:
  - peer:
      kind: dns
    ports:
      - port: UDP/53
        flows: 10
        bytes: 1000
        firstSeen: "2026-11-13T00:00:00Z"
        lastSeen: "2026-11-15T00:00:00Z"
        days: [2026-11-13..2026-11-14]
  - peer:
      kind: public
      nets: [1.2.3.4/32]
    ports:
      - port: TCP/443
        flows: 5
        bytes: 500
        firstSeen: "2026-11-13T10:00:00Z"
        lastSeen: "2026-11-14T10:00:00Z"
        days: [2026-11-13, 2026-11-14]
        lastNewAddress: "2026-11-13T10:00:00Z"
`

// Hand-edited evidence no observation can produce is rejected on load,
// naming the file, the line of the value and the field. Before, negative
// counts, unset or impossible times, lastSeen before firstSeen and days
// outside the observed window were all accepted.
func TestImpossibleEvidenceRejectedOnLoad(t *testing.T) {
	_, err := ParseNamespace([]byte(evidenceFile), "shop.yaml")
	require.NoError(t, err)

	cases := []struct {
		old, new string
		want     string
	}{
		{"flows: 10", "flows: -10", `shop.yaml:18: egress[0].ports[0].flows: -10 is negative`},
		{"bytes: 500", "bytes: -1", `shop.yaml:29: egress[1].ports[0].bytes: -1 is negative`},
		{`firstSeen: "2026-11-13T00:00:00Z"`, `firstSeen: ""`, `shop.yaml:20: egress[0].ports[0].firstSeen: required`},
		{`firstSeen: "2026-11-13T00:00:00Z"`, `firstSeen: "1969-12-31T23:59:59Z"`, `shop.yaml:20: egress[0].ports[0].firstSeen: 1969-12-31T23:59:59Z is before 2015-01-01`},
		{`firstSeen: "2026-11-13T00:00:00Z"`, `firstSeen: "1970-01-01T00:00:00Z"`, `shop.yaml:20: egress[0].ports[0].firstSeen: required`},
		{`lastSeen: "2026-11-15T00:00:00Z"`, `lastSeen: "2226-11-15T00:00:00Z"`, `shop.yaml:21: egress[0].ports[0].lastSeen: 2226-11-15T00:00:00Z is after 2100-01-01`},
		{`lastSeen: "2026-11-14T10:00:00Z"`, `lastSeen: "2026-11-12T10:00:00Z"`, `shop.yaml:31: egress[1].ports[0].lastSeen: 2026-11-12T10:00:00Z is before firstSeen 2026-11-13T10:00:00Z`},
		{"days: [2026-11-13..2026-11-14]", "days: [2026-11-01..2026-11-14]", `shop.yaml:22: egress[0].ports[0].days: 2026-11-01 is outside firstSeen..lastSeen (2026-11-13..2026-11-15): 14 days listed, at most 3 possible`},
		{"days: [2026-11-13, 2026-11-14]", "days: [2026-11-13, 2020-01-01]", `shop.yaml:32: egress[1].ports[0].days: 2020-01-01 is outside`},
		{`lastNewAddress: "2026-11-13T10:00:00Z"`, `lastNewAddress: "2027-01-01T00:00:00Z"`, `shop.yaml:33: egress[1].ports[0].lastNewAddress: 2027-01-01T00:00:00Z is outside firstSeen..lastSeen`},
		{"port: TCP/443", "port: TCP/0", `shop.yaml:23: egress[1].ports[0]: port "TCP/0": "0" is not 1-65535 or *`},
		{`to: "2026-11-15T00:00:00Z"`, `to: "2026-11-12T00:00:00Z"`, `shop.yaml:10: observation.to: 2026-11-12T00:00:00Z is before from 2026-11-13T00:00:00Z`},
		{`from: "2026-11-13T00:00:00Z"`, `from: "1960-01-01T00:00:00Z"`, `shop.yaml:9: observation.from: 1960-01-01T00:00:00Z is before 2015-01-01`},
	}
	for _, tc := range cases {
		in := strings.Replace(evidenceFile, tc.old, tc.new, 1)
		require.NotEqual(t, evidenceFile, in, tc.old)
		_, err := ParseNamespace([]byte(in), "shop.yaml")
		require.Error(t, err, tc.new)
		require.Contains(t, err.Error(), tc.want)
	}

	// Through the store: the file's path and line.
	dir := t.TempDir()
	bad := strings.Replace(evidenceFile, "flows: 10", "flows: -10", 1)
	require.NoError(t, os.WriteFile(filepath.Join(dir, MetaFile), []byte("version: 1\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "shop.yaml"), []byte(bad), 0o644))
	_, err = Open(dir, profile.Default())
	require.ErrorContains(t, err, filepath.Join(dir, "shop.yaml")+":18: egress[0].ports[0].flows: -10 is negative")
}
