package check

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/check/policyfile"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/demo"
	"github.com/calico-plan/calico-plan/internal/policy"
	"github.com/calico-plan/calico-plan/render"
)

// demoIndexes returns the indexes of the demo records that match.
func demoIndexes(t *testing.T, match func(*flows.Flow) bool) []int {
	t.Helper()
	var out []int
	i := 0
	require.NoError(t, demo.Generate(demo.DefaultOptions(), func(f *flows.Flow) error {
		if match(f) {
			out = append(out, i)
		}
		i++
		return nil
	}))
	return out
}

func problemIndexes(r *Report) []int {
	var out []int
	for _, f := range r.Flows {
		if f.Status == StatusWouldDeny {
			out = append(out, f.Index)
		}
	}
	return out
}

func probeVerdicts(r *Report) map[string]int {
	out := map[string]int{}
	for _, p := range r.Probes {
		out[p.Verdict]++
	}
	return out
}

func TestDemoCalicoFlavorHasNoProblems(t *testing.T) {
	p := config.Default()
	s := demoStore(t, p)
	dir := renderAll(t, s, render.FlavorCalico, filepath.Join(t.TempDir(), "policies"))
	r := runCheck(t, demoFlows(t), Config{Profile: p, NamespaceLabels: demoNamespaces()}, dir)

	require.Empty(t, r.Problems)
	require.Equal(t, 4908, r.Summary.Flows)
	require.Zero(t, r.Summary.WouldDeny, "every observed allowed flow stays allowed")
	require.Zero(t, r.Summary.Unknown)
	require.Zero(t, r.Summary.NewlyAllowed, "the denied IRC and DoT flows stay denied: not allowlisted")
	require.Equal(t, 1219, r.Summary.DNSAssumed, "Goldmane-style DNS flows without IPs")
	require.Equal(t, ExitOK, r.Summary.ExitCode)

	// Every namespace with a policy is probed three times, all denied by
	// its own policy's explicit Deny.
	require.Len(t, r.Probes, 3*len(s.Names()))
	require.Equal(t, map[string]int{VerdictDeny: len(r.Probes)}, probeVerdicts(r))
	for _, pr := range r.Probes {
		require.Equal(t, "egress-allowlist", pr.Egress.Tier, pr.Namespace)
		require.Equal(t, "egress-allowlist."+pr.Namespace, pr.Egress.Policy.Name)
		require.Equal(t, "Deny", pr.Egress.Policy.RuleAction(true, pr.Egress.RuleIndex))
		require.Equal(t, []string{"selected for egress by NetworkPolicy " + pr.Namespace + "/egress-allowlist." + pr.Namespace}, pr.Why)
	}
	byKind := map[string]string{}
	for _, pr := range r.Probes {
		byKind[pr.Kind] = pr.Destination
	}
	require.Equal(t, map[string]string{
		ProbePublic:  "203.0.113.77:4444/TCP",
		ProbePrivate: "192.168.255.77:4444/TCP",
		ProbePod:     "calico-plan-probe (any pod):4444/TCP",
	}, byKind)
	// The representative pod comes from the observed flows.
	for _, pr := range r.Probes {
		if pr.Namespace == "tasks" {
			require.Equal(t, "tasks-api-6a7b8-*", pr.Workload)
			require.Equal(t, "tasks", pr.Labels["app"])
		}
	}

	var text bytes.Buffer
	require.NoError(t, WriteText(&text, r))
	require.Contains(t, text.String(), "0 would-deny, 0 unknown, 0 newly allowed; probes: 51 denied, 0 allowed, 0 unknown; 0 problems: ok (exit 0)")
	require.Contains(t, text.String(), "evaluated as DNS to the profile's listeners 10.96.0.10/32, 169.254.20.10/32")
}

