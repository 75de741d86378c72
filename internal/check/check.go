// Package check replays observed flows against a proposed policy set: the
// "what-if" of a pull request. Every valid flow-log record is evaluated as a
// connection with Calico's tier, order, Pass and end-of-tier semantics
// (internal/policy); observed allowed traffic the set would deny is a
// problem, observed denied traffic it would allow is reported, and flows the
// evaluator cannot decide are reported as unknown with the reason, never
// guessed. Effectiveness probes then confirm that every namespace the set
// is meant to lock down really denies egress it never used: an unobserved
// public address, an unobserved private address and a pod in an unobserved
// namespace.
package check

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/check/policyfile"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/policy"
	"github.com/calico-plan/calico-plan/render"
)

// Verdicts of a flow or probe.
const (
	VerdictAllow   = "allow"
	VerdictDeny    = "deny"
	VerdictUnknown = "unknown"
)

// Statuses of a flow: how the verdict compares with what was observed.
const (
	StatusOK           = "ok"            // the set decides as the dataplane did
	StatusWouldDeny    = "would-deny"    // observed allowed, the set denies: a problem
	StatusNewlyAllowed = "newly-allowed" // observed denied, the set allows
	StatusUnknown      = "unknown"       // the set's verdict cannot be decided from the flow
)

// Exit codes of a check.
const (
	ExitOK       = 0
	ExitError    = 1
	ExitProblems = 3
)

// Probe kinds.
const (
	ProbePublic  = "public"
	ProbePrivate = "private"
	ProbePod     = "pod"
)

// ProbePort is the TCP port every probe uses.
const ProbePort = 4444

// ProbeNamespace is the unobserved namespace the pod probe targets (a
// numeric suffix is added when a namespace of that name is known).
const ProbeNamespace = "calico-plan-probe"

// Config is what a check needs besides the policies and flows.
type Config struct {
	// Profile supplies the address ranges (private, pods, nodes), the DNS
	// listeners and the port-53 assumption. Nil means config.Default().
	Profile *config.Profile
	// NamespaceLabels are the cluster's namespace labels: from
	// --namespaces FILE, or a cluster snapshot's (cluster.Facts.
	// NamespaceLabels()). Namespaces not listed still carry their
	// automatic name labels.
	NamespaceLabels cluster.NamespaceLabels
	// Strict counts unknown verdicts (flows and probes) as problems.
	Strict bool
	// Stdin replaces os.Stdin for a "-" input.
	Stdin io.Reader
	// KeepFlows keeps every record's result in Report.Flows (the JSON
	// output lists them all); otherwise only the groups and counts are
	// kept, which bounds memory on large inputs.
	KeepFlows bool
	// Workers evaluate records in parallel in Run (0: GOMAXPROCS). The
	// report is the same whatever their number: records are decoded and
	// counted in input order.
	Workers int
	// Replay are flow records replayed before the inputs: the store's
	// evidence (ReplayStore), for a check without flow-log files.
	Replay []flows.Flow
	// Packets attributes packet-log inputs (kernel LOG lines) to pods, so
	// that their exact addresses are judged; nil: unattributed.
	Packets *flows.PacketLogOptions
}

// FlowResult is the outcome of one flow record.
type FlowResult struct {
	// Index is the record's 0-based position among the valid records.
	Index    int
	Observed flows.Action
	Verdict  string
	Status   string
	// Egress and Ingress are the per-direction decisions (Evaluated false:
	// the side is not a workload or host endpoint).
	Egress, Ingress policy.Decision
	// Deciding is "egress", "ingress" or "" (neither side evaluated): the
	// direction whose decision the verdict reports.
	Deciding string
	// Why explains an unknown verdict.
	Why string
	// DNS is set when the flow went to port 53 of a bare pub/pvt network and
	// was evaluated against the profile's DNS listeners (DNSAddrs).
	DNS      bool
	DNSAddrs []netip.Addr
	group    int
}

// Decision returns the deciding direction's decision (nil when neither
// side was evaluated).
func (r *FlowResult) Decision() *policy.Decision {
	switch r.Deciding {
	case "egress":
		return &r.Egress
	case "ingress":
		return &r.Ingress
	}
	return nil
}

