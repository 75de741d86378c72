package check

// An independent evaluator: np-guard netpol-analyzer (Apache-2.0, a Go
// module used only by this test) reads the rendered k8s flavor the way
// `netpolicy list --dirpath` does (its own manifest reader, from the files
// on disk) together with the cluster's Namespaces and pods synthesized from
// the flows' workloads and labels, and decides every observed flow that
// has an address. It must agree with check on each of them, and allow
// every flow that was observed allowed; check's effectiveness probes must
// get the same verdicts from it.
//
// np-guard is a test dependency of the main module: it resolves with the
// project's k8s.io versions (it requires k8s.io/* v0.32, the module graph
// keeps v0.34.1; k8s.io/cli-runtime, which only np-guard uses, is pinned at
// v0.34.1 too, as np-guard itself moved to), and no non-test package
// imports it, so the calico-plan binary does not link it.

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/np-guard/netpol-analyzer/pkg/manifests/fsscanner"
	"github.com/np-guard/netpol-analyzer/pkg/manifests/parser"
	"github.com/np-guard/netpol-analyzer/pkg/netpol/eval"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/check/policyfile"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/demo"
	"github.com/calico-plan/calico-plan/internal/observe"
	"github.com/calico-plan/calico-plan/internal/sharedtest"
	"github.com/calico-plan/calico-plan/render"
)

// npGuardLogger sends np-guard's warnings and errors to the test log.
type npGuardLogger struct{ t testing.TB }

func (l npGuardLogger) Debugf(string, ...any) {}
func (l npGuardLogger) Infof(string, ...any)  {}
func (l npGuardLogger) Warnf(format string, o ...any) {
	l.t.Logf("np-guard warning: "+format, o...)
}
func (l npGuardLogger) Errorf(err error, format string, o ...any) {
	l.t.Logf("np-guard error: %v: "+format, append([]any{err}, o...)...)
}

// demoCluster is what `calico-plan generate` writes: a flow log, the
// Namespace list and a cluster snapshot.
type demoCluster struct {
	flows, namespaces string
	facts             *cluster.Facts
}

// committedDemo is testdata/demo, the dataset `make demo` uses.
func committedDemo(t *testing.T) demoCluster {
	root, err := sharedtest.ModuleRoot()
	require.NoError(t, err)
	dir := filepath.Join(root, "testdata", "demo")
	facts, err := cluster.LoadSnapshot(filepath.Join(dir, "cluster.yaml"))
	require.NoError(t, err)
	return demoCluster{flows: filepath.Join(dir, "flows.log.gz"), namespaces: filepath.Join(dir, "namespaces.yaml"), facts: facts}
}

// generatedDemo writes a generated dataset as `calico-plan generate` does.
func generatedDemo(t *testing.T, opt demo.Options) demoCluster {
	dir := t.TempDir()
	var buf bytes.Buffer
	require.NoError(t, demo.Generate(opt, func(f *flows.Flow) error { return flows.WriteEnterpriseJSON(&buf, f) }))
	c := demoCluster{flows: filepath.Join(dir, "flows.log"), namespaces: filepath.Join(dir, "namespaces.yaml"), facts: demo.Cluster(opt)}
	require.NoError(t, os.WriteFile(c.flows, buf.Bytes(), 0o644))
	var items []corev1.Namespace
	for _, n := range demo.Namespaces(opt) {
		items = append(items, corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: n.Labels}})
	}
	writeYAML(t, c.namespaces, &corev1.NamespaceList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "NamespaceList"}, Items: items})
	return c
}

func writeYAML(t *testing.T, path string, objs ...any) {
	var b bytes.Buffer
	for _, o := range objs {
		y, err := yaml.Marshal(o)
		require.NoError(t, err)
		b.WriteString("---\n")
		b.Write(y)
	}
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
}

// pods synthesizes one pod per distinct (namespace, workload, labels) of
// the flows; distinct label sets of one workload are distinct pods.
type pods struct {
	byKey map[string]*corev1.Pod
	names map[string]int // namespace/base name -> variants
}