func TestRemovedEntryMakesExactlyItsFlowsProblems(t *testing.T) {
	p := config.Default()
	s := demoStore(t, p)
	n := s.Namespace("tasks")
	n.Egress = slices.DeleteFunc(n.Egress, func(e allowlist.Entry) bool {
		return e.Peer.Kind == allowlist.PeerNamespace && e.Peer.Namespace == "dbaas"
	})
	dir := renderAll(t, s, render.FlavorCalico, filepath.Join(t.TempDir(), "policies"))
	r := runCheck(t, demoFlows(t), Config{Profile: p, NamespaceLabels: demoNamespaces()}, dir)

	want := demoIndexes(t, func(f *flows.Flow) bool {
		return f.Source.Namespace == "tasks" && f.Dest.Namespace == "dbaas" && f.Dest.Port == 3306
	})
	require.NotEmpty(t, want)
	require.Equal(t, want, problemIndexes(r), "exactly the records of the removed entry (both reporters)")
	require.Equal(t, ExitProblems, r.Summary.ExitCode)
	require.Equal(t, len(want), r.Summary.WouldDeny)
	f := r.Flows[want[0]]
	require.Equal(t, VerdictDeny, f.Verdict)
	require.Equal(t, "egress", f.Deciding)
	require.Equal(t, "egress-allowlist", f.Egress.Tier)
	require.Equal(t, "egress-allowlist.tasks", f.Egress.Policy.Name)
	require.Equal(t, "Deny", f.Egress.Policy.RuleAction(true, f.Egress.RuleIndex), "the explicit final Deny")
	require.Equal(t, map[string]int{VerdictDeny: 51}, probeVerdicts(r))

	var text bytes.Buffer
	require.NoError(t, WriteText(&text, r))
	out := text.String()
	require.Contains(t, out, "WOULD DENY: observed allowed traffic the policies deny")
	require.Contains(t, out, "tasks/tasks-api-6a7b8-* -> dbaas/mysql-* TCP/3306")
	require.Contains(t, out, "denied (egress) by NetworkPolicy tasks/egress-allowlist.tasks rule ")
	require.Less(t, strings.Index(out, "WOULD DENY"), strings.Index(out, "PROBES:"), "problems come first")
}

func TestObserveGNPCancelsKubernetesDefaultDeny(t *testing.T) {
	p := config.Default()
	s := demoStore(t, p)
	cases := []struct {
		flavor render.Flavor
		skip   []string
	}{
		// servarr's usenet entry is a Calico network set, which a
		// Kubernetes policy cannot select.
		{render.FlavorK8s, []string{"servarr"}},
		{render.FlavorCalico, nil},
	}
	tier34 := map[string]bool{}
	for ns, l := range demoNamespaces() {
		if l["tier"] == "3-edge" || l["tier"] == "4-aux" {
			tier34[ns] = true
		}
	}
	for _, c := range cases {
		t.Run(string(c.flavor), func(t *testing.T) {
			dir := renderAll(t, s, c.flavor, filepath.Join(t.TempDir(), "policies"), c.skip...)
			require.NoError(t, os.WriteFile(filepath.Join(dir, "observe.yaml"), []byte(observeGNP), 0o644))
			r := runCheck(t, demoFlows(t), Config{Profile: p, NamespaceLabels: demoNamespaces()}, dir)
			require.Empty(t, r.Problems)
			require.Zero(t, r.Summary.WouldDeny)
			if c.flavor == render.FlavorCalico {
				require.Equal(t, map[string]int{VerdictDeny: len(r.Probes)}, probeVerdicts(r), "the allowlist tier's explicit Deny runs before the default tier")
				require.Equal(t, ExitOK, r.Summary.ExitCode)
				return
			}
			require.Equal(t, ExitProblems, r.Summary.ExitCode)
			allowedNS := map[string]bool{}
			for _, pr := range r.Probes {
				if !tier34[pr.Namespace] {
					require.Equal(t, VerdictDeny, pr.Verdict, "%s is outside the observe policy: the Kubernetes default deny holds", pr.Namespace)
					require.Equal(t, policy.RuleEndOfTier, pr.Egress.RuleIndex)
					continue
				}
				require.Equal(t, VerdictAllow, pr.Verdict, pr.Namespace)
				require.Equal(t, "wave1-egress-observe-tier34", pr.Egress.Policy.Name)
				require.Equal(t, policy.KindGlobalNetworkPolicy, pr.Egress.Policy.Kind)
				require.Equal(t, "default", pr.Egress.Tier)
				require.Equal(t, 1, pr.Egress.RuleIndex, "the Allow after the Log rule")
				require.Contains(t, pr.Hint, "order 1000")
				allowedNS[pr.Namespace] = true
			}
			require.Len(t, allowedNS, len(tier34)-1, "every tier-3/4 namespace but the unrendered servarr")
			require.Equal(t, 3*len(allowedNS), r.Summary.ProbesAllowed)

			var text, mdb bytes.Buffer
			require.NoError(t, WriteText(&text, r))
			require.Contains(t, text.String(), "PROBES ALLOWED")
			require.Contains(t, text.String(), "ALLOWED by GlobalNetworkPolicy wave1-egress-observe-tier34 rule 1 (Allow) in tier default")
			require.NoError(t, WriteMarkdown(&mdb, r))
			require.Contains(t, mdb.String(), "#### Probes that got through")
			require.Contains(t, mdb.String(), "GlobalNetworkPolicy wave1-egress-observe-tier34 rule 1 \\(Allow\\)")
		})
	}
}