// Group is a set of flow records with the same endpoints, port, status and
// deciding rule, for readable reports.
type Group struct {
	Status   string
	Verdict  string
	Source   string
	Dest     string
	Port     string
	Deciding string
	Decision policy.Decision
	Why      string
	DNS      bool
	DNSAddrs []netip.Addr
	Records  int
	Flows    int64
	LastSeen int64
	// Indexes are the first record indexes (at most 5).
	Indexes []int
}

// ProbeResult is one effectiveness probe.
type ProbeResult struct {
	Namespace string
	Kind      string // public, private or pod
	// Destination is "203.0.113.77:4444/TCP" or "calico-plan-probe (any pod):4444/TCP".
	Destination string
	// Source is the representative pod's workload and labels.
	Workload string
	Labels   map[string]string
	// Why lists what makes the namespace one the set locks down.
	Why     []string
	Verdict string
	Egress  policy.Decision
	// Reason explains an unknown verdict.
	Reason string
	// Hint suggests a fix for a probe that got through.
	Hint string
}

// Report is the result of a check.
type Report struct {
	// Flows holds every record's result when Config.KeepFlows is set.
	Flows  []FlowResult
	Groups []*Group
	Probes []ProbeResult
	// Problems are the policy files' errors and warnings.
	Problems    []policyfile.Problem
	Files       []string
	Policies    int
	Staged      int
	Decode      flows.Stats
	Assumptions []string
	Summary     Summary
	// counts and the indexes of the records with each status.
	counts  counts
	indexes map[string][]int
}

type counts struct {
	flows, observedAllowed, observedDenied, dnsAssumed int
	status                                             map[string]int
}

// Summary counts the report.
type Summary struct {
	Flows           int   `json:"flows"`
	ObservedAllowed int   `json:"observedAllowed"`
	ObservedDenied  int   `json:"observedDenied"`
	WouldDeny       int   `json:"wouldDeny"`
	NewlyAllowed    int   `json:"newlyAllowed"`
	Unknown         int   `json:"unknown"`
	DNSAssumed      int   `json:"dnsAssumed"`
	BadRecords      int64 `json:"badRecords"`
	Probes          int   `json:"probes"`
	ProbesAllowed   int   `json:"probesAllowed"`
	ProbesUnknown   int   `json:"probesUnknown"`
	PolicyFiles     int   `json:"policyFiles"`
	Policies        int   `json:"policies"`
	PolicyErrors    int   `json:"policyErrors"`
	PolicyWarnings  int   `json:"policyWarnings"`
	Problems        int   `json:"problems"`
	// AllowAll counts the newly allowed records an allow-all rule (an
	// observe policy's Allow) lets through: traffic denied today that the
	// set would allow. They are problems.
	AllowAll int    `json:"allowAll"`
	ExitCode int    `json:"exitCode"`
	Result   string `json:"result"`
}

// Checker evaluates flows one at a time; Finish runs the probes.
type Checker struct {
	cfg       Config
	prof      *config.Profile
	set       *policy.Set
	docs      []policyfile.Doc
	ev        *policy.Evaluator
	rep       *Report
	groups    map[groupKey]int
	workloads map[string]map[string]*workloadSeen
	observed  map[netip.Addr]bool
	dnsPub    []netip.Addr
	dnsPvt    []netip.Addr
	family    int
}

type workloadSeen struct {
	records int
	labels  []string
}

type groupKey struct {
	status, verdict, src, dst, port, deciding, tier, policy, why string
	rule                                                         int
	dns                                                          bool
}