func (p *pods) key(ns, workload string, labels map[string]string) string {
	ks := make([]string, 0, len(labels))
	for k, v := range labels {
		ks = append(ks, k+"="+v)
	}
	sort.Strings(ks)
	return ns + "/" + workload + "|" + strings.Join(ks, ",")
}

// pod returns "namespace/name" of the pod standing for a workload.
func (p *pods) pod(ns, workload string, labels map[string]string) string {
	k := p.key(ns, workload, labels)
	if pod := p.byKey[k]; pod != nil {
		return pod.Namespace + "/" + pod.Name
	}
	base := strings.TrimSuffix(strings.TrimSuffix(workload, "*"), "-")
	if base == "" {
		base = "pod"
	}
	name := base
	if n := p.names[ns+"/"+base]; n > 0 {
		name = fmt.Sprintf("%s-v%d", base, n+1)
	}
	p.names[ns+"/"+base]++
	pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}}
	p.byKey[k] = pod
	return ns + "/" + name
}

func labelMap(ls []string) map[string]string {
	m := map[string]string{}
	for _, l := range ls {
		k, v, _ := strings.Cut(l, "=")
		m[k] = v
	}
	return m
}

func flowWorkload(e *flows.Endpoint) string {
	if e.NameAggr != "" && e.NameAggr != "-" {
		return e.NameAggr
	}
	return e.Name
}

// npGuardComparison tallies one cluster's comparison.
type npGuardComparison struct {
	compared, denied, observedAllowed, dns, probes int
	notCompared                                    map[string]int
	disagreements                                  []string
}

func (c *npGuardComparison) disagree(format string, args ...any) {
	if len(c.disagreements) < 20 {
		c.disagreements = append(c.disagreements, fmt.Sprintf(format, args...))
	}
}