func TestJSONShape(t *testing.T) {
	p := config.Default()
	s := demoStore(t, p)
	n := s.Namespace("tasks")
	n.Egress = slices.DeleteFunc(n.Egress, func(e allowlist.Entry) bool { return e.Peer.Namespace == "dbaas" })
	dir := renderAll(t, s, render.FlavorCalico, filepath.Join(t.TempDir(), "policies"))
	r := runCheck(t, demoFlows(t), Config{Profile: p, NamespaceLabels: demoNamespaces()}, dir)
	var buf bytes.Buffer
	require.NoError(t, WriteJSON(&buf, r))

	dec := json.NewDecoder(bytes.NewReader(buf.Bytes()))
	var doc map[string]json.RawMessage
	require.NoError(t, dec.Decode(&doc))
	require.False(t, dec.More(), "exactly one JSON document")
	require.Equal(t, []string{"flows", "probes", "summary"}, keys(doc))

	var fl []map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(doc["flows"], &fl))
	require.Len(t, fl, 4908)
	for i, f := range fl {
		require.Equal(t, []string{"egress", "index", "ingress", "policy", "rule", "tier", "verdict"}, keys(f))
		var idx int
		require.NoError(t, json.Unmarshal(f["index"], &idx))
		require.Equal(t, i, idx, "index is the position among the valid records")
	}
	type decision struct {
		Action, Tier, Policy string
		Rule                 int
		Incomplete, Certain  bool
	}
	type flow struct {
		Index   int
		Verdict string
		Egress  *decision
		Ingress *decision
		Policy  *string
		Tier    *string
		Rule    *int
	}
	var flowsOut []flow
	require.NoError(t, json.Unmarshal(doc["flows"], &flowsOut))
	want := demoIndexes(t, func(f *flows.Flow) bool { return f.Source.Namespace == "tasks" && f.Dest.Namespace == "dbaas" })
	var summary struct {
		WouldDenyIndex   []int
		ExitCode         int
		Flows            int
		ProbedNamespaces []string
	}
	require.NoError(t, json.Unmarshal(doc["summary"], &summary))
	require.Equal(t, want, summary.WouldDenyIndex)
	require.Equal(t, ExitProblems, summary.ExitCode)
	require.Equal(t, 4908, summary.Flows)
	require.Len(t, summary.ProbedNamespaces, 17)

	deny := flowsOut[want[0]]
	require.Equal(t, "deny", deny.Verdict)
	require.Equal(t, "NetworkPolicy tasks/egress-allowlist.tasks", *deny.Policy)
	require.Equal(t, "egress-allowlist", *deny.Tier)
	require.Equal(t, deny.Egress.Rule, *deny.Rule)
	require.Equal(t, "deny", deny.Egress.Action)
	require.NotNil(t, deny.Ingress, "pod to pod: the destination's ingress is evaluated too")
	require.Equal(t, "Profile kns.dbaas", deny.Ingress.Policy)
	require.Equal(t, policy.RuleProfile, deny.Ingress.Rule)

	// A flow to the internet: ingress is null.
	netIdx := demoIndexes(t, func(f *flows.Flow) bool { return f.Dest.Type == flows.EndpointNetwork })[0]
	require.Nil(t, flowsOut[netIdx].Ingress)
	require.Equal(t, "allow", flowsOut[netIdx].Verdict)
	require.Contains(t, string(fl[netIdx]["ingress"]), "null")

	var probes []map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(doc["probes"], &probes))
	require.Len(t, probes, 51)
	require.Contains(t, probes[0], "verdict")
	require.Contains(t, probes[0], "policy")
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestBadPolicyFileIsReportedAndTheRestEvaluated(t *testing.T) {
	p := config.Default()
	s := demoStore(t, p)
	dir := renderAll(t, s, render.FlavorCalico, filepath.Join(t.TempDir(), "policies"))
	bad := `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: fine, namespace: scratch}
spec: {selector: all(), types: [Egress], egress: [{action: Allow}]}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: broken-selector, namespace: scratch}
spec:
  selector: "app == 'x' &&"
  types: [Egress]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: typo, namespace: scratch}
spec: {selector: all(), types: [Egress], egres: []}
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "zz-bad.yaml"), []byte(bad), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "zz-garbage.yaml"), []byte("kind: [unclosed\n"), 0o644))
	r := runCheck(t, demoFlows(t), Config{Profile: p, NamespaceLabels: demoNamespaces()}, dir)

	require.Equal(t, ExitError, r.Summary.ExitCode)
	require.Equal(t, 4908, r.Summary.Flows, "the flows are still evaluated")
	require.Equal(t, 18, r.Summary.Policies, "the demo policies and the valid one loaded")
	require.Equal(t, 51, r.Summary.Probes)
	var sel, typo, garbage *policyfile.Problem
	for i := range r.Problems {
		pr := &r.Problems[i]
		switch {
		case pr.Field == "spec.selector":
			sel = pr
		case pr.Field == "spec.egres":
			typo = pr
		case strings.HasSuffix(pr.File, "zz-garbage.yaml"):
			garbage = pr
		}
	}
	require.NotNil(t, sel)
	require.Equal(t, filepath.Join(dir, "zz-bad.yaml"), sel.File)
	require.Equal(t, 1, sel.Doc)
	require.Equal(t, "scratch/broken-selector", sel.Name)
	require.Contains(t, sel.Msg, `"app == 'x' &&"`, "the selector text")
	require.Contains(t, sel.Msg, "position 13", "the position")
	require.Contains(t, sel.Msg, "end of selector", "the reason")
	require.NotNil(t, typo)
	require.Equal(t, 2, typo.Doc)
	require.Contains(t, typo.Msg, "unknown field")
	require.NotNil(t, garbage)
	require.Equal(t, 0, garbage.Doc)

	var text, mdb bytes.Buffer
	require.NoError(t, WriteText(&text, r))
	require.Contains(t, text.String(), "zz-bad.yaml:6: doc 1 (NetworkPolicy scratch/broken-selector): spec.selector: invalid selector")
	require.Contains(t, text.String(), "error: policy files have errors (exit 1)")
	require.NoError(t, WriteMarkdown(&mdb, r))
	require.Contains(t, mdb.String(), "### calico-plan check: error")
	require.NotContains(t, mdb.String(), "app == 'x' &&\"", "Markdown is escaped")
}

func TestTerraformSetGivesTheSameResult(t *testing.T) {
	p := config.Default()
	s := demoStore(t, p)
	n := s.Namespace("n8n")
	n.Egress = slices.DeleteFunc(n.Egress, func(e allowlist.Entry) bool { return e.Peer.Kind == allowlist.PeerPublic })
	base := t.TempDir()
	yamlDir := renderAll(t, s, render.FlavorCalico, filepath.Join(base, "yaml"))
	tfDir := filepath.Join(base, "tf")
	require.NoError(t, os.MkdirAll(tfDir, 0o755))
	var tier bytes.Buffer
	require.NoError(t, render.EncodeHCL(&tier, "tier", render.HCLOptions{}, render.Tier(p)))
	require.NoError(t, os.WriteFile(filepath.Join(tfDir, "_tier.tf"), tier.Bytes(), 0o644))
	for _, ns := range s.Namespaces() {
		pol, err := render.Namespace(ns, render.Options{Flavor: render.FlavorCalico, Profile: p})
		require.NoError(t, err)
		var b bytes.Buffer
		require.NoError(t, render.EncodeHCL(&b, "", render.HCLOptions{}, pol.Objects...))
		require.NoError(t, os.WriteFile(filepath.Join(tfDir, ns.Namespace+".tf"), b.Bytes(), 0o644))
	}
	fl := demoFlows(t)
	cfg := Config{Profile: p, NamespaceLabels: demoNamespaces()}
	fromYAML := runCheck(t, fl, cfg, yamlDir)
	fromTF := runCheck(t, fl, cfg, tfDir)
	require.Empty(t, fromTF.Problems)
	require.Positive(t, fromYAML.Summary.WouldDeny, "n8n's public HTTPS is gone")
	var a, b bytes.Buffer
	require.NoError(t, WriteJSON(&a, fromYAML))
	require.NoError(t, WriteJSON(&b, fromTF))
	require.Equal(t, a.String(), b.String())
}

// flow builds a src-reported allowed flow from tasks for the unit tests.
func flow(dst flows.Endpoint, proto flows.Protocol, port uint16) *flows.Flow {
	dst.Port = port
	return &flows.Flow{
		Source: flows.Endpoint{Type: flows.EndpointWorkload, Namespace: "tasks", NameAggr: "tasks-api-*", Labels: []string{"app=tasks"}},
		Dest:   dst, Proto: proto, Action: flows.ActionAllow, Reporter: flows.ReporterSrc, NumFlows: 1, End: 1764201600,
	}
}

func TestUnknownVerdictsWithoutAddresses(t *testing.T) {
	set, errs := policy.Load(strings.NewReader(`
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: default.tasks, namespace: tasks}
spec:
  selector: all()
  types: [Egress]
  egress:
  - {action: Allow, protocol: UDP, destination: {nets: [10.96.0.10/32, 169.254.20.10/32], ports: [53]}}
  - {action: Allow, protocol: TCP, destination: {nets: [149.154.160.0/20], ports: [443]}}
  - {action: Allow, protocol: TCP, destination: {nets: [0.0.0.0/0], notNets: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16], ports: [8443]}}
  - {action: Deny}
