package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Goldmane (counts, no addresses) plus the observe policy's LOG lines
// (addresses) for the same traffic: the store keeps both apart, and the
// rendered policy allows the logged addresses instead of any public one.
func TestObservePacketLogsWithGoldmane(t *testing.T) {
	dir := t.TempDir()
	gm := func(port string, n string) string {
		return `{"Key":{"source_name":"api-7d9c8b6f5-*","source_namespace":"shop","source_type":1,"dest_name":"pub","dest_type":4,"dest_port":` + port +
			`,"proto":"tcp","reporter":1,"action":1},"start_time":1779444600,"end_time":1779444615,"num_connections_started":` + n + `}`
	}
	goldmane := filepath.Join(dir, "goldmane.json")
	require.NoError(t, os.WriteFile(goldmane, []byte(gm("443", "7")+"\n"+gm("8443", "2")+"\n"), 0o644))
	// shop/api-7d9c8b6f5-x2k4q is cali7f43e6e1aa2; cali00000000000 is no listed pod.
	line := func(ts, in, dst, dpt string) string {
		return "2026-05-22T10:" + ts + "+0000 node1 kernel: calico-packet: IN=" + in + " OUT=ens18 MAC=ee:ee:ee:ee:ee:ee:2a:5f:1c:7d:90:b3:08:00 SRC=10.10.1.5 DST=" + dst +
			" LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=40112 DF PROTO=TCP SPT=51724 DPT=" + dpt + " WINDOW=64240 RES=0x00 SYN URGP=0"
	}
	kern := filepath.Join(dir, "kern.log")
	require.NoError(t, os.WriteFile(kern, []byte(strings.Join([]string{
		"-- Journal begins at Fri 2026-05-22 00:00:00 UTC. --",
		line("10:00", "cali7f43e6e1aa2", "149.154.167.220", "443"),
		line("10:01", "cali7f43e6e1aa2", "149.154.167.220", "443"), // a retransmitted SYN
		line("10:05", "cali7f43e6e1aa2", "149.154.167.221", "443"),
		line("10:06", "cali00000000000", "203.0.113.7", "443"),
	}, "\n")+"\n"), 0o644))
	podsFile := filepath.Join(dir, "pods.json")
	require.NoError(t, os.WriteFile(podsFile, []byte(`{"kind":"List","items":[{"kind":"Pod","metadata":{"namespace":"shop","name":"api-7d9c8b6f5-x2k4q","generateName":"api-7d9c8b6f5-","labels":{"app":"api"}},"spec":{},"status":{"phase":"Running","podIP":"10.10.1.5"}}]}`), 0o644))

	store := filepath.Join(dir, "allowlists")
	_, errs := mustRun(t, "observe", "--store", store, "--from", goldmane, "--from", kern, "--pods", podsFile)
	require.Contains(t, errs, "kern.log: ingested (packet-log, 3 records")
	require.Contains(t, errs, "packet log: 4 LOG lines, 3 counted once per 5-tuple and window (1 repeats), 0 from host interfaces, 1 unattributed")
	require.Contains(t, errs, "cali00000000000")
	require.Contains(t, errs, "warning: 1 records could not be attributed to a source namespace")

	b, err := os.ReadFile(filepath.Join(store, "shop.yaml"))
	require.NoError(t, err)
	shop := string(b)
	require.Contains(t, shop, "source: packet-log")
	require.Contains(t, shop, "149.154.167.220/32")
	require.Contains(t, shop, "flows: 7", "Goldmane's counts stay as they were")
	require.NotContains(t, shop, "flows: 9", "packet-log connections are not added to Goldmane's flows")

	out, _ := mustRun(t, "render", "--store", store, "--namespace", "shop", "--flavor", "calico-staged")
	require.Contains(t, out, "149.154.167.220/32")
	require.Contains(t, out, "calico-plan.io/evidence: packet-log")
	// TCP/8443 has no addresses: it still renders as any public address.
	require.Contains(t, out, "0.0.0.0/0")
	require.Equal(t, 1, strings.Count(out, "0.0.0.0/0"), out)

	js, _ := mustRun(t, "explain", "--store", store, "--namespace", "shop", "-o", "json")
	var ex explainReport
	require.NoError(t, json.Unmarshal([]byte(js), &ex))
	require.Len(t, ex.AddressGaps, 1)
	require.Contains(t, ex.AddressGaps[0], "public TCP/8443")
	require.Contains(t, ex.PacketLogs, "conntrack state NEW")
	found := false
	for _, r := range ex.Rules {
		if strings.Contains(r.Peer, "149.154.167.220/32") {
			found = true
			require.Contains(t, r.Note, "addresses from packet logs")
			require.EqualValues(t, 2, r.Evidence.Flows, "two connections: the retransmitted SYN counts once")
		}
	}
	require.True(t, found, "%+v", ex.Rules)

	stOut, _ := mustRun(t, "status", "--store", store)
	require.Contains(t, stOut, "address gap: shop: public TCP/8443 without packet-log addresses")

	// Observing the same files again changes nothing.
	before := readDir(t, store)
	mustRun(t, "observe", "--store", store, "--from", goldmane, "--from", kern, "--pods", podsFile)
	require.Equal(t, before, readDir(t, store))
}
