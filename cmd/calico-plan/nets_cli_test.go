package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// eeRecord is one Calico Enterprise flow log line from namespace shop.
func eeRecord(start int64, destType, destNS, destAggr, destIP string, port int, proto string) string {
	ip := "null"
	if destIP != "" {
		ip = `"` + destIP + `"`
	}
	return fmt.Sprintf(`{"start_time":%d,"end_time":%d,"source_ip":null,"source_name":"-","source_name_aggr":"api-7d9c8f5b6-*","source_namespace":"shop","source_port":null,"source_type":"wep","source_labels":{"labels":["app=api"]},"dest_ip":%s,"dest_name":"-","dest_name_aggr":%q,"dest_namespace":%q,"dest_port":%d,"dest_type":%q,"dest_labels":{"labels":[]},"dest_service_namespace":"-","dest_service_name":"-","dest_service_port":"-","dest_service_port_num":null,"proto":%q,"action":"allow","reporter":"src","policies":{"enforced_policies":[],"pending_policies":[]},"bytes_in":100,"bytes_out":100,"num_flows":1,"packets_in":1,"packets_out":1}`,
		start, start+60, ip, destAggr, destNS, port, destType, proto)
}

// netsStore observes a namespace with link-local, zoned and CGNAT
// destinations, NodeLocal DNS, a network set without labels and 2,000
// public addresses in 20.0.0.0/14, over ten days.
func netsStore(t *testing.T) (store string) {
	t.Helper()
	dir := t.TempDir()
	var lines []string
	t0 := int64(1794528000)
	for d := int64(0); d < 10; d++ {
		at := t0 + d*86400
		lines = append(lines,
			eeRecord(at, "net", "-", "pub", "169.254.169.254", 80, "tcp"),
			eeRecord(at, "net", "-", "pub", "fe80::1%eth0", 8443, "tcp"),
			eeRecord(at, "net", "-", "pub", "100.64.7.7", 41641, "udp"),
			eeRecord(at, "net", "-", "pub", "169.254.20.10", 53, "udp"),
			eeRecord(at, "ns", "shop", "partners", "", 443, "tcp"),
			eeRecord(at, "wep", "dbaas", "pg-*", "", 5432, "tcp"),
		)
	}
	for i := 0; i < 2000; i++ {
		a := netip.AddrFrom4([4]byte{20, byte(i % 4), byte(i * 7 % 256), byte(1 + i%250)})
		lines = append(lines, eeRecord(t0+int64(i)*300, "net", "-", "pub", a.String(), 443, "tcp"))
	}
	flows := filepath.Join(dir, "flows.log")
	require.NoError(t, os.WriteFile(flows, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	store = filepath.Join(dir, "allowlists")
	mustRun(t, "observe", "--store", store, "--from", flows)
	return store
}

func TestSpecialRangesWideningAndUnlabelledSetEndToEnd(t *testing.T) {
	store := netsStore(t)
	b, err := os.ReadFile(filepath.Join(store, "shop.yaml"))
	require.NoError(t, err)
	file := string(b)
	// Classified, never public; DNS to NodeLocal stays DNS.
	require.Contains(t, file, "kind: special\n      name: link-local\n      nets:\n        - 169.254.169.254/32")
	require.Contains(t, file, "- fe80::1/128", "the zone id is not part of the address")
	require.Contains(t, file, "name: cgnat")
	require.Contains(t, file, "kind: dns")
	require.NotContains(t, file, "169.254.20.10")

	// explain: everything but the unlabelled set, which is reported with
	// what to do; widening and special ranges warned.
	out, _ := mustRun(t, "explain", "--store", store, "--namespace", "shop")
	require.Contains(t, out, "NOT RENDERED")
	require.Contains(t, out, "networkset shop/partners")
	require.Contains(t, out, "label the set")
	require.Contains(t, out, "namespace dbaas")
	require.Contains(t, out, "special link-local 169.254.169.254/32")
	require.Contains(t, out, "2,000 addresses seen")
	require.Contains(t, out, "169.254.169.254 is the cloud metadata service")
	js, _ := mustRun(t, "explain", "--store", store, "--namespace", "shop", "-o", "json")
	var ex explainReport
	require.NoError(t, json.Unmarshal([]byte(js), &ex))
	require.Len(t, ex.NotRendered, 1)
	require.Equal(t, int64(10), ex.NotRendered[0].Evidence.Flows)

	// render, staged: written without the set, reported.
	yml, errs := mustRun(t, "render", "--store", store, "--namespace", "shop", "--flavor", "calico-staged")
	require.Contains(t, errs, "NOT RENDERED: egress[")
	require.Contains(t, errs, "the staged policy reports its flows as would-deny")
	require.Contains(t, errs, "the rule opens")
	require.Contains(t, yml, "kind: StagedNetworkPolicy")
	var nets []string
	for _, doc := range strings.Split(yml, "\n---\n") {
		var m map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(doc), &m))
		spec, _ := m["spec"].(map[string]any)
		eg, _ := spec["egress"].([]any)
		for _, r := range eg {
			dst, _ := r.(map[string]any)["destination"].(map[string]any)
			nets = append(nets, asStrings(dst["nets"])...)
		}
	}
	require.NotEmpty(t, nets)
	for _, n := range nets {
		p := netip.MustParsePrefix(n)
		if p.Addr().Is4() {
			require.GreaterOrEqual(t, p.Bits(), 16, "%s wider than /16", n)
		}
	}

	// render, enforcing: refused for this namespace (it would deny the
	// set's traffic).
	_, _, err = run(t, "", "render", "--store", store, "--namespace", "shop", "--flavor", "calico", "--allow-unstable")
	require.ErrorContains(t, err, "egress entries cannot be rendered as calico")

	// promote gates on it.
	_, errs, err = run(t, "", "promote", "--store", store, "--namespace", "shop", "--to", "staged", "--now", "2026-11-28")
	require.Error(t, err)
	require.Contains(t, errs, "renderable: 1 egress entries cannot be rendered as calico-staged")

	// With cluster facts that have the set, its CIDRs are used.
	snap := filepath.Join(t.TempDir(), "cluster.yaml")
	require.NoError(t, os.WriteFile(snap, []byte(`kind: ClusterSnapshot
version: 1
calicoAPI: projectcalico.org/v3
calicoObjects:
- kind: NetworkSet
  namespace: shop
  name: partners
  spec:
    nets: [198.18.0.0/24]
namespaces:
- name: shop
  labels: {tier: 4-aux}
`), 0o644))
	yml, errs = mustRun(t, "render", "--store", store, "--namespace", "shop", "--flavor", "calico-staged", "--cluster", snap)
	require.NotContains(t, errs, "NOT RENDERED")
	require.Contains(t, errs, "renders as the set's CIDRs in the cluster facts")
	require.Contains(t, yml, "198.18.0.0/24")
	out, _ = mustRun(t, "explain", "--store", store, "--namespace", "shop", "--cluster", snap)
	require.NotContains(t, out, "NOT RENDERED")
}

func asStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