`), "p.yaml")
	require.Empty(t, errs)
	p := config.Default()
	c, err := New(set, nil, Config{Profile: p, KeepFlows: true})
	require.NoError(t, err)
	pub := flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", Labels: []string{}}
	pvt := flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pvt", Labels: []string{}}
	c.Add(flow(pub, flows.ProtoTCP, 443))  // 0: the /20 holds part of the public class
	c.Add(flow(pub, flows.ProtoTCP, 8443)) // 1: all public addresses allowed
	c.Add(flow(pvt, flows.ProtoTCP, 8443)) // 2: no private address allowed
	c.Add(flow(pub, flows.ProtoUDP, 53))   // 3: DNS assumption, public listener
	withIP := pub
	withIP.IP = netip.MustParseAddr("149.154.167.41")
	c.Add(flow(withIP, flows.ProtoTCP, 443)) // 4: the IP decides
	r := c.Finish()
	r.Summarize(false)

	require.Equal(t, VerdictUnknown, r.Flows[0].Verdict)
	require.Equal(t, StatusUnknown, r.Flows[0].Status)
	require.Contains(t, r.Flows[0].Why, "rule 1 (Allow) of NetworkPolicy tasks/default.tasks in tier default could not be decided (address class only partly inside the rule's nets)")
	require.Equal(t, VerdictAllow, r.Flows[1].Verdict)
	require.Equal(t, VerdictDeny, r.Flows[2].Verdict)
	require.Equal(t, StatusWouldDeny, r.Flows[2].Status)
	require.True(t, r.Flows[3].DNS)
	require.Equal(t, []netip.Addr{netip.MustParseAddr("169.254.20.10")}, r.Flows[3].DNSAddrs, "a pub flow goes to the public listener")
	require.Equal(t, VerdictAllow, r.Flows[3].Verdict)
	require.Equal(t, VerdictAllow, r.Flows[4].Verdict)
	require.Equal(t, 1, r.Summary.Unknown)
	require.Equal(t, 1, r.Summary.WouldDeny)
	require.Equal(t, ExitProblems, r.Summary.ExitCode)

	// Strict: the unknown verdict counts too.
	r.Summarize(true)
	require.Equal(t, 2+r.Summary.ProbesUnknown, r.Summary.Problems)

	var text bytes.Buffer
	require.NoError(t, WriteText(&text, r))
	require.Contains(t, text.String(), "UNKNOWN: the policies' verdict cannot be decided from the flow (1 record in 1 group)")
	require.Contains(t, text.String(), "tasks/tasks-api-* -> net pub TCP/443")
}

func TestDNSAssumptionCanBeOff(t *testing.T) {
	set, errs := policy.Load(strings.NewReader(`
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: default.tasks, namespace: tasks}
spec:
  selector: all()
  types: [Egress]
  egress:
  - {action: Allow, protocol: UDP, destination: {nets: [10.96.0.10/32, 169.254.20.10/32], ports: [53]}}
  - {action: Deny}