// New compiles the policy set. docs are the set's source documents (for
// the app.kubernetes.io/managed-by label); files, problems and decode
// statistics are filled in by Run.
func New(set *policy.Set, docs []policyfile.Doc, cfg Config) (*Checker, error) {
	prof := cfg.Profile
	if prof == nil {
		prof = config.Default()
	}
	c := &Checker{cfg: cfg, prof: prof, set: set, docs: docs, groups: map[groupKey]int{},
		rep:       &Report{counts: counts{status: map[string]int{}}, indexes: map[string][]int{}},
		workloads: map[string]map[string]*workloadSeen{}, observed: map[netip.Addr]bool{}}
	c.family = singleFamily(config.Prefixes(prof.Networks.Pods))
	ev, err := policy.NewEvaluator(set, policy.Config{
		NamespaceLabels:         cfg.NamespaceLabels,
		PendingReplacesEnforced: true,
		DefaultIPVersion:        c.family,
		PrivateNets:             config.Prefixes(prof.Networks.Private),
		PublicExcept:            allowlist.SpecialPrefixes(),
		PodNets:                 config.Prefixes(prof.Networks.Pods),
		NodeNets:                config.Prefixes(prof.Networks.Nodes),
	})
	if err != nil {
		return nil, err
	}
	c.ev = ev
	for _, p := range set.Policies {
		c.rep.Policies++
		if p.Kind.Staged() {
			c.rep.Staged++
		}
	}
	for _, a := range prof.DNS.Addresses {
		if prof.IsPrivate(a.Addr()) {
			c.dnsPvt = append(c.dnsPvt, a.Addr())
		} else {
			c.dnsPub = append(c.dnsPub, a.Addr())
		}
	}
	c.rep.Assumptions = append(c.rep.Assumptions, "flows to a public network without an IP (Goldmane's \"pub\") are taken to go to a public address, not to a special range (loopback, link-local, CGNAT, documentation, broadcast, multicast), which rendered \"any public address\" rules leave out; Goldmane reports link-local addresses such as the metadata service 169.254.169.254 as pub")
	if c.family != 0 {
		c.rep.Assumptions = append(c.rep.Assumptions, fmt.Sprintf("addresses without an IP are IPv%d: the profile's pod networks (networks.pods) are all IPv%d", c.family, c.family))
	}
	if c.rep.Staged > 0 {
		c.rep.Assumptions = append(c.rep.Assumptions, fmt.Sprintf("%d staged policies are evaluated as if promoted (stagedAction Set/Learn replaces the enforced policy of the same name, Delete removes it)", c.rep.Staged))
	}
	for _, w := range ev.MissingTiers {
		c.rep.Assumptions = append(c.rep.Assumptions, fmt.Sprintf("tier %q has no Tier object in the set: evaluated after every other tier with defaultAction Deny, as Felix does", w))
	}
	for _, p := range ev.Skipped {
		c.rep.Assumptions = append(c.rep.Assumptions, fmt.Sprintf("%s is preDNAT or doNotTrack and not evaluated", p.Ref()))
	}
	return c, nil
}

// singleFamily returns 4 or 6 when every prefix has that family, else 0.
func singleFamily(ps []netip.Prefix) int {
	fam := 0
	for _, p := range ps {
		f := 6
		if p.Addr().Is4() {
			f = 4
		}
		if fam != 0 && fam != f {
			return 0
		}
		fam = f
	}
	return fam
}

// Add evaluates one flow record; records are indexed in the order added.
func (c *Checker) Add(f *flows.Flow) {
	e := evaluated{f: *f}
	c.evaluate(&e)
	c.commit(&e)
}

// evaluated is a flow record with its result: evaluate fills it (any
// goroutine: it only reads the Checker), commit counts it (in record
// order).
type evaluated struct {
	f   flows.Flow
	res FlowResult
	key groupKey
}

// evaluate computes a record's verdict, status and group key.
func (c *Checker) evaluate(e *evaluated) {
	f := &e.f
	pf := policy.FromFlow(f)
	res := FlowResult{Observed: f.Action}
	if f.Origin == flows.OriginPacketLog && f.Source.Type == flows.EndpointWorkload && f.Source.Namespace == "" {
		// A LOG line from a pod interface no pod listing knows: which
		// policies select its pod is unknown (attribution never guesses).
		res.Verdict = VerdictUnknown
		res.Why = "the packet-log line's source interface matches no listed pod (give the pods with --pods), so the policies that select it are unknown"
		res.Status = statusOf(f.Action, res.Verdict)
		e.res = res
		e.key = groupKeyOf(f, &e.res)
		return
	}
	if addrs := c.dnsAssumed(&pf); len(addrs) > 0 {
		res.DNS, res.DNSAddrs = true, addrs
		c.evaluateDNS(&res, pf, addrs)
	} else {
		v := c.ev.Evaluate(pf).Pending
		setVerdict(&res, v)
		if res.Verdict == VerdictUnknown && !pf.Dst.IP.IsValid() && pf.Dst.Class != policy.NetClassNone && res.Egress.Missing&policy.MissingClassPart != 0 {
			res.Why += fmt.Sprintf("; the flow log gives no destination IP, only the class %q", pf.Dst.Class.String())
		}
	}
	res.Status = statusOf(f.Action, res.Verdict)
	e.res = res
	e.key = groupKeyOf(f, &e.res)
}

