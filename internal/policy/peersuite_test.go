package policy

// Peer-suite agreement: replays the golden connectivity results of two
// independent network-policy analyzers (np-guard netpol-analyzer and IBM
// network-config-analyzer), kept in ../shared/peer-suites from the module
// root (CALICO_PLAN_PEER_SUITES points elsewhere, e.g. at the analyzers'
// full suites), through the evaluator. The suites are read in place, never
// copied; the test skips when they are absent, and fails under CI=true.
//
// For every ordered pair of distinct workloads (and workload <-> external
// address) it probes each protocol (TCP, UDP, SCTP; NCA also ICMP) at every
// port boundary that matters (each port or range end a policy mentions, +-1,
// every named port's number, and one port nobody mentions) and compares the
// evaluator's combined verdict (egress of the source AND ingress of the
// destination) with the suite's expected list.
//
// Modelling choices that follow the suites' documented semantics rather
// than a live cluster:
//   - pods get no IP address: neither analyzer matches pod IPs against
//     ipBlock/nets (Calico would, since pods have IPs);
//   - objects the Calico API would reject (names with '_', mixed IPv4/IPv6
//     nets, bare addresses in nets, stray status fields) are loaded anyway
//     (Loader.AllowInvalid), as the analyzers accept them;
//   - workload-to-itself pairs are not compared (never listed).
//
// Every disagreement must match a row of knownDisagreements, which gives
// the reason; anything else fails the test.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/calico-plan/calico-plan/internal/policy/selector"
	"github.com/calico-plan/calico-plan/internal/sharedtest"
)

// Agreement floors, as measured when this test was written (np-guard
// 65592/65592; NCA connectivity maps 144752/146432 = 0.98853, every
// disagreement in the one class listed in knownDisagreements); a drop fails.
const (
	npGuardAgreementFloor = 1.0
	ncaAgreementFloor     = 0.9885
)

// knownDisagreement explains a class of verdicts where the evaluator
// (Calico's semantics) and a peer analyzer legitimately differ.
type knownDisagreement struct {
	suite, testCase string
	// match selects the probes of the class.
	match  func(p *probeResult) bool
	reason string
}

var knownDisagreements = []knownDisagreement{
	{
		suite: "nca", testCase: "testcase18-scheme/connectivity_map/np-pod-based-policies",
		match: func(p *probeResult) bool {
			// kube-system sources with k8s-app but no app label towards
			// kube-system destinations.
			return p.srcNS == "kube-system" && p.dstNS == "kube-system" && p.srcHas("k8s-app") && !p.srcHas("app")
		},
		reason: "policy order: the four policies have no order, so Calico (felix) sorts them by name and " +
			"'testcase18-equivTo-highPriorityPass-k8s-app-not-redundant' runs first; its Deny for has(k8s-app) " +
			"sources decides. NCA evaluates them in file order, where " +
			"'testcase18-highPriorityPass-k8s-app-redundant' Passes those sources to the allow-all profile.",
	},
}

type probeResult struct {
	suite, testCase string
	src, dst        string // workload / address names as the suite spells them
	srcNS, dstNS    string
	srcLabels       selector.Labels
	dstLabels       selector.Labels
	proto           Protocol
	port            uint16
	ours, theirs    bool
}

func (p *probeResult) srcHas(k string) bool { return p.srcLabels.Has(k) }

func (p *probeResult) String() string {
	return fmt.Sprintf("%s %s => %s %s/%d: evaluator=%v suite=%v", p.testCase, p.src, p.dst, p.proto, p.port, p.ours, p.theirs)
}

type agreement struct {
	total, agree int
	allowed      int            // probes the suite allows
	explained    map[string]int // reason -> count
	unexplained  []*probeResult
}

func (a *agreement) add(p *probeResult) {
	a.total++
	if p.theirs {
		a.allowed++
	}
	if p.ours == p.theirs {
		a.agree++
		return
	}
	for i := range knownDisagreements {
		k := &knownDisagreements[i]
		if k.suite == p.suite && k.testCase == p.testCase && k.match(p) {
			if a.explained == nil {
				a.explained = map[string]int{}
			}
			a.explained[k.reason]++
			return
		}
	}
	a.unexplained = append(a.unexplained, p)
}

func (a *agreement) rate() float64 {
	if a.total == 0 {
		return 0
	}
	return float64(a.agree) / float64(a.total)
}

func (a *agreement) report(t *testing.T, name string) {
	t.Logf("%s: %d/%d (pair, port, protocol) verdicts agree (%.4f); the suite allows %d of them", name, a.agree, a.total, a.rate(), a.allowed)
	for reason, n := range a.explained {
		t.Logf("  %d explained disagreements: %s", n, reason)
	}
	for i, p := range a.unexplained {
		if i == 20 {
			t.Logf("  ... %d more", len(a.unexplained)-20)
			break
		}
		t.Logf("  UNEXPLAINED %s", p)
	}
}

// peerSuite returns a peer analyzer's folder in the shared peer suites
// (../shared/peer-suites from the module root, or CALICO_PLAN_PEER_SUITES,
// e.g. the analyzers' full test suites); the test skips when it is absent,
// and fails under CI=true.
func peerSuite(t *testing.T, name string) string {
	t.Helper()
	return sharedtest.Dir(t, sharedtest.PeerSuites, name)
}

// --- cluster topology from manifests ----------------------------------------

type workload struct {
	name      string // suite spelling: ns/name[Kind]
	ns        string
	labels    selector.Labels
	namedPort []NamedPort
	podIP     netip.Addr // recorded, but not used for the agreement rate
}