`), "p.yaml")
	require.Empty(t, errs)
	p := config.Default()
	p.DNS.AssumeNetworkPort53IsDNS = false
	c, err := New(set, nil, Config{Profile: p, KeepFlows: true})
	require.NoError(t, err)
	c.Add(flow(flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub"}, flows.ProtoUDP, 53))
	r := c.Finish()
	require.False(t, r.Flows[0].DNS)
	// Not the cluster DNS, so an ordinary public address: the special
	// ranges (link-local 169.254.20.10 among them) are assumed out of the
	// public class, as the rendered "any public address" rule leaves them out.
	require.Equal(t, VerdictDeny, r.Flows[0].Verdict, "the private 10.96.0.10/32 and link-local 169.254.20.10/32 hold no public address")
	require.Contains(t, strings.Join(r.Assumptions, "\n"), "not to a special range")
	for _, a := range r.Assumptions {
		require.NotContains(t, a, "evaluated as DNS")
	}
}

func TestProbeAddressesSkipAllowlistedOnes(t *testing.T) {
	set, errs := policy.Load(strings.NewReader(`
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: default.tasks, namespace: tasks}
spec:
  selector: all()
  types: [Egress]
  egress:
  - {action: Allow, protocol: TCP, destination: {nets: [203.0.113.77/32, 192.168.0.0/16]}}
  - {action: Deny}