// statusOf compares what was observed with the verdict.
func statusOf(observed flows.Action, verdict string) string {
	switch observed {
	case flows.ActionAllow:
		switch verdict {
		case VerdictDeny:
			return StatusWouldDeny
		case VerdictUnknown:
			return StatusUnknown
		}
	case flows.ActionDeny:
		switch verdict {
		case VerdictAllow:
			return StatusNewlyAllowed
		case VerdictUnknown:
			return StatusUnknown
		}
	default:
		if verdict == VerdictUnknown {
			return StatusUnknown
		}
	}
	return StatusOK
}

// commit gives an evaluated record its index and counts it.
func (c *Checker) commit(e *evaluated) {
	f, res := &e.f, &e.res
	idx := c.rep.counts.flows
	c.rep.counts.flows++
	res.Index = idx
	if f.Source.Type == flows.EndpointWorkload && f.Source.Namespace != "" {
		c.seeWorkload(f)
	}
	for _, ip := range []netip.Addr{f.Source.IP, f.Dest.IP} {
		if ip.IsValid() {
			c.observed[ip.Unmap()] = true
		}
	}
	res.group = c.group(e.key, f, res)
	cn := &c.rep.counts
	switch f.Action {
	case flows.ActionAllow:
		cn.observedAllowed++
	case flows.ActionDeny:
		cn.observedDenied++
	}
	cn.status[res.Status]++
	if res.Status != StatusOK {
		c.rep.indexes[res.Status] = append(c.rep.indexes[res.Status], idx)
	}
	if res.DNS {
		cn.dnsAssumed++
		c.rep.indexes["dns"] = append(c.rep.indexes["dns"], idx)
	}
	if c.cfg.KeepFlows {
		c.rep.Flows = append(c.rep.Flows, *res)
	}
}

func (c *Checker) seeWorkload(f *flows.Flow) {
	ns := f.Source.Namespace
	m := c.workloads[ns]
	if m == nil {
		m = map[string]*workloadSeen{}
		c.workloads[ns] = m
	}
	name := f.Source.NameAggr
	if name == "" {
		name = f.Source.Name
	}
	w := m[name]
	if w == nil {
		w = &workloadSeen{labels: append([]string(nil), f.Source.Labels...)}
		m[name] = w
	}
	w.records++
}

// dnsAssumed returns the DNS listeners a port-53 flow to a bare pub/pvt
// network stands for under dns.assumeNetworkPort53IsDNS: those of the
// flow's class (all of them when none is).
func (c *Checker) dnsAssumed(f *policy.Flow) []netip.Addr {
	d := &c.prof.DNS
	if !d.AssumeNetworkPort53IsDNS || f.Dst.Kind != policy.EndpointNetwork || f.Dst.IP.IsValid() ||
		(f.Proto != policy.ProtoUDP && f.Proto != policy.ProtoTCP) || f.DstPort != d.Port {
		return nil
	}
	var addrs []netip.Addr
	switch f.Dst.Class {
	case policy.NetClassPublic:
		addrs = c.dnsPub
	case policy.NetClassPrivate:
		addrs = c.dnsPvt
	default:
		return nil
	}
	if len(addrs) == 0 {
		addrs = append(append([]netip.Addr(nil), c.dnsPvt...), c.dnsPub...)
	}
	return addrs
}

