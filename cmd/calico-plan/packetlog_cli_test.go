package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/flows/loki/lokitest"
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

	felix := filepath.Join(dir, "felix.yaml")
	require.NoError(t, os.WriteFile(felix, []byte("kind: FelixConfiguration\nmetadata: {name: default}\nspec: {logActionRateLimit: 10/second}\n"), 0o644))
	store := filepath.Join(dir, "allowlists")
	_, errs := mustRun(t, "observe", "--store", store, "--from", goldmane, "--from", kern, "--pods", podsFile, "--felix-config", felix)
	require.Contains(t, errs, "warning: FelixConfiguration default sets logActionRateLimit 10/second")
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

	// --network-sets: the two addresses share a /24: one GlobalNetworkSet,
	// selected by the policy, in YAML and in HCL.
	out, errs = mustRun(t, "render", "--store", store, "--namespace", "shop", "--flavor", "calico-staged", "--network-sets", "--network-set-min", "2")
	require.Contains(t, errs, "network set calico-plan-149-154-167-0-24: 2 observed addresses")
	require.Contains(t, out, "kind: GlobalNetworkSet")
	require.Contains(t, out, "selector: calico-plan.io/network-set == 'calico-plan-149-154-167-0-24'")
	hcl, _ := mustRun(t, "render", "--store", store, "--namespace", "shop", "--flavor", "calico-staged", "--network-sets", "--network-set-min", "2", "-o", "hcl")
	require.Contains(t, hcl, `kind       = "GlobalNetworkSet"`)
	_, _, err = run(t, "", "render", "--store", store, "--namespace", "shop", "--flavor", "k8s", "--allow-unstable", "--network-sets")
	require.ErrorContains(t, err, "needs a Calico flavor")

	stOut, _ := mustRun(t, "status", "--store", store)
	require.Contains(t, stOut, "address gap: shop: public TCP/8443 without packet-log addresses")

	require.Contains(t, stOut, "logActionRateLimit 10/second", "status keeps the warning")

	// Observing the same files again changes nothing.
	before := readDir(t, store)
	mustRun(t, "observe", "--store", store, "--from", goldmane, "--from", kern, "--pods", podsFile, "--felix-config", felix)
	require.Equal(t, before, readDir(t, store))
}

// observe --loki against an in-process server speaking Loki's query_range
// wire format: the lines are read in pages, attributed, and the store
// remembers where the read stopped.
func TestObserveLoki(t *testing.T) {
	dir := t.TempDir()
	podsFile := filepath.Join(dir, "pods.json")
	require.NoError(t, os.WriteFile(podsFile, []byte(`{"kind":"List","items":[{"kind":"Pod","metadata":{"namespace":"shop","name":"api-7d9c8b6f5-x2k4q","generateName":"api-7d9c8b6f5-"},"spec":{},"status":{"phase":"Running","podIP":"10.10.1.5"}}]}`), 0o644))
	var entries []lokitest.Entry
	base := int64(1779444672) * 1e9
	for i := 0; i < 30; i++ {
		line := fmt.Sprintf("calico-packet: IN=cali7f43e6e1aa2 OUT=ens18 MAC=ee:ee:ee:ee:ee:ee:2a:5f:1c:7d:90:b3:08:00 SRC=10.10.1.5 DST=149.154.167.%d LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=%d DF PROTO=TCP SPT=%d DPT=443 WINDOW=64240 RES=0x00 SYN URGP=0", 200+i%3, i, 40000+i)
		entries = append(entries, lokitest.Entry{TS: base + int64(i/2)*1e9, Line: line})
	}
	srv := lokitest.New([]lokitest.Stream{{Labels: map[string]string{"job": "node-journal", "transport": "kernel", "node": "node1"}, Entries: entries}})
	defer srv.Close()
	srv.Token = "tok-9f8e7d"
	t.Setenv(envLokiToken, "tok-9f8e7d")

	store := filepath.Join(dir, "allowlists")
	args := []string{"observe", "--store", store, "--loki", srv.URL, "--loki-page-size", "7", "--pods", podsFile,
		"--start-time", "2026-05-22T10:00:00Z", "--end-time", "2026-05-22T11:00:00Z"}
	_, errs := mustRun(t, args...)
	require.NotContains(t, errs, "tok-9f8e7d")
	require.Contains(t, errs, "30 lines from 1 streams")
	require.Contains(t, errs, "packet log: 30 LOG lines, 30 counted")
	require.Greater(t, srv.RequestCount(), 4)
	b, err := os.ReadFile(filepath.Join(store, "shop.yaml"))
	require.NoError(t, err)
	require.Contains(t, string(b), "149.154.167.202/32")
	require.Contains(t, string(b), "source: packet-log")
	require.Contains(t, string(b), "flows: 30")
	meta, err := os.ReadFile(filepath.Join(store, "_store.yaml"))
	require.NoError(t, err)
	require.Contains(t, string(meta), "kind: loki")
	require.Contains(t, string(meta), "watermark: \"2026-05-22T11:00:00Z\"")

	// The next observe resumes at the watermark: nothing new, nothing counted twice.
	_, errs = mustRun(t, "observe", "--store", store, "--loki", srv.URL, "--pods", podsFile, "--end-time", "2026-05-22T11:00:00Z")
	require.Contains(t, errs, "nothing new")

	// A wrong token is an error that does not show the token.
	t.Setenv(envLokiToken, "wrong-5a4b")
	_, errs, err = run(t, "", "observe", "--store", filepath.Join(dir, "other"), "--loki", srv.URL, "--since", "1h")
	require.ErrorContains(t, err, "HTTP 401")
	require.NotContains(t, err.Error()+errs, "wrong-5a4b")
}

// The Calico OSS demo end to end: Goldmane flows plus the committed LOG
// lines observed, staged policies rendered, and every logged connection
// replayed by check against them with its exact addresses.
func TestOSSDemoPoliciesAllowEveryLoggedConnection(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "generate", "--out", filepath.Join(dir, "data"), "--format", "goldmane", "--packet-log=false")
	store := filepath.Join(dir, "allowlists")
	mustRun(t, "observe", "--store", store, "--from", filepath.Join(dir, "data", "goldmane-flows.json.gz"),
		"--from", "../../testdata/demo/kern.log.gz", "--pods", "../../testdata/demo/pods.json", "--namespaces", demoNS)
	pol := filepath.Join(dir, "policies")
	mustRun(t, "render", "--store", store, "--all", "--flavor", "calico-staged", "--out", pol)
	out, _ := mustRun(t, "check", "--policies", pol, "--flows", "../../testdata/demo/kern.log.gz", "--pods", "../../testdata/demo/pods.json", "--namespaces", demoNS)
	require.Contains(t, out, "SUMMARY: 3022 records (3022 observed allowed, 0 denied): 0 would-deny, 0 unknown")
	require.Contains(t, out, "probes: 48 denied, 0 allowed")
	// Without the pod listing nothing is attributed: every record is
	// unknown, none passes as allowed.
	out, _, _ = run(t, "", "check", "--policies", pol, "--flows", "../../testdata/demo/kern.log.gz", "--namespaces", demoNS)
	require.Contains(t, out, "0 would-deny, 3022 unknown")
	require.Contains(t, out, "matches no listed pod")
}