`), "p.yaml")
	require.Empty(t, errs)
	c, err := New(set, nil, Config{Profile: config.Default(), KeepFlows: true})
	require.NoError(t, err)
	c.Add(flow(flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", IP: netip.MustParseAddr("203.0.113.78")}, flows.ProtoTCP, 443))
	r := c.Finish()
	got := map[string]string{}
	for _, pr := range r.Probes {
		got[pr.Kind] = pr.Destination + " " + pr.Verdict
	}
	require.Equal(t, map[string]string{
		ProbePublic:  "203.0.113.79:4444/TCP deny", // .77 allowlisted, .78 observed
		ProbePrivate: "192.168.255.77:4444/TCP allow",
		ProbePod:     "calico-plan-probe (any pod):4444/TCP deny",
	}, got, "a whole private range is not an allowlisted address: the probe shows it lets anything through")
}

func TestWithoutKeptFlowsOnlyCountsAndGroupsStay(t *testing.T) {
	p := config.Default()
	s := demoStore(t, p)
	n := s.Namespace("tasks")
	n.Egress = slices.DeleteFunc(n.Egress, func(e allowlist.Entry) bool { return e.Peer.Namespace == "dbaas" })
	dir := renderAll(t, s, render.FlavorCalico, filepath.Join(t.TempDir(), "policies"))
	fl := demoFlows(t)
	kept := runCheck(t, fl, Config{Profile: p}, dir)
	pf := policyfile.Load([]string{dir}, nil)
	ins, err := flows.ExpandInputs([]string{fl})
	require.NoError(t, err)
	lean, err := Run(context.Background(), pf, ins, Config{Profile: p})
	require.NoError(t, err)
	require.Empty(t, lean.Flows)
	require.Equal(t, kept.Summary, lean.Summary)
	require.Equal(t, problemIndexes(kept), lean.Indexes(StatusWouldDeny))
	var a, b bytes.Buffer
	require.NoError(t, WriteText(&a, kept))
	require.NoError(t, WriteText(&b, lean))
	require.Equal(t, a.String(), b.String(), "the text report needs no per-record results")
}

// The report is the same whatever the number of workers evaluating
// records, and the same as adding the records one by one: indexes,
// groups, their order and the per-record results follow the input.
func TestReportIndependentOfWorkers(t *testing.T) {
	p := config.Default()
	s := demoStore(t, p)
	n := s.Namespace("tasks")
	n.Egress = slices.DeleteFunc(n.Egress, func(e allowlist.Entry) bool { return e.Peer.Namespace == "dbaas" })
	dir := renderAll(t, s, render.FlavorCalico, filepath.Join(t.TempDir(), "policies"))
	fl := demoFlows(t)
	cfg := Config{Profile: p, NamespaceLabels: demoNamespaces(), KeepFlows: true}

	pf := policyfile.Load([]string{dir}, nil)
	c, err := New(pf.Set, pf.Docs, cfg)
	require.NoError(t, err)
	ins, err := flows.ExpandInputs([]string{fl})
	require.NoError(t, err)
	for _, in := range ins {
		_, err := flows.DecodeInput(context.Background(), in, flows.Options{Workers: 1}, func(_ int, f *flows.Flow) error {
			c.Add(f)
			return nil
		})
		require.NoError(t, err)
	}
	one := c.Finish()
	one.Files, one.Problems = pf.Files, pf.Problems
	one.Summarize(false)
	require.NotEmpty(t, one.Indexes(StatusWouldDeny), "the test needs problems to compare")

	for _, w := range []int{1, 2, 7} {
		cfg.Workers = w
		r := runCheck(t, fl, cfg, dir)
		require.Equal(t, one.Summary, r.Summary, "workers=%d", w)
		require.Equal(t, one.Flows, r.Flows, "workers=%d", w)
		require.Equal(t, one.Groups, r.Groups, "workers=%d", w)
		require.Equal(t, one.Indexes(StatusWouldDeny), r.Indexes(StatusWouldDeny), "workers=%d", w)
		var a, b bytes.Buffer
		require.NoError(t, WriteText(&a, one))
		require.NoError(t, WriteText(&b, r))
		require.Equal(t, a.String(), b.String(), "workers=%d", w)
	}
}
