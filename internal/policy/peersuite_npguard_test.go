package policy

// The np-guard netpol-analyzer suite: connectivity lists of single policy
// sets (test_outputs/connlist) and semantic diffs between two policy sets
// (test_outputs/diff), each over the manifests of tests/<case>/.

import (
	"cmp"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const npGuardSuite = "np-guard-netpol-analyzer"

// npGuardUnmodelled are kinds that change np-guard's connectivity but that
// the evaluator does not model; a case holding one is not compared.
var npGuardUnmodelled = map[string]string{
	"AdminNetworkPolicy":          "AdminNetworkPolicy/BaselineAdminNetworkPolicy (Calico's kube-admin and kube-baseline tiers) are not modelled by the evaluator",
	"BaselineAdminNetworkPolicy":  "AdminNetworkPolicy/BaselineAdminNetworkPolicy (Calico's kube-admin and kube-baseline tiers) are not modelled by the evaluator",
	"UserDefinedNetwork":          "multi-network topologies (OVN-Kubernetes user-defined networks, Multus attachments, KubeVirt VMs) are outside Calico's policy model",
	"ClusterUserDefinedNetwork":   "multi-network topologies (OVN-Kubernetes user-defined networks, Multus attachments, KubeVirt VMs) are outside Calico's policy model",
	"NetworkAttachmentDefinition": "multi-network topologies (OVN-Kubernetes user-defined networks, Multus attachments, KubeVirt VMs) are outside Calico's policy model",
	"MultiNetworkPolicy":          "multi-network topologies (OVN-Kubernetes user-defined networks, Multus attachments, KubeVirt VMs) are outside Calico's policy model",
	"VirtualMachine":              "multi-network topologies (OVN-Kubernetes user-defined networks, Multus attachments, KubeVirt VMs) are outside Calico's policy model",
}

// npGuardCase is one input folder of the suite, loaded.
type npGuardCase struct {
	name string
	wls  []workload
	set  *Set
	ev   *Evaluator
	// unmodelled says why the case is not compared ("" when it is).
	unmodelled string
}

func loadNPGuardCase(t *testing.T, root, name string) *npGuardCase {
	c := &npGuardCase{name: name}
	files := manifestFiles(t, filepath.Join(root, "tests", name))
	objs, bad := readObjects(t, files...)
	if bad > 0 {
		t.Logf("np-guard %s: %d documents are not Kubernetes objects (skipped, as np-guard does)", name, bad)
	}
	for _, o := range objs {
		if why := npGuardUnmodelled[o.Kind]; why != "" {
			c.unmodelled = why
			return c
		}
	}
	c.wls = workloadsOf(objs)
	require.NotEmpty(t, c.wls, name)
	l := &Loader{AllowInvalid: true, DefaultNamespace: "default"}
	c.set, _ = l.LoadFiles(files)
	var err error
	c.ev, err = NewEvaluator(c.set, Config{})
	require.NoError(t, err)
	return c
}

// npGuardPeer is a peer of an output line: a workload or address ranges.
type npGuardPeer struct {
	workload string    // "" for external
	ranges   []ipRange // external
}

// npGuardIngressController is the peer np-guard adds for Ingress and Route
// objects: connections from outside the cluster through an ingress
// controller, not a policy verdict between two endpoints.
const npGuardIngressController = "{ingress-controller}"

func parseNPGuardPeer(s string) (npGuardPeer, error) {
	s = strings.TrimSpace(s)
	// Workloads are "ns/name[Kind]"; addresses are "a.b.c.d-e.f.g.h[External]"
	// (older outputs omit the suffix).
	if strings.HasSuffix(s, "[External]") || !strings.Contains(s, "[") {
		rs, err := parseIPRanges(strings.TrimSuffix(s, "[External]"))
		return npGuardPeer{ranges: rs}, err
	}
	return npGuardPeer{workload: s}, nil
}

// parseNPGuardConns parses "All Connections", "No Connections" or
// "TCP 8080,9090,UDP 53-54".
func parseNPGuardConns(s string) (*connSet, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "All Connections":
		return &connSet{all: true}, nil
	case "No Connections":
		return &connSet{}, nil
	}
	c := &connSet{protos: map[Protocol][]portRange{}}
	var cur Protocol
	for _, tok := range strings.Split(s, ",") {
		tok = strings.TrimSpace(tok)
		if name, rest, ok := strings.Cut(tok, " "); ok {
			p, good := parseProto(name)
			if !good {
				return nil, fmt.Errorf("bad protocol in %q", s)
			}
			cur, tok = p, rest
		} else if p, good := parseProto(tok); good {
			c.protos[p] = nil
			cur = 0
			continue
		}
		if cur == 0 {
			return nil, fmt.Errorf("port without protocol in %q", s)
		}
		r, err := parsePortRange(tok)
		if err != nil {
			return nil, fmt.Errorf("bad port in %q: %v", s, err)
		}
		c.protos[cur] = append(c.protos[cur], r)
	}
	return c, nil
}