// evaluateDNS evaluates the flow once per DNS listener; the verdict is
// theirs when they agree and unknown when they do not.
func (c *Checker) evaluateDNS(res *FlowResult, pf policy.Flow, addrs []netip.Addr) {
	var verdicts []string
	same := true
	for i, a := range addrs {
		pf.Dst.IP = a
		var r FlowResult
		setVerdict(&r, c.ev.Evaluate(pf).Pending)
		if i == 0 {
			res.Verdict, res.Egress, res.Ingress, res.Deciding, res.Why = r.Verdict, r.Egress, r.Ingress, r.Deciding, r.Why
		} else if r.Verdict != res.Verdict {
			same = false
		}
		verdicts = append(verdicts, a.String()+" "+r.Verdict)
	}
	if !same {
		res.Verdict = VerdictUnknown
		res.Why = "the DNS listeners the flow may have gone to get different verdicts: " + strings.Join(verdicts, ", ")
	}
}

// setVerdict turns an evaluator verdict into a flow verdict: deny when a
// direction certainly denies, unknown when a direction cannot be decided,
// allow otherwise.
func setVerdict(res *FlowResult, v policy.Verdict) {
	res.Egress, res.Ingress = v.Egress, v.Ingress
	dirs := []struct {
		name string
		d    *policy.Decision
	}{{"egress", &res.Egress}, {"ingress", &res.Ingress}}
	for _, x := range dirs {
		if x.d.Evaluated && x.d.Action == policy.ActionDeny && x.d.Certain() {
			res.Verdict, res.Deciding = VerdictDeny, x.name
			return
		}
	}
	for _, x := range dirs {
		if x.d.Evaluated && !x.d.Certain() {
			res.Verdict, res.Deciding = VerdictUnknown, x.name
			res.Why = x.name + ": " + Unknown(x.d, x.name == "egress")
			return
		}
	}
	res.Verdict = VerdictAllow
	switch {
	case res.Egress.Evaluated:
		res.Deciding = "egress"
	case res.Ingress.Evaluated:
		res.Deciding = "ingress"
	}
}

// Unknown explains why an Incomplete decision of a direction cannot be
// trusted.
func Unknown(d *policy.Decision, egress bool) string {
	var b strings.Builder
	if d.UnknownPolicy != nil {
		fmt.Fprintf(&b, "rule %d (%s) of %s in tier %s", d.UnknownRule, d.UnknownPolicy.RuleAction(egress, int(d.UnknownRule)), d.UnknownPolicy.Ref(), d.UnknownPolicy.Tier)
	} else {
		fmt.Fprintf(&b, "rule %d of profile %s", d.UnknownRule, d.Profile)
	}
	b.WriteString(" could not be decided (")
	b.WriteString(d.Missing.String())
	b.WriteString("), so the verdict is open")
	return b.String()
}

// groupKey is what makes records one group in the report.
func groupKeyOf(f *flows.Flow, res *FlowResult) groupKey {
	k := groupKey{status: res.Status, verdict: res.Verdict, src: describe(&f.Source, false), dst: describe(&f.Dest, true),
		port: portOf(f), deciding: res.Deciding, why: res.Why, dns: res.DNS}
	if d := res.Decision(); d != nil {
		k.tier, k.rule = d.Tier, d.RuleIndex
		if d.Policy != nil {
			k.policy = d.Policy.Ref()
		} else {
			k.policy = "profile " + d.Profile
		}
	}
	return k
}

func (c *Checker) group(k groupKey, f *flows.Flow, res *FlowResult) int {
	gi, ok := c.groups[k]
	if !ok {
		gi = len(c.rep.Groups)
		c.groups[k] = gi
		g := &Group{Status: res.Status, Verdict: res.Verdict, Source: k.src, Dest: k.dst, Port: k.port,
			Deciding: res.Deciding, Why: res.Why, DNS: res.DNS, DNSAddrs: res.DNSAddrs}
		if d := res.Decision(); d != nil {
			g.Decision = *d
		}
		c.rep.Groups = append(c.rep.Groups, g)
	}
	g := c.rep.Groups[gi]
	g.Records++
	g.Flows += max(f.NumFlows, 1)
	if f.End > g.LastSeen {
		g.LastSeen = f.End
	}
	if len(g.Indexes) < 5 {
		g.Indexes = append(g.Indexes, res.Index)
	}
	return gi
}

