package demo

import (
	"github.com/calico-plan/calico-plan/internal/cluster"
)

// Cluster returns cluster facts matching the synthetic cluster: its
// namespaces and labels, the weekly nextcloud backup CronJob, the nodes the
// monitoring scrape reaches, the usenet GlobalNetworkSet, the security
// tier's policy that denies IRC and DNS-over-TLS (the flows' denied
// traffic) and the cluster's allow-all observe GlobalNetworkPolicy.
func Cluster(opt Options) *cluster.Facts {
	f := cluster.New()
	f.CalicoAPI = cluster.CalicoAPIServer
	for _, n := range Namespaces(opt) {
		f.Namespaces = append(f.Namespaces, cluster.Namespace{Name: n.Name, Labels: n.Labels})
	}
	for r := 0; r < max(1, opt.Replicas); r++ {
		sfx := suffix(r)
		f.CronJobs = append(f.CronJobs, cluster.CronJob{
			Namespace: "nextcloud" + sfx, Name: "nextcloud-backup", Schedule: "0 3 * * 0",
			PodPattern: cluster.PodPatternFor("nextcloud-backup"),
		})
	}
	f.Nodes = []cluster.Node{
		{Name: "k8s-node-1", InternalIPs: []string{"10.0.20.11"}},
		{Name: "k8s-node-2", InternalIPs: []string{"10.0.20.12"}},
		{Name: "k8s-node-3", InternalIPs: []string{"10.0.20.13"}},
	}
	f.CalicoObjects = []cluster.CalicoObject{
		{Kind: "GlobalNetworkSet", Name: "usenet-providers", Labels: map[string]string{"provider": "usenet"},
			Spec: map[string]any{"nets": []any{"81.171.92.0/24", "94.75.253.0/24"}}},
		{Kind: "Tier", Name: "security", Spec: map[string]any{"order": 100.0}},
		{Kind: "GlobalNetworkPolicy", Name: "security.block-irc-and-dot", Spec: map[string]any{
			"tier":     "security",
			"order":    10.0,
			"selector": "all()",
			"types":    []any{"Egress"},
			"egress": []any{
				map[string]any{"action": "Deny", "protocol": "TCP", "destination": map[string]any{"ports": []any{6667.0, 853.0}}},
				map[string]any{"action": "Pass"},
			},
		}},
		{Kind: "GlobalNetworkPolicy", Name: "wave1-egress-observe-tier34", Spec: map[string]any{
			"order":             2000.0,
			"selector":          "all()",
			"namespaceSelector": `tier in {"3-edge", "4-aux"}`,
			"types":             []any{"Egress"},
			"egress":            []any{map[string]any{"action": "Log"}, map[string]any{"action": "Allow"}},
		}},
	}
	f.Normalize()
	return f
}
