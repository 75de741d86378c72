package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/output"
	"github.com/calico-plan/calico-plan/render"
)

func newExplainCmd(g *globals) *cobra.Command {
	var ns, flavor string
	var out *outputFlag
	cf := &clusterFlags{}
	cmd := &cobra.Command{
		Use:   "explain -n NS... [--flavor calico] [-o table|wide|json|yaml|md]",
		Short: "Show every rule of a namespace's policy with the evidence behind it",
		Long: `explain renders a namespace's policy and lists each egress rule with the
traffic that justifies it: flows, bytes, first and last seen, the days it was
seen on, sample workloads and Services. It also lists denied egress (never
allowlisted) and egress the staged policy would deny, entries no rule can
express (with what to do), and the stability state. Warnings say where a rule
is broader than what was seen (addresses seen and opened, folded addresses,
special ranges). Use it to review an allowlist before promoting it.

Cluster facts (--cluster FILE, --kubeconfig, --context) are read only when
given: they let network sets without labels render as their CIDRs, and hosts
as their node addresses.

The table fits 100 columns: last-seen times are relative to the newest
observed flow, workloads are left out and long peers and notes are cut.
-o wide shows every column at full length (first and last seen, workloads);
-o json and yaml carry everything. With several -n, each namespace is
explained in turn (one JSON or YAML document each).`,
		Example: `  calico-plan explain --namespace recruiter-responder
  calico-plan explain -n n8n -n proxy -o md > review.md
  calico-plan explain -n servarr -o wide`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := out.format()
			if err != nil {
				return err
			}
			fl, err := render.ParseFlavor(flavor)
			if err != nil {
				return err
			}
			if ns == "" {
				return fmt.Errorf("--namespace is required")
			}
			st, err := g.openStoreFor([]string{ns})
			if err != nil {
				return err
			}
			n := st.Namespace(ns)
			if n == nil {
				return unknownNamespace(st, ns, "is not in the store")
			}
			var rf *render.Facts
			if *cf != (clusterFlags{}) {
				facts, err := cf.load(cmd.Context(), g)
				if err != nil {
					return err
				}
				rf = renderFacts(facts)
			}
			ex, err := buildExplain(st, n, fl, rf)
			if err != nil {
				return err
			}
			switch f {
			case output.JSON:
				return output.WriteJSON(g.stdout, ex)
			case output.YAML:
				return output.JSONToYAML(g.stdout, func(w io.Writer) error { return output.WriteJSON(w, ex) })
			case output.Table:
				return printExplainTable(g, ex)
			}
			return printExplain(g, ex, f)
		},
	}
	repeatNamespace(cmd, &ns, g, "namespace to explain")
	cmd.Flags().StringVar(&flavor, "flavor", "calico", "policy flavor whose rules are explained: calico, calico-staged or k8s")
	completeWords(cmd, "flavor", "calico", "calico-staged", "k8s")
	out = addOutputFlag(cmd, output.Table, output.Wide, output.JSON, output.YAML, output.MD)
	cf.register(cmd)
	return cmd
}

type explainRule struct {
	Index     int                 `json:"index"`
	Action    string              `json:"action"`
	Peer      string              `json:"peer"`
	Ports     []string            `json:"ports,omitempty"`
	Evidence  *allowlist.Evidence `json:"evidence,omitempty"`
	Workloads []string            `json:"workloads,omitempty"`
	Services  []string            `json:"services,omitempty"`
	Note      string              `json:"note,omitempty"`
}

type explainReport struct {
	Namespace  string               `json:"namespace"`
	Tier       string               `json:"tier"`
	Stage      string               `json:"stage"`
	Policy     string               `json:"policy"`
	Flavor     string               `json:"flavor"`
	Assessment allowlist.Assessment `json:"stability"`
	Rules      []explainRule        `json:"rules"`
	Denied     []allowlist.Entry    `json:"denied,omitempty"`
	WouldDeny  []allowlist.Entry    `json:"wouldDeny,omitempty"`
	// NotRendered lists the egress entries no rule can express.
	NotRendered []notRendered `json:"notRendered,omitempty"`
	// AddressGaps are public ports with no packet-log addresses: their rule
	// allows any public address.
	AddressGaps []string `json:"addressGaps,omitempty"`
	// PacketLogs says what packet-log evidence means, when the namespace
	// has any (or has public egress that could use it).
	PacketLogs string   `json:"packetLogs,omitempty"`
	Warnings   []string `json:"warnings,omitempty"`
	// at is the newest observed flow (the table's times are relative to it).
	at allowlist.Time
}