// compareWithNPGuard observes the cluster's flows into a store, renders the
// k8s flavor of every namespace the profile does not exclude (network sets
// from the snapshot, as render --rollout does), runs check on the flows,
// and asks np-guard about every flow with an address and every probe.
func compareWithNPGuard(t *testing.T, c demoCluster) *npGuardComparison {
	ctx := context.Background()
	p := config.Default()
	// `calico-plan observe`, then a fresh open of the saved store, as
	// `calico-plan render` reads it.
	storeDir := t.TempDir()
	st, err := allowlist.Open(storeDir, p)
	require.NoError(t, err)
	_, err = observe.Files(ctx, st, observe.FileOptions{Paths: []string{c.flows}, Workers: 1})
	require.NoError(t, err)
	require.NoError(t, st.Save())
	st, err = allowlist.Open(storeDir, p)
	require.NoError(t, err)

	// The rendered k8s flavor, one file per namespace.
	policies := filepath.Join(t.TempDir(), "policies")
	require.NoError(t, os.MkdirAll(policies, 0o755))
	facts := &render.Facts{NodeIPs: c.facts.NodeIPs(), NetworkSetNets: c.facts.NetworkSetNets()}
	rendered := 0
	for _, n := range st.Namespaces() {
		if p.Excluded(n.Namespace) {
			continue
		}
		pol, err := render.Namespace(n, render.Options{Flavor: render.FlavorK8s, Profile: p, Facts: facts, Source: n.Namespace + ".yaml"})
		require.NoError(t, err, n.Namespace)
		var b bytes.Buffer
		require.NoError(t, render.EncodeYAML(&b, render.Header(n.Namespace+".yaml"), pol.Objects...))
		require.NoError(t, os.WriteFile(filepath.Join(policies, n.Namespace+".yaml"), b.Bytes(), 0o644))
		rendered++
	}
	require.Positive(t, rendered)

	// check, as `calico-plan check --policies DIR --flows FILE --cluster SNAPSHOT`.
	pf := policyfile.Load([]string{policies}, nil)
	require.Empty(t, pf.Problems)
	ins, err := flows.ExpandInputs([]string{c.flows})
	require.NoError(t, err)
	rep, err := Run(ctx, pf, ins, Config{Profile: p, NamespaceLabels: c.facts.NamespaceLabels(), KeepFlows: true})
	require.NoError(t, err)
	var recs []flows.Flow
	for _, in := range ins {
		_, err := flows.DecodeInput(ctx, in, flows.Options{Workers: 1}, func(_ int, f *flows.Flow) error {
			recs = append(recs, *f)
			return nil
		})
		require.NoError(t, err)
	}
	require.Len(t, rep.Flows, len(recs), "check evaluated every record, in order")

	// The topology np-guard sees: the Namespace list, a namespace for the
	// pod probe, and a pod per workload.
	topo := t.TempDir()
	ps := &pods{byKey: map[string]*corev1.Pod{}, names: map[string]int{}}
	type query struct {
		src, dst string
		proto    string
		port     int
	}
	queries := make([]*query, len(recs))
	out := &npGuardComparison{notCompared: map[string]int{}}
	endpoint := func(e *flows.Endpoint) (string, string) {
		if e.Type == flows.EndpointWorkload && e.Namespace != "" {
			return ps.pod(e.Namespace, flowWorkload(e), labelMap(e.Labels)), ""
		}
		if e.IP.IsValid() {
			return e.IP.Unmap().String(), ""
		}
		return "", "no address (a " + e.Type.String() + " endpoint without an IP)"
	}
	for i := range recs {
		f := &recs[i]
		var name string
		switch f.Proto {
		case flows.ProtoTCP, flows.ProtoUDP, flows.ProtoSCTP:
			name = f.Proto.CalicoName()
		default:
			out.notCompared["protocol "+f.Proto.CalicoName()+" (a Kubernetes NetworkPolicy names TCP, UDP and SCTP only)"]++
			continue
		}
		if f.Dest.Port == 0 {
			out.notCompared["no destination port"]++
			continue
		}
		src, why := endpoint(&f.Source)
		if why != "" {
			out.notCompared["source: "+why]++
			continue
		}
		dst, why := endpoint(&f.Dest)
		if why != "" && !rep.Flows[i].DNS {
			out.notCompared["destination: "+why]++
			continue
		}
		queries[i] = &query{src: src, dst: dst, proto: name, port: int(f.Dest.Port)}
	}
	probeNS := ProbeNamespace
	probePod := probeNS + "/probe"
	var objs []any
	objs = append(objs, &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: probeNS, Labels: map[string]string{"kubernetes.io/metadata.name": probeNS}}})
	objs = append(objs, &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: probeNS}})
	probeSrc := make([]string, len(rep.Probes))
	for i, pr := range rep.Probes {
		probeSrc[i] = ps.pod(pr.Namespace, pr.Workload, pr.Labels)
	}
	keys := make([]string, 0, len(ps.byKey))
	for k := range ps.byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		objs = append(objs, ps.byKey[k])
	}
	writeYAML(t, filepath.Join(topo, "pods.yaml"), objs...)
	nsData, err := os.ReadFile(c.namespaces)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(topo, "namespaces.yaml"), nsData, 0o644))

	// np-guard reads the rendered files and the topology with its own
	// manifest reader, as `netpolicy list --dirpath` does.
	log := npGuardLogger{t}
	infos, errs := fsscanner.GetResourceInfosFromDirPath([]string{policies, topo}, true, false)
	require.Empty(t, errs)
	objects, fpErrs := parser.ResourceInfoListToK8sObjectsList(infos, log, false)
	for i := range fpErrs {
		require.False(t, fpErrs[i].IsSevere() || fpErrs[i].IsFatal(), "np-guard cannot read the manifests: %v", fpErrs[i].Error())
	}
	netpols := 0
	for _, o := range objects {
		if o.Kind == parser.NetworkPolicy {
			netpols++
		}
	}
	require.Equal(t, rendered, netpols, "np-guard read every rendered NetworkPolicy")
	pe, err := eval.NewPolicyEngineWithOptionsList(eval.WithLogger(log), eval.WithObjectsList(objects))
	require.NoError(t, err)
	allowed := func(src, dst, proto string, port int) bool {
		ok, err := pe.CheckIfAllowed(src, dst, proto, strconv.Itoa(port))
		require.NoError(t, err, "%s => %s %s/%d", src, dst, proto, port)
		return ok
	}

	for i, q := range queries {
		if q == nil {
			continue
		}
		f, res := &recs[i], &rep.Flows[i]
		if res.Verdict == VerdictUnknown {
			out.disagree("record %d %s: check cannot decide (%s) a flow np-guard can", i, describeFlow(f), res.Why)
			continue
		}
		want := res.Verdict == VerdictAllow
		dsts := []string{q.dst}
		if res.DNS { // evaluated against each DNS listener
			dsts = dsts[:0]
			for _, a := range res.DNSAddrs {
				dsts = append(dsts, a.String())
			}
			out.dns++
		}
		out.compared++
		for _, dst := range dsts {
			got := allowed(q.src, dst, q.proto, q.port)
			if got != want {
				out.disagree("record %d %s (to %s): check %s (%s), np-guard allowed=%v", i, describeFlow(f), dst, res.Verdict, res.Decision(), got)
			}
			if f.Action == flows.ActionAllow && !got {
				out.disagree("record %d %s (to %s): observed allowed, np-guard denies", i, describeFlow(f), dst)
			}
		}
		if !want {
			out.denied++
		}
		if f.Action == flows.ActionAllow {
			out.observedAllowed++
		}
	}

	// The effectiveness probes: np-guard must decide them as check does.
	for i, pr := range rep.Probes {
		dst := probePod
		if pr.Kind != ProbePod {
			ip, _, ok := strings.Cut(pr.Destination, ":")
			require.True(t, ok, pr.Destination)
			dst = netip.MustParseAddr(ip).String()
		}
		got := allowed(probeSrc[i], dst, "TCP", ProbePort)
		if got != (pr.Verdict == VerdictAllow) {
			out.disagree("probe %s from %s to %s: check %s, np-guard allowed=%v", pr.Kind, probeSrc[i], pr.Destination, pr.Verdict, got)
		}
		out.probes++
	}
	return out
}