type container struct {
	// Ports is raw: NCA's pod list writes an empty object where Kubernetes
	// has a list.
	Ports json.RawMessage `json:"ports"`
}

type containerPort struct {
	Name          string `json:"name"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
}

type genericObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name            string            `json:"name"`
		Namespace       string            `json:"namespace"`
		Labels          map[string]string `json:"labels"`
		OwnerReferences []struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"ownerReferences"`
	} `json:"metadata"`
	Spec struct {
		Containers []container `json:"containers"`
		Template   struct {
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
			Spec struct {
				Containers []container `json:"containers"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
	Status struct {
		PodIP string `json:"podIP"`
	} `json:"status"`
	Items []json.RawMessage `json:"items"`
}

// readObjects returns every object (List items expanded) of YAML/JSON files.
func readObjects(t *testing.T, paths ...string) []genericObject {
	var out []genericObject
	var add func(js []byte, defKind string)
	add = func(js []byte, defKind string) {
		var o genericObject
		require.NoError(t, json.Unmarshal(js, &o), "%v: %s", paths, js)
		if o.Kind == "" {
			o.Kind = defKind
		}
		if strings.HasSuffix(o.Kind, "List") {
			for _, it := range o.Items {
				add(it, strings.TrimSuffix(o.Kind, "List"))
			}
			return
		}
		out = append(out, o)
	}
	for _, p := range paths {
		f, err := os.Open(p)
		require.NoError(t, err)
		rd := utilyaml.NewYAMLReader(bufio.NewReader(f))
		for {
			doc, err := rd.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, p)
			js, err := yaml.YAMLToJSON(doc)
			if err != nil || len(js) == 0 || string(js) == "null" {
				continue
			}
			add(js, "")
		}
		_ = f.Close()
	}
	return out
}

func namedPorts(cs []container) []NamedPort {
	out := []NamedPort{}
	for _, c := range cs {
		var ports []containerPort
		if len(c.Ports) > 0 && c.Ports[0] == '[' {
			if err := json.Unmarshal(c.Ports, &ports); err != nil {
				panic(err)
			}
		}
		for _, p := range ports {
			if p.Name == "" {
				continue
			}
			proto := ProtoTCP
			switch p.Protocol {
			case "UDP":
				proto = ProtoUDP
			case "SCTP":
				proto = ProtoSCTP
			}
			out = append(out, NamedPort{p.Name, proto, uint16(p.ContainerPort)})
		}
	}
	return out
}

// workloadsOf maps pods and pod controllers to workloads the way the suites
// name them. Distinct pods of one owner are kept as separate variants.
func workloadsOf(objs []genericObject) []workload {
	var out []workload
	seen := map[string]bool{}
	for _, o := range objs {
		ns := o.Metadata.Namespace
		if ns == "" {
			ns = "default"
		}
		var w workload
		switch o.Kind {
		case "Pod":
			kind, name := "Pod", o.Metadata.Name
			if len(o.Metadata.OwnerReferences) > 0 {
				name = o.Metadata.OwnerReferences[0].Name
				if k := o.Metadata.OwnerReferences[0].Kind; k != "" {
					kind = k
				}
			}
			w = workload{name: ns + "/" + name + "[" + kind + "]", ns: ns, labels: selector.MakeLabels(o.Metadata.Labels), namedPort: namedPorts(o.Spec.Containers)}
			w.podIP, _ = netip.ParseAddr(o.Status.PodIP)
		case "Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job", "ReplicationController":
			w = workload{name: ns + "/" + o.Metadata.Name + "[" + o.Kind + "]", ns: ns,
				labels: selector.MakeLabels(o.Spec.Template.Metadata.Labels), namedPort: namedPorts(o.Spec.Template.Spec.Containers)}
		default:
			continue
		}
		key := fmt.Sprintf("%s|%s|%v", w.name, w.labels, w.namedPort)
		if !seen[key] {
			seen[key] = true
			out = append(out, w)
		}
	}
	return out
}

func (w *workload) endpoint() Endpoint {
	return Endpoint{Kind: EndpointWorkload, Namespace: w.ns, Name: w.name, Labels: w.labels, NamedPorts: w.namedPort}
}

// probePorts collects the port boundaries that matter for a policy set.
func probePorts(set *Set, wls []workload) []uint16 {
	ports := map[int]bool{}
	addRange := func(lo, hi int) {
		for _, p := range []int{lo - 1, lo, hi, hi + 1} {
			if p >= 1 && p <= 65535 {
				ports[p] = true
			}
		}
	}
	addEntity := func(e *entity) {
		for _, r := range append(slices.Clone(e.ports.ranges), e.notPorts.ranges...) {
			addRange(int(r.lo), int(r.hi))
		}
	}
	for _, p := range set.Policies {
		for _, rs := range [][]rule{p.ingress, p.egress} {
			for i := range rs {
				addEntity(&rs[i].src)
				addEntity(&rs[i].dst)
			}
		}
	}
	for _, w := range wls {
		for _, np := range w.namedPort {
			ports[int(np.Port)] = true
		}
	}
	for p := 1000; ; p++ { // one port nobody mentions
		if !ports[p] && !ports[p-1] && !ports[p+1] {
			ports[p] = true
			break
		}
	}
	out := make([]uint16, 0, len(ports))
	for p := range ports {
		out = append(out, uint16(p))
	}
	slices.Sort(out)
	return out
}

// probeAddrs collects external addresses at every CIDR boundary policies
// mention (first, last, and the neighbours outside), plus fixed samples.
func probeAddrs(set *Set, v6 bool) []netip.Addr {
	addrs := map[netip.Addr]bool{}
	for _, s := range []string{"0.0.0.0", "1.2.3.4", "8.8.8.8", "255.255.255.255"} {
		addrs[netip.MustParseAddr(s)] = true
	}
	if v6 {
		for _, s := range []string{"::", "::1", "2001:db8::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"} {
			addrs[netip.MustParseAddr(s)] = true
		}
	}
	add := func(p netip.Prefix) {
		if !v6 && !p.Addr().Is4() {
			return
		}
		first := p.Masked().Addr()
		last := lastAddr(p)
		addrs[first], addrs[last] = true, true
		if prev := first.Prev(); prev.IsValid() {
			addrs[prev] = true
		}
		if next := last.Next(); next.IsValid() {
			addrs[next] = true
		}
	}
	for _, p := range set.Policies {
		for _, rs := range [][]rule{p.ingress, p.egress} {
			for i := range rs {
				for _, e := range []*entity{&rs[i].src, &rs[i].dst} {
					for _, n := range append(slices.Clone(e.nets), e.notNets...) {
						add(n)
					}
				}
			}
		}
	}
	out := make([]netip.Addr, 0, len(addrs))
	for a := range addrs {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr()
	b := a.AsSlice()
	bits := p.Bits()
	for i := range b {
		for j := 0; j < 8; j++ {
			if i*8+j >= bits {
				b[i] |= 1 << (7 - j)
			}
		}
	}
	out, _ := netip.AddrFromSlice(b)
	return out
}

// --- expected connections ---------------------------------------------------

// connSet is a set of allowed (protocol, port) pairs.
type connSet struct {
	all    bool
	protos map[Protocol][]portRange // a protocol with a nil slice: all its ports
}

func (c *connSet) allows(proto Protocol, port uint16) bool {
	if c == nil {
		return false
	}
	if c.all {
		return true
	}
	rs, ok := c.protos[proto]
	if !ok {
		return false
	}
	if rs == nil {
		return true
	}
	for _, r := range rs {
		if port >= r.lo && port <= r.hi {
			return true
		}
	}
	return false
}

func (c *connSet) union(o *connSet) {
	if o.all {
		c.all = true
	}
	for p, rs := range o.protos {
		if c.protos == nil {
			c.protos = map[Protocol][]portRange{}
		}
		cur, had := c.protos[p]
		switch {
		case had && cur == nil, rs == nil:
			c.protos[p] = nil
		default:
			c.protos[p] = append(cur, rs...)
		}
	}
}

func parseProto(s string) (Protocol, bool) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "TCP":
		return ProtoTCP, true
	case "UDP":
		return ProtoUDP, true
	case "SCTP":
		return ProtoSCTP, true
	case "ICMP":
		return ProtoICMP, true
	}
	return 0, false
}

func parsePortRange(s string) (portRange, error) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	a, err := strconv.Atoi(lo)
	if err != nil {
		return portRange{}, err
	}
	b := a
	if isRange {
		if b, err = strconv.Atoi(hi); err != nil {
			return portRange{}, err
		}
	}
	return portRange{uint16(a), uint16(b)}, nil
}

// parseNPGuardConns parses "All Connections" or "TCP 8080,9090,UDP 53-54".
func parseNPGuardConns(s string) (*connSet, error) {
	s = strings.TrimSpace(s)
	if s == "All Connections" {
		return &connSet{all: true}, nil
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

type ipRange struct{ lo, hi netip.Addr }

func (r ipRange) contains(a netip.Addr) bool {
	return a.BitLen() == r.lo.BitLen() && r.lo.Compare(a) <= 0 && a.Compare(r.hi) <= 0
}

func parseIPRanges(s string) ([]ipRange, error) {
	var out []ipRange
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.Contains(part, "/") {
			p, err := netip.ParsePrefix(part)
			if err != nil {
				return nil, err
			}
			out = append(out, ipRange{p.Masked().Addr(), lastAddr(p)})
			continue
		}
		lo, hi, ok := strings.Cut(part, "-")
		a, err := netip.ParseAddr(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if ok {
			if b, err = netip.ParseAddr(hi); err != nil {
				return nil, err
			}
		}
		out = append(out, ipRange{a, b})
	}
	return out, nil
}

// --- np-guard netpol-analyzer -----------------------------------------------

func TestPeerSuiteNPGuard(t *testing.T) {
	root := peerSuite(t, "np-guard-netpol-analyzer")
	outs, err := filepath.Glob(filepath.Join(root, "test_outputs", "connlist", "*_connlist_output.txt"))
	require.NoError(t, err)
	require.NotEmpty(t, outs)
	var total agreement
	for _, out := range outs {
		name := strings.TrimSuffix(filepath.Base(out), "_connlist_output.txt")
		inputs, err := filepath.Glob(filepath.Join(root, "tests", name, "*"))
		require.NoError(t, err)
		if len(inputs) == 0 {
			continue
		}
		var a agreement
		runNPGuardCase(t, name, inputs, out, &a)
		a.report(t, "np-guard "+name)
		total.total += a.total
		total.agree += a.agree
		total.allowed += a.allowed
		for r, n := range a.explained {
			if total.explained == nil {
				total.explained = map[string]int{}
			}
			total.explained[r] += n
		}
		total.unexplained = append(total.unexplained, a.unexplained...)
	}
	total.report(t, "np-guard netpol-analyzer TOTAL")
	// Both verdicts occur often, so agreement is not trivially reached.
	require.Greater(t, total.allowed, total.total/10)
	require.Less(t, total.allowed, total.total*9/10)
	require.Empty(t, total.unexplained, "every disagreement must be listed in knownDisagreements")
	require.GreaterOrEqual(t, total.rate(), npGuardAgreementFloor)
}

type npGuardPeer struct {
	workload string    // "" for external
	ranges   []ipRange // external
}

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

func runNPGuardCase(t *testing.T, name string, inputs []string, outFile string, a *agreement) {
	objs := readObjects(t, inputs...)
	wls := workloadsOf(objs)
	require.NotEmpty(t, wls, name)
	l := &Loader{AllowInvalid: true}
	set, _ := l.LoadFiles(inputs)
	ev, err := NewEvaluator(set, Config{})
	require.NoError(t, err)

	// Expected connections.
	type edge struct{ src, dst npGuardPeer }
	var edges []edge
	var conns []*connSet
	data, err := os.ReadFile(outFile)
	require.NoError(t, err)
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		lhs, c, ok := strings.Cut(line, " : ")
		require.True(t, ok, line)
		s, d, ok := strings.Cut(lhs, " => ")
		require.True(t, ok, line)
		sp, err := parseNPGuardPeer(s)
		require.NoError(t, err, line)
		dp, err := parseNPGuardPeer(d)
		require.NoError(t, err, line)
		cs, err := parseNPGuardConns(c)
		require.NoError(t, err, line)
		edges = append(edges, edge{sp, dp})
		conns = append(conns, cs)
	}
	expectPair := func(src, dst string) *connSet {
		for i, e := range edges {
			if e.src.workload == src && e.dst.workload == dst {
				return conns[i]
			}
		}
		return nil
	}
	expectExt := func(w string, ip netip.Addr, out bool) *connSet {
		var res connSet
		for i, e := range edges {
			wl, ext := e.dst, e.src
			if out {
				wl, ext = e.src, e.dst
			}
			if wl.workload != w || ext.workload != "" {
				continue
			}
			for _, r := range ext.ranges {
				if r.contains(ip) {
					res.union(conns[i])
				}
			}
		}
		return &res
	}
	ports := probePorts(set, wls)
	addrs := probeAddrs(set, false)
	protos := []Protocol{ProtoTCP, ProtoUDP, ProtoSCTP}
	for i := range wls {
		for j := range wls {
			src, dst := &wls[i], &wls[j]
			if src.name == dst.name {
				continue
			}
			want := expectPair(src.name, dst.name)
			for _, proto := range protos {
				for _, port := range ports {
					r := ev.Evaluate(Flow{Src: src.endpoint(), Dst: dst.endpoint(), Proto: proto, DstPort: port})
					a.add(&probeResult{suite: "np-guard", testCase: name, src: src.name, dst: dst.name, srcNS: src.ns, dstNS: dst.ns,
						srcLabels: src.labels, dstLabels: dst.labels, proto: proto, port: port, ours: r.Allowed, theirs: want.allows(proto, port)})
				}
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
			for _, proto := range protos {
				for _, port := range ports {
					withIPs++
					noIP := ev.Evaluate(Flow{Src: src.endpoint(), Dst: dst.endpoint(), Proto: proto, DstPort: port}).Allowed
					if ev.Evaluate(Flow{Src: se, Dst: de, Proto: proto, DstPort: port}).Allowed != noIP {
						changed++
					}
				}
			}
		}
	}
	if withIPs > 0 {
		t.Logf("np-guard %s: with pod IPs (Calico matches them against ipBlock), %d of %d pod-pair verdicts change; "+
			"not counted (np-guard never matches pod IPs against ipBlocks)", name, changed, withIPs)
	}
	for i := range wls {
		w := &wls[i]
		for _, ip := range addrs {
			ext := Endpoint{Kind: EndpointNetwork, IP: ip}
			wantOut, wantIn := expectExt(w.name, ip, true), expectExt(w.name, ip, false)
			for _, proto := range protos {
				for _, port := range ports {
					r := ev.Evaluate(Flow{Src: w.endpoint(), Dst: ext, Proto: proto, DstPort: port})
					a.add(&probeResult{suite: "np-guard", testCase: name, src: w.name, dst: ip.String(), srcNS: w.ns,
						srcLabels: w.labels, proto: proto, port: port, ours: r.Allowed, theirs: wantOut.allows(proto, port)})
					r = ev.Evaluate(Flow{Src: ext, Dst: w.endpoint(), Proto: proto, DstPort: port})
					a.add(&probeResult{suite: "np-guard", testCase: name, src: ip.String(), dst: w.name, dstNS: w.ns,
						dstLabels: w.labels, proto: proto, port: port, ours: r.Allowed, theirs: wantIn.allows(proto, port)})
				}
			}
		}
	}
}

// --- IBM network-config-analyzer --------------------------------------------

type ncaScheme struct {
	NamespaceList     string `json:"namespaceList"`
	PodList           string `json:"podList"`
	ResourceList      any    `json:"resourceList"`
	NetworkConfigList []struct {
		Name              string   `json:"name"`
		NetworkPolicyList []string `json:"networkPolicyList"`
	} `json:"networkConfigList"`
	Queries []struct {
		Name            string   `json:"name"`
		ConnectivityMap []string `json:"connectivityMap"`
		Equivalence     []string `json:"equivalence"`
		Containment     []string `json:"containment"`
		Vacuity         []string `json:"vacuity"`
		ExpectedOutput  string   `json:"expectedOutput"`
		Expected        *int     `json:"expected"`
	} `json:"queries"`
}

// ncaRule is one fw-rules line of a connectivity map.
type ncaRule struct {
	srcNS, dstNS     []string
	srcPods, dstPods *ncaExpr  // nil: "*"
	srcIPs, dstIPs   []ipRange // set for address peers
	conn             *connSet
}

func TestPeerSuiteNCA(t *testing.T) {
	root := peerSuite(t, "ibm-network-config-analyzer")
	schemes, err := filepath.Glob(filepath.Join(root, "tests", "calico_testcases", "example_policies", "*", "*scheme*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, schemes)
	var total agreement
	compared := 0
	for _, schemeFile := range schemes {
		data, err := os.ReadFile(schemeFile)
		require.NoError(t, err)
		var sc ncaScheme
		require.NoError(t, yaml.Unmarshal(data, &sc), schemeFile)
		dir := filepath.Dir(schemeFile)
		for _, q := range sc.Queries {
			if len(q.ConnectivityMap) == 0 || q.ExpectedOutput == "" {
				continue // only connectivity maps have golden verdicts per connection
			}
			require.NotEmpty(t, sc.PodList, "scheme %s: topology given only as resourceList", schemeFile)
			sections := parseNCAOutput(t, filepath.Join(dir, q.ExpectedOutput))
			for i, cfgRef := range q.ConnectivityMap {
				name := fmt.Sprintf("%s/%s/%s", strings.TrimSuffix(filepath.Base(schemeFile), ".yaml"), q.Name, cfgRef)
				rules, ok := sections[i]
				require.True(t, ok, "%s: no expected section %d", name, i)
				var a agreement
				runNCAConfig(t, name, dir, &sc, cfgRef, rules, &a)
				a.report(t, "nca "+name)
				compared++
				total.total += a.total
				total.agree += a.agree
				total.allowed += a.allowed
				for r, n := range a.explained {
					if total.explained == nil {
						total.explained = map[string]int{}
					}
					total.explained[r] += n
				}
				total.unexplained = append(total.unexplained, a.unexplained...)
			}
		}
	}
	require.Positive(t, compared)
	total.report(t, "IBM network-config-analyzer TOTAL")
	require.Greater(t, total.allowed, total.total/10)
	require.Less(t, total.allowed, total.total*9/10)
	require.Empty(t, total.unexplained, "every disagreement must be listed in knownDisagreements")
	require.GreaterOrEqual(t, total.rate(), ncaAgreementFloor)
}

// parseNCAOutput splits a connectivity-map output into its sections (one
// per config, in query order) of fw-rules.
func parseNCAOutput(t *testing.T, path string) map[int][]ncaRule {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	out := map[int][]ncaRule{}
	sec := -1
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "final fw rules for query:"):
			sec++
			out[sec] = nil
		default:
			r, err := parseNCARule(line)
			require.NoError(t, err, "%s: %q", path, line)
			out[sec] = append(out[sec], r)
		}
	}
	return out
}

// parseNCARule parses e.g.
// "src_ns: [a,b] src_pods: [app=x] dst: 0.0.0.0/0 conn: {protocols:TCP}".
func parseNCARule(line string) (ncaRule, error) {
	var r ncaRule
	fields := map[string]string{}
	keys := []string{"src_ns:", "src_pods:", "dst_ns:", "dst_pods:", "src:", "dst:", "conn:"}
	type pos struct {
		key string
		at  int
	}
	var found []pos
	for _, k := range keys {
		for i := 0; i+len(k) <= len(line); i++ {
			if line[i:i+len(k)] == k && (i == 0 || line[i-1] == ' ') {
				found = append(found, pos{k, i})
			}
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].at < found[j].at })
	for i, f := range found {
		end := len(line)
		if i+1 < len(found) {
			end = found[i+1].at
		}
		fields[f.key] = strings.TrimSpace(line[f.at+len(f.key) : end])
	}
	list := func(s string) []string {
		s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
		return strings.Split(s, ",")
	}
	pods := func(s string) (*ncaExpr, error) {
		s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
		if s == "*" {
			return nil, nil
		}
		return parseNCAExpr(s)
	}
	var err error
	if v, ok := fields["src_ns:"]; ok {
		r.srcNS = list(v)
		if r.srcPods, err = pods(fields["src_pods:"]); err != nil {
			return r, err
		}
	} else if r.srcIPs, err = parseIPRanges(fields["src:"]); err != nil {
		return r, err
	}
	if v, ok := fields["dst_ns:"]; ok {
		r.dstNS = list(v)
		if r.dstPods, err = pods(fields["dst_pods:"]); err != nil {
			return r, err
		}
	} else if r.dstIPs, err = parseIPRanges(fields["dst:"]); err != nil {
		return r, err
	}
	r.conn, err = parseNCAConn(fields["conn:"])
	return r, err
}

// parseNCAConn parses "All connections" or "{protocols:TCP,UDP,dst_ports:80-90,443}".
func parseNCAConn(s string) (*connSet, error) {
	if s == "All connections" {
		return &connSet{all: true}, nil
	}
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return nil, fmt.Errorf("unsupported conn %q", s)
	}
	vals := map[string][]string{}
	key := ""
	for _, tok := range strings.Split(s[1:len(s)-1], ",") {
		tok = strings.TrimSpace(tok)
		if k, v, ok := strings.Cut(tok, ":"); ok {
			key, tok = k, v
		}
		vals[key] = append(vals[key], tok)
	}
	c := &connSet{protos: map[Protocol][]portRange{}}
	var ranges []portRange
	for _, p := range vals["dst_ports"] {
		r, err := parsePortRange(p)
		if err != nil {
			return nil, err
		}
		ranges = append(ranges, r)
	}
	for k := range vals {
		if k != "protocols" && k != "dst_ports" {
			return nil, fmt.Errorf("unsupported conn field %q in %q", k, s)
		}
	}
	for _, name := range vals["protocols"] {
		p, ok := parseProto(name)
		if !ok {
			return nil, fmt.Errorf("bad protocol %q in %q", name, s)
		}
		c.protos[p] = ranges
	}
	return c, nil
}

func (r *ncaRule) matchesPod(ns []string, e *ncaExpr, w *workload) bool {
	return ns != nil && slices.Contains(ns, w.ns) && (e == nil || e.eval(w.labels))
}

// loadNCAConfig loads a config reference: "config", "config/ns/policy" or
// "config/Kind/ns/policy" (a single policy of the config).
func loadNCAConfig(t *testing.T, name, dir string, sc *ncaScheme, cfgRef string) *Set {
	parts := strings.Split(cfgRef, "/")
	cfgName := parts[0]
	var files []string
	for _, c := range sc.NetworkConfigList {
		if c.Name == cfgName {
			for _, f := range c.NetworkPolicyList {
				files = append(files, filepath.Join(dir, f))
			}
		}
	}
	require.NotEmpty(t, files, "%s: unknown config %q", name, cfgName)
	l := &Loader{AllowInvalid: true}
	set, errs := l.LoadFiles(files)
	invalid := 0
	for _, e := range errs {
		if pe := e.(*Error); !pe.Warning {
			invalid++
		}
	}
	if invalid > 0 {
		t.Logf("%s: %d validation errors Calico's API would reject (loaded anyway)", name, invalid)
	}
	if len(parts) > 1 {
		want := parts[len(parts)-1]
		ns := ""
		if len(parts) >= 3 {
			ns = parts[len(parts)-2]
		}
		kind := ""
		if len(parts) == 4 {
			kind = parts[1]
		}
		var keep []*Policy
		for _, p := range set.Policies {
			if p.Name != want || (ns != "" && p.Namespace != ns && !p.Kind.Global()) {
				continue
			}
			switch kind {
			case "K8sNetworkPolicy":
				if p.Kind != KindKubernetesNetworkPolicy {
					continue
				}
			case "CalicoNetworkPolicy":
				if p.Kind != KindNetworkPolicy {
					continue
				}
			case "CalicoGlobalNetworkPolicy":
				if p.Kind != KindGlobalNetworkPolicy {
					continue
				}
			}
			keep = append(keep, p)
		}
		require.Len(t, keep, 1, "%s: single policy %q", name, cfgRef)
		set.Policies = keep
	}
	return set
}

// ncaTopology returns the scheme's pods (one workload per pod) and the
// evaluator configuration with its namespace labels.
func ncaTopology(t *testing.T, dir string, sc *ncaScheme) ([]workload, Config) {
	wls := workloadsOf(readObjects(t, filepath.Join(dir, sc.PodList)))
	for i := range wls {
		wls[i].name = fmt.Sprintf("%s#%d", wls[i].name, i)
	}
	cfg := Config{NamespaceLabels: map[string]map[string]string{}}
	for _, o := range readObjects(t, filepath.Join(dir, sc.NamespaceList)) {
		if o.Kind == "Namespace" {
			cfg.NamespaceLabels[o.Metadata.Name] = o.Metadata.Labels
		}
	}
	return wls, cfg
}

func runNCAConfig(t *testing.T, name, dir string, sc *ncaScheme, cfgRef string, rules []ncaRule, a *agreement) {
	set := loadNCAConfig(t, name, dir, sc, cfgRef)
	wls, cfg := ncaTopology(t, dir, sc)
	ev, err := NewEvaluator(set, cfg)
	require.NoError(t, err)

	allowsPair := func(src, dst *workload, proto Protocol, port uint16) bool {
		for i := range rules {
			r := &rules[i]
			if r.matchesPod(r.srcNS, r.srcPods, src) && r.matchesPod(r.dstNS, r.dstPods, dst) && r.conn.allows(proto, port) {
				return true
			}
		}
		return false
	}
	allowsExt := func(w *workload, ip netip.Addr, out bool, proto Protocol, port uint16) bool {
		for i := range rules {
			r := &rules[i]
			ns, e, ips := r.srcNS, r.srcPods, r.dstIPs
			if !out {
				ns, e, ips = r.dstNS, r.dstPods, r.srcIPs
			}
			if !r.matchesPod(ns, e, w) || !r.conn.allows(proto, port) {
				continue
			}
			for _, rg := range ips {
				if rg.contains(ip) {
					return true
				}
			}
		}
		return false
	}
	v6 := false
	for _, r := range rules {
		for _, rg := range append(slices.Clone(r.srcIPs), r.dstIPs...) {
			v6 = v6 || rg.lo.Is6()
		}
	}
	ports := probePorts(set, wls)
	addrs := probeAddrs(set, v6)
	type pp struct {
		proto Protocol
		port  uint16
	}
	var probes []pp
	for _, proto := range []Protocol{ProtoTCP, ProtoUDP, ProtoSCTP} {
		for _, port := range ports {
			probes = append(probes, pp{proto, port})
		}
	}
	probes = append(probes, pp{ProtoICMP, 0})
	for i := range wls {
		for j := range wls {
			if i == j {
				continue
			}
			src, dst := &wls[i], &wls[j]
			for _, p := range probes {
				r := ev.Evaluate(Flow{Src: src.endpoint(), Dst: dst.endpoint(), Proto: p.proto, DstPort: p.port})
				a.add(&probeResult{suite: "nca", testCase: name, src: src.name, dst: dst.name, srcNS: src.ns, dstNS: dst.ns,
					srcLabels: src.labels, dstLabels: dst.labels, proto: p.proto, port: p.port,
					ours: r.Allowed, theirs: allowsPair(src, dst, p.proto, p.port)})
			}
		}
	}
	for i := range wls {
		w := &wls[i]
		for _, ip := range addrs {
			ext := Endpoint{Kind: EndpointNetwork, IP: ip}
			for _, p := range probes {
				r := ev.Evaluate(Flow{Src: w.endpoint(), Dst: ext, Proto: p.proto, DstPort: p.port})
				a.add(&probeResult{suite: "nca", testCase: name, src: w.name, dst: ip.String(), srcNS: w.ns, srcLabels: w.labels,
					proto: p.proto, port: p.port, ours: r.Allowed, theirs: allowsExt(w, ip, true, p.proto, p.port)})
				r = ev.Evaluate(Flow{Src: ext, Dst: w.endpoint(), Proto: p.proto, DstPort: p.port})
				a.add(&probeResult{suite: "nca", testCase: name, src: ip.String(), dst: w.name, dstNS: w.ns, dstLabels: w.labels,
					proto: p.proto, port: p.port, ours: r.Allowed, theirs: allowsExt(w, ip, false, p.proto, p.port)})
			}
		}
	}
}

// ncaExpr is NCA's fw-rules pod label expression: "app=x", "app!=x",
// "has(app)", "!has(app)", "app in (a,b)", combined with "and", "or" and
// parentheses.
type ncaExpr struct {
	op         string // "and", "or", "eq", "ne", "has", "nothas", "in", "notin"
	key        string
	values     []string
	left, rite *ncaExpr
}

func (e *ncaExpr) eval(l selector.Labels) bool {
	v, ok := l.Get(e.key)
	switch e.op {
	case "and":
		return e.left.eval(l) && e.rite.eval(l)
	case "or":
		return e.left.eval(l) || e.rite.eval(l)
	case "eq":
		return ok && v == e.values[0]
	case "ne":
		return !ok || v != e.values[0]
	case "has":
		return ok
	case "nothas":
		return !ok
	case "in":
		return ok && slices.Contains(e.values, v)
	case "notin":
		return !ok || !slices.Contains(e.values, v)
	}
	panic(e.op)
}

func parseNCAExpr(s string) (*ncaExpr, error) {
	p := &ncaParser{s: s}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.skip(); p.i != len(p.s) {
		return nil, fmt.Errorf("trailing %q in %q", p.s[p.i:], s)
	}
	return e, nil
}

type ncaParser struct {
	s string
	i int
}

func (p *ncaParser) skip() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *ncaParser) word(w string) bool {
	p.skip()
	if strings.HasPrefix(p.s[p.i:], w) {
		p.i += len(w)
		return true
	}
	return false
}

func (p *ncaParser) or() (*ncaExpr, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.word(" or") || p.word("or ") {
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &ncaExpr{op: "or", left: l, rite: r}
	}
	return l, nil
}

func (p *ncaParser) and() (*ncaExpr, error) {
	l, err := p.atom()
	if err != nil {
		return nil, err
	}
	for p.word("and ") {
		r, err := p.atom()
		if err != nil {
			return nil, err
		}
		l = &ncaExpr{op: "and", left: l, rite: r}
	}
	return l, nil
}

func (p *ncaParser) ident() string {
	p.skip()
	start := p.i
	for p.i < len(p.s) && !strings.ContainsRune(" =!(),", rune(p.s[p.i])) {
		p.i++
	}
	return p.s[start:p.i]
}

func (p *ncaParser) atom() (*ncaExpr, error) {
	switch {
	case p.word("("):
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.word(")") {
			return nil, fmt.Errorf("missing ) in %q", p.s)
		}
		return e, nil
	case p.word("!has("):
		k := p.ident()
		if !p.word(")") {
			return nil, fmt.Errorf("missing ) in %q", p.s)
		}
		return &ncaExpr{op: "nothas", key: k}, nil
	case p.word("has("):
		k := p.ident()
		if !p.word(")") {
			return nil, fmt.Errorf("missing ) in %q", p.s)
		}
		return &ncaExpr{op: "has", key: k}, nil
	}
	k := p.ident()
	if k == "" {
		return nil, fmt.Errorf("expected a label at %d in %q", p.i, p.s)
	}
	switch {
	case p.word("!="):
		return &ncaExpr{op: "ne", key: k, values: []string{p.ident()}}, nil
	case p.word("="):
		return &ncaExpr{op: "eq", key: k, values: []string{p.ident()}}, nil
	case p.word("not in ("), p.word("in ("):
		op := "in"
		if strings.HasSuffix(p.s[:p.i], "not in (") {
			op = "notin"
		}
		var vals []string
		for {
			vals = append(vals, p.ident())
			if p.word(")") {
				break
			}
			if !p.word(",") {
				return nil, fmt.Errorf("bad set in %q", p.s)
			}
		}
		return &ncaExpr{op: op, key: k, values: vals}, nil
	}
	return nil, fmt.Errorf("expected an operator after %q in %q", k, p.s)
}

func TestNCAExprParser(t *testing.T) {
	l := selector.FromPairs("app", "kube-fluentd", "tier", "frontend")
	cases := map[string]bool{
		`app=kube-fluentd`: true,
		`!has(tier)`:       false,
		`!has(app) or (has(app) and app!=kube-fluentd)`: false,
		`has(tier) and tier=frontend`:                   true,
		`app in (a,kube-fluentd)`:                       true,
		`app not in (a,kube-fluentd)`:                   false,
	}
	for s, want := range cases {
		e, err := parseNCAExpr(s)
		require.NoError(t, err, s)
		require.Equal(t, want, e.eval(l), s)
	}
	r, err := parseNCARule(`src_ns: [kube-system] src_pods: [!has(app) or (has(app) and app!=kube-fluentd)] dst: 0.0.0.0/0,::/0 conn: {protocols:TCP}`)
	require.NoError(t, err)
	require.Equal(t, []string{"kube-system"}, r.srcNS)
	require.Len(t, r.dstIPs, 2)
	require.True(t, r.conn.allows(ProtoTCP, 80))
	require.False(t, r.conn.allows(ProtoUDP, 80))
	c, err := parseNPGuardConns("TCP 10053-10054,UDP 10053,SCTP 1,2")
	require.NoError(t, err)
	require.True(t, c.allows(ProtoTCP, 10054))
	require.False(t, c.allows(ProtoUDP, 10054))
	require.True(t, c.allows(ProtoSCTP, 2))
}

// knownQueryDisagreements lists NCA query results (scheme/query) the
// evaluator does not reproduce, with the reason.
var knownQueryDisagreements = map[string]string{}

// TestPeerSuiteNCAQueries checks NCA's equivalence, containment and vacuity
// queries by comparing the evaluator's connectivity over a common probe
// space: equivalence counts non-equivalent pairs, containment counts the
// sets contained in the first, vacuity counts sets whose connectivity equals
// having no policy at all.
func TestPeerSuiteNCAQueries(t *testing.T) {
	root := peerSuite(t, "ibm-network-config-analyzer")
	schemes, err := filepath.Glob(filepath.Join(root, "tests", "calico_testcases", "example_policies", "*", "*scheme*.yaml"))
	require.NoError(t, err)
	total, agree := 0, 0
	for _, schemeFile := range schemes {
		data, err := os.ReadFile(schemeFile)
		require.NoError(t, err)
		var sc ncaScheme
		require.NoError(t, yaml.Unmarshal(data, &sc), schemeFile)
		if sc.PodList == "" {
			continue // topology given as a resourceList directory (not modelled)
		}
		dir := filepath.Dir(schemeFile)
		wls, cfg := ncaTopology(t, dir, &sc)
		for _, q := range sc.Queries {
			var kind string
			var refs []string
			switch {
			case len(q.Equivalence) > 0:
				kind, refs = "equivalence", q.Equivalence
			case len(q.Containment) > 0:
				kind, refs = "containment", q.Containment
			case len(q.Vacuity) > 0:
				kind, refs = "vacuity", q.Vacuity
			default:
				continue
			}
			if q.Expected == nil {
				continue
			}
			name := strings.TrimSuffix(filepath.Base(schemeFile), ".yaml") + "/" + q.Name
			sets := make([]*Set, len(refs))
			union := NewSet()
			for i, ref := range refs {
				sets[i] = loadNCAConfig(t, name, dir, &sc, ref)
				union.Policies = append(union.Policies, sets[i].Policies...)
			}
			vec := func(set *Set) []bool {
				return connectivityVector(t, set, cfg, wls, probePorts(union, wls), probeAddrs(union, true))
			}
			vecs := make([][]bool, len(sets))
			for i, s := range sets {
				vecs[i] = vec(s)
			}
			got := 0
			switch kind {
			case "equivalence":
				for i := range vecs {
					for j := i + 1; j < len(vecs); j++ {
						if !slices.Equal(vecs[i], vecs[j]) {
							got++
						}
					}
				}
			case "containment":
				for j := 1; j < len(vecs); j++ {
					if subset(vecs[j], vecs[0]) {
						got++
					}
				}
			case "vacuity":
				none := vec(NewSet())
				for _, v := range vecs {
					if slices.Equal(v, none) {
						got++
					}
				}
			}
			total++
			if got == *q.Expected {
				agree++
				continue
			}
			if reason, ok := knownQueryDisagreements[name]; ok {
				t.Logf("nca query %s (%s): evaluator %d, NCA %d: known: %s", name, kind, got, *q.Expected, reason)
				continue
			}
			t.Errorf("nca query %s (%s over %v): evaluator %d, NCA expects %d", name, kind, refs, got, *q.Expected)
		}
	}
	t.Logf("IBM network-config-analyzer queries (equivalence, containment, vacuity): %d/%d agree", agree, total)
	require.Positive(t, total)
	require.Equal(t, total, agree+len(knownQueryDisagreements))
}

func subset(a, b []bool) bool {
	for i := range a {
		if a[i] && !b[i] {
			return false
		}
	}
	return true
}

// connectivityVector evaluates every probe of the topology under set.
func connectivityVector(t *testing.T, set *Set, cfg Config, wls []workload, ports []uint16, addrs []netip.Addr) []bool {
	ev, err := NewEvaluator(set, cfg)
	require.NoError(t, err)
	var out []bool
	probe := func(src, dst Endpoint) {
		for _, proto := range []Protocol{ProtoTCP, ProtoUDP, ProtoSCTP} {
			for _, port := range ports {
				out = append(out, ev.Evaluate(Flow{Src: src, Dst: dst, Proto: proto, DstPort: port}).Allowed)
			}
		}
		out = append(out, ev.Evaluate(Flow{Src: src, Dst: dst, Proto: ProtoICMP}).Allowed)
	}
	for i := range wls {
		for j := range wls {
			if i != j {
				probe(wls[i].endpoint(), wls[j].endpoint())
			}
		}
		for _, ip := range addrs {
			ext := Endpoint{Kind: EndpointNetwork, IP: ip}
			probe(wls[i].endpoint(), ext)
			probe(ext, wls[i].endpoint())
		}
	}
	return out
}