func describe(e *flows.Endpoint, dst bool) string {
	name := e.NameAggr
	if name == "" {
		name = e.Name
	}
	var s string
	switch e.Type {
	case flows.EndpointWorkload:
		s = e.Namespace + "/" + name
	case flows.EndpointHost:
		s = "host " + name
	case flows.EndpointNetworkSet:
		if e.Namespace != "" {
			s = "networkset " + e.Namespace + "/" + name
		} else {
			s = "globalnetworkset " + name
		}
	case flows.EndpointNetwork:
		s = "net " + name
	default:
		s = "? " + name
	}
	if e.IP.IsValid() {
		s += " " + e.IP.Unmap().String()
	}
	return s
}

func portOf(f *flows.Flow) string {
	p := f.Proto.CalicoName()
	if f.Proto == 0 {
		p = "?"
	}
	if f.Proto.HasPorts() {
		if f.Dest.Port == 0 {
			return p + "/?"
		}
		return fmt.Sprintf("%s/%d", p, f.Dest.Port)
	}
	return p
}

// Run decodes every input in order, evaluates each valid record (on
// cfg.Workers goroutines, counted in input order), runs the probes and
// summarises. pf is the loaded policy set with
// its problems. An unreadable input is an error; bad records are skipped
// and counted.
func Run(ctx context.Context, pf *policyfile.Result, inputs []flows.Input, cfg Config) (*Report, error) {
	c, err := New(pf.Set, pf.Docs, cfg)
	if err != nil {
		return nil, err
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	p := c.newPipeline(workers)
	emit := func(_ int, f *flows.Flow) error {
		p.add(f)
		return nil
	}
	for i := range cfg.Replay {
		f := cfg.Replay[i]
		p.add(&f)
	}
	for _, in := range inputs {
		var st flows.Stats
		var err error
		if in.Stdin && cfg.Stdin != nil {
			st, err = flows.Decode(ctx, flows.Decompress(cfg.Stdin), in.Name, flows.Options{Workers: 1, Packets: cfg.Packets}, emit)
		} else {
			st, err = flows.DecodeInput(ctx, in, flows.Options{Workers: 1, Packets: cfg.Packets}, emit)
		}
		c.rep.Decode.Merge(st)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("%s: %w", in.Name, err)
		}
	}
	p.close()
	rep := c.Finish()
	rep.Files = pf.Files
	rep.Problems = pf.Problems
	rep.summarize(cfg.Strict)
	return rep, nil
}

// pipeline evaluates records on worker goroutines while the caller decodes
// them, and commits them in the order they were added: the report is the
// one Add would give record by record. Batches circulate through a fixed
// pool, so memory does not grow with the input.
type pipeline struct {
	c         *Checker
	work      chan *batch
	done      chan *batch
	free      chan *batch
	cur       *batch
	seq       int
	wg        sync.WaitGroup
	committed chan struct{}
}

type batch struct {
	seq   int
	n     int
	items []evaluated
}

const batchSize = 512

func (c *Checker) newPipeline(workers int) *pipeline {
	p := &pipeline{c: c, work: make(chan *batch, workers), done: make(chan *batch, workers),
		free: make(chan *batch, 2*workers+2), committed: make(chan struct{})}
	for range cap(p.free) {
		p.free <- &batch{items: make([]evaluated, batchSize)}
	}
	for range workers {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for b := range p.work {
				for i := range b.items[:b.n] {
					c.evaluate(&b.items[i])
				}
				p.done <- b
			}
		}()
	}
	go func() {
		defer close(p.committed)
		next := 0
		pending := map[int]*batch{}
		for b := range p.done {
			pending[b.seq] = b
			for {
				nb, ok := pending[next]
				if !ok {
					break
				}
				delete(pending, next)
				for i := range nb.items[:nb.n] {
					c.commit(&nb.items[i])
				}
				next++
				p.free <- nb
			}
		}
	}()
	return p
}

func (p *pipeline) add(f *flows.Flow) {
	if p.cur == nil {
		p.cur = <-p.free
		p.cur.n, p.cur.seq = 0, p.seq
		p.seq++
	}
	p.cur.items[p.cur.n] = evaluated{f: *f}
	p.cur.n++
	if p.cur.n == batchSize {
		p.work <- p.cur
		p.cur = nil
	}
}

