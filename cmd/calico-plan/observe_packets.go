package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/kube"
	"github.com/calico-plan/calico-plan/internal/observe"
	"github.com/calico-plan/calico-plan/internal/pods"
)

// packetFlags are observe's packet-log flags: the pods packet-log lines are
// attributed to.
type packetFlags struct {
	pods     []string
	podsKube bool
	felix    string
	built    *flows.PacketLogOptions // once per run: files and Loki share it
}

const packetHelp = `

Packet logs (Calico OSS: exact external addresses). Goldmane reports an
external peer only as "pub"/"pvt". The observe policy's Log rule writes a
kernel line per new connection with the addresses; observe reads them from
files (--from, formats above) or from Loki (--loki). The source pod is found
by its interface (IN=cali + 11 hex of SHA-1 of "<namespace>.<pod>"), never by
address, against the pods of --pods (kubectl get pods -A -o json, repeatable:
one listing a day covers pod churn) or --pods-kube (the cluster's pods now).
Lines from interfaces no listing knows are counted and reported, never
guessed. --felix-config reads the FelixConfigurations and warns when
logActionRateLimit turns the lines into a sample, the eBPF dataplane writes
none, or logPrefix is not the profile's packetLogs.prefix. A line is a packet
in conntrack state NEW: a 5-tuple counts once per
packetLogs.dedupWindow (60s). The store keeps packet-log entries apart
(source: packet-log): Goldmane stays the source of counts; render uses the
addresses instead of "any public address".`

const packetExamples = `

  # Calico OSS: Goldmane for counts, kernel LOG lines for the addresses
  journalctl -k -o short-iso --since -7d | grep 'calico-packet' > kern.log
  kubectl get pods -A -o json > pods.json
  calico-plan observe --goldmane-kube --from kern.log --pods pods.json`

func addPacketFlags(cmd *cobra.Command) *packetFlags {
	f := &packetFlags{}
	fs := cmd.Flags()
	fs.StringArrayVar(&f.pods, "pods", nil, "pod listing (kubectl get pods -A -o json) that packet-log lines are attributed to (repeatable)")
	fs.BoolVar(&f.podsKube, "pods-kube", false, "attribute packet-log lines to the pods the cluster has now (kubeconfig)")
	fs.StringVar(&f.felix, "felix-config", "", "FelixConfigurations (kubectl get felixconfigurations -o yaml): warn when logActionRateLimit makes packet logs a sample, eBPF writes none, or logPrefix differs from the profile")
	cmd.Long += packetHelp
	cmd.Example += packetExamples
	return f
}

// packetOptions builds the packet-log options: the profile's prefixes and
// the pod index of --pods / --pods-kube (nil Pods when neither is given).
func (f *packetFlags) packetOptions(ctx context.Context, g *globals, st *allowlist.Store, live *clusterFlags) (*flows.PacketLogOptions, error) {
	if f.built != nil {
		return f.built, nil
	}
	opt := observe.PacketLogOptionsFor(st, nil)
	f.built = opt
	if f.felix != "" {
		ws, err := pods.FelixWarnings(f.felix, opt.Prefix)
		if err != nil {
			return nil, err
		}
		for _, w := range ws {
			fmt.Fprintln(g.stderr, "warning:", w)
			st.AddWarning(w)
		}
	}
	if len(f.pods) == 0 && !f.podsKube {
		return opt, nil
	}
	idx := pods.NewIndex(opt.InterfacePrefix)
	for _, p := range f.pods {
		if err := idx.LoadFile(p); err != nil {
			return nil, err
		}
	}
	if f.podsKube {
		rc, err := kube.RESTConfig(live.kubeconfig, live.context)
		if err != nil {
			return nil, err
		}
		cs, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return nil, err
		}
		if err := idx.LoadLive(ctx, cs); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(g.stderr, "pods: %d pod records from %d listings for packet-log attribution\n", idx.Len(), len(idx.Sources()))
	opt.Pods = idx
	return opt, nil
}