// npGuardEdge is an allowed connection of an output: a connlist line, or
// one side (ref1 or ref2) of a diff line.
type npGuardEdge struct {
	src, dst npGuardPeer
	conns    *connSet
}

// npGuardExpect answers what a list of edges allows.
type npGuardExpect []npGuardEdge

// pair returns the connections from workload src to workload dst (nil:
// none listed).
func (x npGuardExpect) pair(src, dst string) *connSet {
	for _, e := range x {
		if e.src.workload == src && e.dst.workload == dst {
			return e.conns
		}
	}
	return nil
}

// ext returns the connections between workload w and address ip: from w
// to ip when out, else from ip to w.
func (x npGuardExpect) ext(w string, ip netip.Addr, out bool) *connSet {
	var res connSet
	for _, e := range x {
		wl, ext := e.dst, e.src
		if out {
			wl, ext = e.src, e.dst
		}
		if wl.workload != w || ext.workload != "" {
			continue
		}
		for _, r := range ext.ranges {
			if r.contains(ip) {
				res.union(e.conns)
			}
		}
	}
	return &res
}

// listedExt reports whether an edge joins workload w and a range holding
// ip (from w to ip when out, else from ip to w).
func (x npGuardExpect) listedExt(w string, ip netip.Addr, out bool) bool {
	for _, e := range x {
		wl, ext := e.dst, e.src
		if out {
			wl, ext = e.src, e.dst
		}
		if wl.workload != w || ext.workload != "" {
			continue
		}
		for _, r := range ext.ranges {
			if r.contains(ip) {
				return true
			}
		}
	}
	return false
}

func isIngressController(peers ...string) bool {
	for _, p := range peers {
		if strings.TrimSpace(p) == npGuardIngressController {
			return true
		}
	}
	return false
}

// parseNPGuardConnlist reads a connlist output; lines with the ingress
// controller are counted and left out.
func parseNPGuardConnlist(path string) (x npGuardExpect, ingress int, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	for i, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		lhs, c, ok := strings.Cut(line, " : ")
		s, d, ok2 := strings.Cut(lhs, " => ")
		if !ok || !ok2 {
			return nil, 0, fmt.Errorf("%s:%d: not a connlist line: %q", path, i+1, line)
		}
		if isIngressController(s, d) {
			ingress++
			continue
		}
		var e npGuardEdge
		if e.src, err = parseNPGuardPeer(s); err == nil {
			if e.dst, err = parseNPGuardPeer(d); err == nil {
				e.conns, err = parseNPGuardConns(c)
			}
		}
		if err != nil {
			return nil, 0, fmt.Errorf("%s:%d: %v", path, i+1, err)
		}
		x = append(x, e)
	}
	return x, ingress, nil
}

// --- connectivity lists ---------------------------------------------------------