// packetLogSemantics is what explain says about packet-log evidence.
const packetLogSemantics = `Addresses marked packet-log come from kernel LOG lines that the observe
policy's Log rule writes ("calico-packet: IN=cali... SRC=... DST=..."). A line
is a packet in conntrack state NEW, not a connection: retransmitted SYNs and
UDP packets sent before any reply repeat it, so a 5-tuple counts once per
dedup window (packetLogs.dedupWindow, 60s); FLOWS of such a rule counts those
connections, never added to Goldmane's flows. The source pod is found by its
interface (IN=cali + 11 hex of SHA-1 of "<namespace>.<pod>") against the pod
listings given, never by address. Coverage holes: traffic an earlier policy
allows (Kubernetes NetworkPolicies at order 1000, this tool's own enforced
allowlists) is never logged; only the observe policy's namespaces are logged;
eBPF dataplanes write no kernel lines; FelixConfiguration logActionRateLimit
turns the lines into a sample; DST is the address after DNAT. A public port
without packet-log addresses renders as any public address.`

// notRendered is an entry no rule can express, with its evidence.
type notRendered struct {
	render.Unrenderable
	Evidence  allowlist.Evidence `json:"evidence"`
	Workloads []string           `json:"workloads,omitempty"`
}

func buildExplain(st *allowlist.Store, n *allowlist.Namespace, fl render.Flavor, facts *render.Facts) (*explainReport, error) {
	prof := st.Profile()
	pol, err := render.Namespace(n, render.Options{Flavor: fl, Profile: prof, Facts: facts})
	var incomplete *render.IncompleteError
	if err != nil && !errors.As(err, &incomplete) {
		return nil, err
	}
	ex := &explainReport{Namespace: n.Namespace, Tier: n.Tier, Stage: n.Rollout.Stage, Policy: pol.Name, Flavor: string(fl),
		Assessment: allowlist.Assess(n, st.Meta.Observation.To, prof.Stability), Denied: n.Denied, WouldDeny: n.WouldDeny,
		Warnings: pol.Warnings, at: st.Meta.Observation.To}
	for _, u := range pol.Unrenderable {
		e := n.Egress[u.Entry]
		ex.NotRendered = append(ex.NotRendered, notRendered{Unrenderable: u, Evidence: e.Total(), Workloads: e.Workloads})
	}
	// portsEvidence merges the evidence of an entry's ports a rule carries.
	portsEvidence := func(e allowlist.Entry, ports []string) (allowlist.Evidence, bool) {
		var ev allowlist.Evidence
		found := false
		for _, p := range e.Ports {
			for _, want := range ports {
				if p.Port == want {
					ev.Merge(p.Evidence)
					found = true
				}
			}
		}
		return ev, found
	}
	for _, r := range pol.Rules {
		er := explainRule{Index: r.Index, Action: "Allow", Peer: r.Peer, Ports: r.Ports}
		switch r.Kind {
		case "dns":
			// The DNS entries' evidence for this rule's ports only: the
			// Calico flavors write one rule per protocol.
			var ev allowlist.Evidence
			found := false
			for _, e := range n.Egress {
				if e.Peer.Kind == allowlist.PeerDNS {
					if x, ok := portsEvidence(e, r.Ports); ok {
						ev.Merge(x)
						found = true
					}
				}
			}
			er.Note = "always included (cluster profile)"
			if found {
				er.Evidence = &ev
			} else {
				er.Note = "always included (cluster profile); no DNS traffic was observed on " + strings.Join(r.Ports, " ")
			}
		case "entry":
			e := n.Egress[r.Entry]
			ev, _ := portsEvidence(e, r.Ports)
			er.Evidence, er.Workloads, er.Services = &ev, e.Workloads, e.Services
			if f := e.Folded; f != nil {
				er.Note = fmt.Sprintf("folded: more than %s addresses seen, widened to /%d (IPv4) /%d (IPv6) while observing", allowlist.FormatCount(int64(f.Over)), f.IPv4, f.IPv6)
			}
			if e.Source == allowlist.SourcePacketLog {
				er.Note = strings.TrimSpace(er.Note + " addresses from packet logs (FLOWS: connections, a 5-tuple once per dedup window)")
			}
		case "log":
			er.Action, er.Peer = "Log", "everything else"
		case "deny":
			er.Action, er.Peer = "Deny", "everything else"
			er.Note = "explicit default deny"
		}
		ex.Rules = append(ex.Rules, er)
	}
	hasPacketLogs := false
	for _, e := range n.Egress {
		if e.Source == allowlist.SourcePacketLog {
			hasPacketLogs = true
		}
	}
	for _, gap := range n.AddressGaps() {
		ex.AddressGaps = append(ex.AddressGaps, fmt.Sprintf("egress[%d] public %s: no packet-log addresses, the rule allows any public address", gap.Entry, gap.Port))
	}
	if hasPacketLogs || len(ex.AddressGaps) > 0 {
		ex.PacketLogs = packetLogSemantics
	}
	return ex, nil
}