// close evaluates and commits what was added and stops the goroutines.
func (p *pipeline) close() {
	if p.cur != nil && p.cur.n > 0 {
		p.work <- p.cur
	}
	p.cur = nil
	close(p.work)
	p.wg.Wait()
	close(p.done)
	<-p.committed
}

// Finish runs the probes and returns the report (Run also summarises it;
// call Summarize when using a Checker directly).
func (c *Checker) Finish() *Report {
	c.probes()
	sort.SliceStable(c.rep.Groups, func(i, j int) bool {
		return statusRank(c.rep.Groups[i].Status) < statusRank(c.rep.Groups[j].Status)
	})
	if dns := c.rep.counts.dnsAssumed; dns > 0 {
		var addrs []string
		for _, a := range c.prof.DNS.Addresses {
			addrs = append(addrs, a.String())
		}
		c.rep.Assumptions = append(c.rep.Assumptions, fmt.Sprintf("%d flows to port %d of a bare pub/pvt network (no IP recorded) were evaluated as DNS to the profile's listeners %s, those of the flow's class first (dns.assumeNetworkPort53IsDNS)", dns, c.prof.DNS.Port, strings.Join(addrs, ", ")))
	}
	return c.rep
}

// Indexes returns the indexes of the records with a status (StatusWouldDeny,
// StatusNewlyAllowed, StatusUnknown), or "dns" for those evaluated under the
// DNS assumption.
func (r *Report) Indexes(status string) []int { return r.indexes[status] }

// Summarize fills in the summary; strict counts unknown verdicts as
// problems.
func (r *Report) Summarize(strict bool) { r.summarize(strict) }

func statusRank(s string) int {
	switch s {
	case StatusWouldDeny:
		return 0
	case StatusUnknown:
		return 1
	case StatusNewlyAllowed:
		return 2
	}
	return 3
}

func (r *Report) summarize(strict bool) {
	cn := &r.counts
	s := Summary{Flows: cn.flows, Probes: len(r.Probes), PolicyFiles: len(r.Files), Policies: r.Policies, BadRecords: r.Decode.Bad,
		ObservedAllowed: cn.observedAllowed, ObservedDenied: cn.observedDenied, DNSAssumed: cn.dnsAssumed,
		WouldDeny: cn.status[StatusWouldDeny], NewlyAllowed: cn.status[StatusNewlyAllowed], Unknown: cn.status[StatusUnknown]}
	for _, p := range r.Probes {
		switch p.Verdict {
		case VerdictAllow:
			s.ProbesAllowed++
		case VerdictUnknown:
			s.ProbesUnknown++
		}
	}
	for _, p := range r.Problems {
		if p.Warning {
			s.PolicyWarnings++
		} else {
			s.PolicyErrors++
		}
	}
	for _, g := range r.Groups {
		if g.Status == StatusNewlyAllowed && g.AllowAll() {
			s.AllowAll += g.Records
		}
	}
	s.Problems = s.WouldDeny + s.ProbesAllowed + s.AllowAll
	if strict {
		s.Problems += s.Unknown + s.ProbesUnknown
	}
	switch {
	case s.PolicyErrors > 0:
		s.ExitCode, s.Result = ExitError, "error: policy files have errors"
	case s.Problems > 0:
		s.ExitCode, s.Result = ExitProblems, "problems found"
	default:
		s.ExitCode, s.Result = ExitOK, "ok"
	}
	r.Summary = s
}

// managedNamespaces returns the namespaces with a namespaced policy
// labelled app.kubernetes.io/managed-by: calico-plan, and that policy.
func (c *Checker) managedNamespaces() map[string]string {
	out := map[string]string{}
	for _, d := range c.docs {
		for _, o := range d.Objects() {
			if o.Labels[render.ManagedByLabel] != render.ManagedByValue || o.Namespace == "" {
				continue
			}
			switch o.Kind {
			case "NetworkPolicy", "StagedNetworkPolicy", "StagedKubernetesNetworkPolicy":
				if _, ok := out[o.Namespace]; !ok {
					out[o.Namespace] = o.Kind + " " + o.Namespace + "/" + o.Name
				}
			}
		}
	}
	return out
}