func TestPeerSuiteNPGuard(t *testing.T) {
	root := peerSuite(t, npGuardSuite)
	outs, err := filepath.Glob(filepath.Join(root, "test_outputs", "connlist", "*_connlist_output.txt"))
	require.NoError(t, err)
	require.NotEmpty(t, outs)
	var total agreement
	skipped := notCompared{}
	compared := 0
	for _, out := range outs {
		name := strings.TrimSuffix(filepath.Base(out), "_connlist_output.txt")
		if st, err := os.Stat(filepath.Join(root, "tests", name)); err != nil || !st.IsDir() {
			skipped.add("the output of a command-line variant (focus workload, port filter, ...), not of a plain input folder", name)
			continue
		}
		c := loadNPGuardCase(t, root, name)
		if c.unmodelled != "" {
			skipped.add(c.unmodelled, name)
			continue
		}
		want, ingress, err := parseNPGuardConnlist(out)
		require.NoError(t, err)
		if ingress > 0 {
			t.Logf("np-guard %s: %d lines from the ingress controller (Ingress/Route objects) not compared", name, ingress)
		}
		var a agreement
		runNPGuardConnlist(t, c, want, &a)
		a.report(t, "np-guard "+name)
		total.merge(&a)
		compared++
	}
	skipped.report(t, "np-guard connlist")
	t.Logf("np-guard connlist: %d cases compared", compared)
	total.report(t, "np-guard netpol-analyzer TOTAL")
	// Both verdicts occur often, so agreement is not trivially reached.
	require.Greater(t, total.allowed, total.total/10)
	require.Less(t, total.allowed, total.total*9/10)
	require.Empty(t, total.unexplained, "every disagreement must be listed in knownDisagreements")
	require.GreaterOrEqual(t, total.rate(), npGuardAgreementFloor)
}

func runNPGuardConnlist(t *testing.T, c *npGuardCase, want npGuardExpect, a *agreement) {
	probes := probeSpace(c.set, c.wls, ProtoTCP, ProtoUDP, ProtoSCTP)
	addrs := probeAddrs(c.set, false)
	wls := c.wls
	for i := range wls {
		for j := range wls {
			src, dst := &wls[i], &wls[j]
			if src.name == dst.name {
				continue // a workload to itself (np-guard never lists it)
			}
			conns := want.pair(src.name, dst.name)
			for _, p := range probes {
				r := c.ev.Evaluate(p.flow(src.endpoint(), dst.endpoint()))
				a.add(&probeResult{suite: "np-guard", testCase: c.name, src: src.name, dst: dst.name, srcNS: src.ns, dstNS: dst.ns,
					srcLabels: src.labels, dstLabels: dst.labels, probe: p, ours: r.Allowed, theirs: conns.allows(p)})
			}
		}
	}
	// Informational: with the pods' real IPs, Calico matches them against
	// ipBlocks and its verdicts move away from np-guard's (which never does).
	changed, withIPs := 0, 0
	for i := range wls {
		for j := range wls {
			src, dst := wls[i], wls[j]
			if src.name == dst.name || !src.podIP.IsValid() || !dst.podIP.IsValid() {
				continue
			}
			se, de := src.endpoint(), dst.endpoint()
			se.IP, de.IP = src.podIP, dst.podIP
			for _, p := range probes {
				withIPs++
				noIP := c.ev.Evaluate(p.flow(src.endpoint(), dst.endpoint())).Allowed
				if c.ev.Evaluate(p.flow(se, de)).Allowed != noIP {
					changed++
				}
			}
		}
	}
	if withIPs > 0 {
		t.Logf("np-guard %s: with pod IPs (Calico matches them against ipBlock), %d of %d pod-pair verdicts change; "+
			"not counted (np-guard never matches pod IPs against ipBlocks)", c.name, changed, withIPs)
	}
	for i := range wls {
		w := &wls[i]
		for _, ip := range addrs {
			ext := Endpoint{Kind: EndpointNetwork, IP: ip}
			wantOut, wantIn := want.ext(w.name, ip, true), want.ext(w.name, ip, false)
			for _, p := range probes {
				r := c.ev.Evaluate(p.flow(w.endpoint(), ext))
				a.add(&probeResult{suite: "np-guard", testCase: c.name, src: w.name, dst: ip.String(), srcNS: w.ns,
					srcLabels: w.labels, probe: p, ours: r.Allowed, theirs: wantOut.allows(p)})
				r = c.ev.Evaluate(p.flow(ext, w.endpoint()))
				a.add(&probeResult{suite: "np-guard", testCase: c.name, src: ip.String(), dst: w.name, dstNS: w.ns,
					dstLabels: w.labels, probe: p, ours: r.Allowed, theirs: wantIn.allows(p)})
			}
		}
	}
}

// --- semantic diffs ---------------------------------------------------------------

// npGuardDiff is a diff output: the connections of ref1 (the first input
// folder, DIR1) and ref2 (DIR2) on every line where they differ.
type npGuardDiff struct {
	ref1, ref2 npGuardExpect
	lines      int
}