func printExplain(g *globals, ex *explainReport, f output.Format) error {
	w := g.stdout
	a := ex.Assessment
	if f == output.MD {
		fmt.Fprintf(w, "### Egress allowlist for `%s`\n\n", ex.Namespace)
		fmt.Fprintf(w, "Tier **%s**, stage **%s**, state **%s** (%s). Policy `%s` (%s).\n\n", ex.Tier, ex.Stage, a.State, a.Reason, ex.Policy, ex.Flavor)
	} else {
		fmt.Fprintf(w, "namespace %s  tier %s  stage %s  policy %s (%s)\n", ex.Namespace, ex.Tier, ex.Stage, ex.Policy, ex.Flavor)
		fmt.Fprintf(w, "state %s: %s\n\n", a.State, a.Reason)
	}
	t := &output.Tab{Headers: []string{"#", "ACTION", "PEER", "PORTS", "FLOWS", "DAYS", "FIRST SEEN", "LAST SEEN", "WORKLOADS", "SERVICES / NOTE"}}
	for _, r := range ex.Rules {
		row := []string{strconv.Itoa(r.Index), r.Action, r.Peer, strings.Join(r.Ports, " ")}
		if r.Evidence != nil {
			row = append(row, strconv.FormatInt(r.Evidence.Flows, 10), strconv.Itoa(len(r.Evidence.Days)), r.Evidence.FirstSeen.String(), r.Evidence.LastSeen.String())
		} else {
			row = append(row, "-", "-", "-", "-")
		}
		note := strings.Join(r.Services, " ")
		if r.Note != "" {
			note = strings.TrimSpace(note + " " + r.Note)
		}
		row = append(row, strings.Join(r.Workloads, " "), note)
		t.Add(row...)
	}
	write := func(t *output.Tab) error {
		if f == output.MD {
			return t.WriteMarkdown(w)
		}
		return t.WriteText(w)
	}
	if err := write(t); err != nil {
		return err
	}
	for _, sec := range deniedTables(ex, func(n int64) string { return strconv.FormatInt(n, 10) }, allowlist.Time.String) {
		fmt.Fprintf(w, "\n%s:\n", sec.title)
		if err := write(sec.tab); err != nil {
			return err
		}
	}
	if len(ex.AddressGaps) > 0 {
		fmt.Fprintf(w, "\nADDRESS GAPS (promote's address-evidence gate):\n")
		for _, gp := range ex.AddressGaps {
			fmt.Fprintln(w, "  "+gp)
		}
	}
	if ex.PacketLogs != "" {
		fmt.Fprintf(w, "\nPacket logs:\n%s\n", ex.PacketLogs)
	}
	if len(ex.NotRendered) > 0 {
		fmt.Fprintf(w, "\nNOT RENDERED: no rule can express these entries; %s, and promote refuses the namespace until they are fixed:\n", notRenderedEffect(ex.Flavor))
		nt := &output.Tab{Headers: []string{"ENTRY", "PEER", "PORTS", "FLOWS", "LAST SEEN", "WHY AND WHAT TO DO"}}
		for _, u := range ex.NotRendered {
			nt.Add(fmt.Sprintf("egress[%d]", u.Entry), u.Peer, strings.Join(u.Ports, " "), strconv.FormatInt(u.Evidence.Flows, 10), u.Evidence.LastSeen.String(), u.Reason)
		}
		if err := write(nt); err != nil {
			return err
		}
	}
	for _, warn := range ex.Warnings {
		fmt.Fprintln(w, "\nwarning:", warn)
	}
	return nil
}

// titledTab is one titled table of explain's output.
type titledTab struct {
	title string
	tab   *output.Tab
}

// deniedTables are explain's denied and would-deny sections (those with
// entries), one row per entry; flows and last format the counts and times
// as the caller's output does.
func deniedTables(ex *explainReport, flows func(int64) string, last func(allowlist.Time) string) []titledTab {
	var out []titledTab
	for _, sec := range []struct {
		title   string
		entries []allowlist.Entry
	}{{"Denied egress (seen, never allowlisted)", ex.Denied}, {"Would be denied by the staged policy (review, then 'allow --from-denied')", ex.WouldDeny}} {
		if len(sec.entries) == 0 {
			continue
		}
		dt := &output.Tab{Headers: []string{"PEER", "PORTS", "FLOWS", "DAYS", "LAST SEEN", "WORKLOADS"}}
		for _, e := range sec.entries {
			var ports []string
			for _, p := range e.Ports {
				ports = append(ports, p.Port)
			}
			tot := e.Total()
			dt.Add(e.Peer.Summary(8), strings.Join(ports, " "), flows(tot.Flows), strconv.Itoa(len(tot.Days)), last(tot.LastSeen), strings.Join(e.Workloads, " "))
		}
		out = append(out, titledTab{sec.title, dt})
	}
	return out
}

// notRenderedEffect is what happens to the traffic of entries no rule can
// express, in the flavor explained.
func notRenderedEffect(flavor string) string {
	if flavor == string(render.FlavorCalicoStaged) {
		return "the staged policy reports their flows as would-deny"
	}
	return "the enforced policy denies their traffic"
}