func describeFlow(f *flows.Flow) string {
	return fmt.Sprintf("%s/%s -> %s %s %s/%d (observed %s)", f.Source.Namespace, flowWorkload(&f.Source), f.Dest.Type,
		describe(&f.Dest, true), f.Proto.CalicoName(), f.Dest.Port, f.Action)
}

func TestNPGuardAgreesWithCheckOnTheK8sFlavor(t *testing.T) {
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		cluster func(t *testing.T) demoCluster
		// minCompared guards against a comparison that silently shrinks.
		minCompared int
	}{
		{"testdata/demo", committedDemo, 2000},
		{"generated seed 7, 3 replicas, 3 days, 1h windows", func(t *testing.T) demoCluster {
			return generatedDemo(t, demo.Options{Start: start, Days: 3, Interval: time.Hour, Seed: 7, Replicas: 3})
		}, 5000},
		{"generated seed 1234, 2 replicas, 9 days, 3h windows", func(t *testing.T) demoCluster {
			return generatedDemo(t, demo.Options{Start: start.AddDate(0, 5, 0), Days: 9, Interval: 3 * time.Hour, Seed: 1234, Replicas: 2})
		}, 2000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := compareWithNPGuard(t, tc.cluster(t))
			t.Logf("np-guard agrees with check on %d flows with an address (%d denied, %d observed allowed, %d evaluated as DNS to each listener) and %d probes",
				c.compared, c.denied, c.observedAllowed, c.dns, c.probes)
			for why, n := range c.notCompared {
				t.Logf("  not compared: %d flows: %s", n, why)
			}
			require.Empty(t, c.disagreements)
			require.GreaterOrEqual(t, c.compared, tc.minCompared)
			require.Positive(t, c.denied, "some flows are denied, so agreement is not trivial")
			require.Positive(t, c.observedAllowed)
			require.Positive(t, c.probes)
		})
	}
}