// parseNPGuardDiff reads "diff-type: changed, source: S, destination: D,
// ref1: C1, ref2: C2[, workloads-diff-info: ...]" lines.
func parseNPGuardDiff(path string) (d npGuardDiff, ingress int, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return d, 0, err
	}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line == "Connectivity diff:" {
			continue
		}
		fields := map[string]string{}
		for _, part := range strings.Split(line, ", ") {
			k, v, ok := strings.Cut(part, ": ")
			if !ok {
				return d, 0, fmt.Errorf("%s:%d: not a diff line: %q", path, i+1, line)
			}
			fields[k] = v
		}
		if isIngressController(fields["source"], fields["destination"]) {
			ingress++
			continue
		}
		var e1, e2 npGuardEdge
		if e1.src, err = parseNPGuardPeer(fields["source"]); err == nil {
			if e1.dst, err = parseNPGuardPeer(fields["destination"]); err == nil {
				if e1.conns, err = parseNPGuardConns(fields["ref1"]); err == nil {
					e2 = e1
					e2.conns, err = parseNPGuardConns(fields["ref2"])
				}
			}
		}
		if err != nil {
			return d, 0, fmt.Errorf("%s:%d: %v", path, i+1, err)
		}
		d.ref1, d.ref2 = append(d.ref1, e1), append(d.ref2, e2)
		d.lines++
	}
	return d, ingress, nil
}

// splitDiffName splits "diff_between_<DIR2>_and_<DIR1>" at the "_and_"
// where both sides are input folders.
func splitDiffName(root, base string) (dir1, dir2 string, ok bool) {
	name := strings.TrimPrefix(base, "diff_between_")
	for i := 0; i+5 <= len(name); i++ {
		if name[i:i+5] != "_and_" {
			continue
		}
		d2, d1 := name[:i], name[i+5:]
		st1, err1 := os.Stat(filepath.Join(root, "tests", d1))
		st2, err2 := os.Stat(filepath.Join(root, "tests", d2))
		if err1 == nil && err2 == nil && st1.IsDir() && st2.IsDir() {
			return d1, d2, true
		}
	}
	return "", "", false
}

// TestPeerSuiteNPGuardDiff replays np-guard's semantic diffs: for every
// probe, where the evaluator's verdicts under the two policy sets differ,
// np-guard must list the pair with those verdicts on both sides, and where
// np-guard lists nothing the evaluator's verdicts must be equal. A
// workload present in one folder only has no connections in the other.
func TestPeerSuiteNPGuardDiff(t *testing.T) {
	root := peerSuite(t, npGuardSuite)
	outs, err := filepath.Glob(filepath.Join(root, "test_outputs", "diff", "diff_between_*.txt"))
	require.NoError(t, err)
	require.NotEmpty(t, outs)
	var total agreement
	skipped := notCompared{}
	compared, changed := 0, 0
	for _, out := range outs {
		base := strings.TrimSuffix(filepath.Base(out), ".txt")
		dir1, dir2, ok := splitDiffName(root, base)
		if !ok {
			skipped.add("the output of a command-line variant, not of two plain input folders", base)
			continue
		}
		c1, c2 := loadNPGuardCase(t, root, dir1), loadNPGuardCase(t, root, dir2)
		if why := cmp.Or(c1.unmodelled, c2.unmodelled); why != "" {
			skipped.add(why, base)
			continue
		}
		d, ingress, err := parseNPGuardDiff(out)
		require.NoError(t, err)
		if ingress > 0 {
			t.Logf("np-guard diff %s: %d lines from the ingress controller not compared", base, ingress)
		}
		var a agreement
		changed += runNPGuardDiff(t, base, c1, c2, d, &a)
		a.report(t, "np-guard diff "+base)
		total.merge(&a)
		compared++
	}
	skipped.report(t, "np-guard diff")
	t.Logf("np-guard diff: %d diffs compared, %d probes changed between the two policy sets", compared, changed)
	total.report(t, "np-guard netpol-analyzer diff TOTAL")
	require.Positive(t, compared)
	require.Positive(t, changed, "the diffs are not all empty, so agreement is not trivially reached")
	require.Empty(t, total.unexplained, "every disagreement must be listed in knownDisagreements")
	require.GreaterOrEqual(t, total.rate(), npGuardAgreementFloor)
}

// runNPGuardDiff compares one diff; it returns how many probes the
// evaluator finds changed.
func runNPGuardDiff(t *testing.T, name string, c1, c2 *npGuardCase, d npGuardDiff, a *agreement) (changed int) {
	union := NewSet()
	union.Policies = append(append(union.Policies, c1.set.Policies...), c2.set.Policies...)
	// Endpoints of both folders, by id; each folder evaluates its own copy.
	type both struct{ w1, w2 *workload }
	var ids []string
	eps := map[string]*both{}
	var all []workload
	for k, c := range []*npGuardCase{c1, c2} {
		for i := range c.wls {
			w := &c.wls[i]
			b := eps[w.id]
			if b == nil {
				b = &both{}
				eps[w.id] = b
				ids = append(ids, w.id)
			}
			if k == 0 {
				b.w1 = w
			} else {
				b.w2 = w
			}
			all = append(all, *w)
		}
	}
	probes := probeSpace(union, all, ProtoTCP, ProtoUDP, ProtoSCTP)
	addrs := probeAddrs(union, false)
	verdict := func(c *npGuardCase, src, dst *workload, ip netip.Addr, out bool, p probe) bool {
		switch {
		case src == nil && dst == nil:
			return false
		case dst == nil: // src to or from the address
			ext := Endpoint{Kind: EndpointNetwork, IP: ip}
			if out {
				return c.ev.Evaluate(p.flow(src.endpoint(), ext)).Allowed
			}
			return c.ev.Evaluate(p.flow(ext, src.endpoint())).Allowed
		case src == nil:
			return false
		}
		return c.ev.Evaluate(p.flow(src.endpoint(), dst.endpoint())).Allowed
	}
	record := func(src, dst, srcNS, dstNS string, p probe, ours1, ours2 bool, listed bool, want1, want2 *connSet) {
		if ours1 != ours2 {
			changed++
		}
		res := func(ref string, ours, theirs bool) {
			a.add(&probeResult{suite: "np-guard-diff", testCase: name + ref, src: src, dst: dst, srcNS: srcNS, dstNS: dstNS,
				probe: p, ours: ours, theirs: theirs})
		}
		if !listed {
			// np-guard finds the two sets equal on this pair.
			res(" (equal)", ours1 == ours2, true)
			return
		}
		res(" ref1", ours1, want1.allows(p))
		res(" ref2", ours2, want2.allows(p))
	}
	pick := func(id string) (w1, w2 *workload, name, ns string) {
		b := eps[id]
		w := b.w1
		if w == nil {
			w = b.w2
		}
		return b.w1, b.w2, w.name, w.ns
	}
	for _, si := range ids {
		s1, s2, sName, sNS := pick(si)
		for _, di := range ids {
			d1, d2, dName, dNS := pick(di)
			if sName == dName {
				continue
			}
			w1, w2 := d.ref1.pair(sName, dName), d.ref2.pair(sName, dName)
			listed := w1 != nil
			for _, p := range probes {
				o1 := s1 != nil && d1 != nil && verdict(c1, s1, d1, netip.Addr{}, false, p)
				o2 := s2 != nil && d2 != nil && verdict(c2, s2, d2, netip.Addr{}, false, p)
				record(sName, dName, sNS, dNS, p, o1, o2, listed, w1, w2)
			}
		}
		for _, ip := range addrs {
			for _, out := range []bool{true, false} {
				listed := d.ref1.listedExt(sName, ip, out)
				w1, w2 := d.ref1.ext(sName, ip, out), d.ref2.ext(sName, ip, out)
				src, dst, srcNS, dstNS := sName, ip.String(), sNS, ""
				if !out {
					src, dst, srcNS, dstNS = dst, src, dstNS, srcNS
				}
				for _, p := range probes {
					o1 := s1 != nil && verdict(c1, s1, nil, ip, out, p)
					o2 := s2 != nil && verdict(c2, s2, nil, ip, out, p)
					record(src, dst, srcNS, dstNS, p, o1, o2, listed, w1, w2)
				}
			}
		}
	}
	return changed
}
