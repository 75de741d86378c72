package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/kube"
)

// clusterFlags are the flags of every command that needs cluster facts.
type clusterFlags struct {
	cluster    string
	namespaces string
	kubeconfig string
	context    string
}

// clusterFlagsHelp is appended to the Long help of commands that take them.
const clusterFlagsHelp = `

Cluster facts (namespace labels for tiers, CronJobs for the gates, nodes,
existing policies) come from, in this order:
  --cluster FILE     a snapshot written by 'calico-plan snapshot' (CI without
                     cluster access works from a committed one)
  --namespace-file FILE
                     'kubectl get ns -o yaml' output: tiers only; CronJob gates
                     then count as unmet ("no CronJob facts")
  a live cluster     --kubeconfig/--context, KUBECONFIG, ~/.kube/config or the
                     in-cluster service account (read-only: list namespaces,
                     cronjobs, nodes, networkpolicies and the Calico kinds)
  nothing            tiers as the store recorded them; CronJob gates unmet`

func (c *clusterFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.cluster, "cluster", "", "cluster snapshot file (from 'calico-plan snapshot') instead of a live cluster")
	f.StringVar(&c.namespaces, "namespace-file", "", "Namespace list (kubectl get ns -o yaml) when only tiers are needed")
	deprecatedAlias(cmd, "namespace-file", "namespaces")
	c.registerLive(cmd)
}

// namespaceLabels returns the namespaces' labels for the commands that
// only need those (check, diff): from --cluster or --namespace-file, or
// from a live cluster only when --kubeconfig or --context is given, so
// that a CI run never depends on whichever kubeconfig the machine has.
func (c *clusterFlags) namespaceLabels(ctx context.Context) (cluster.NamespaceLabels, error) {
	if c.cluster != "" || c.namespaces != "" {
		return loadNamespaceLabels(c.cluster, c.namespaces)
	}
	if c.kubeconfig == "" && c.context == "" {
		return nil, nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	f, err := c.readLive(ctx)
	if err != nil {
		return nil, err
	}
	return f.NamespaceLabels(), nil
}

func (c *clusterFlags) registerLive(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig file (default: KUBECONFIG, then ~/.kube/config, then in-cluster)")
	f.StringVar(&c.context, "context", "", "kubeconfig context (default: the current context)")
}

// String renders the flags given, for commands printed as next steps.
func (c *clusterFlags) String() string {
	s := ""
	for _, f := range [][2]string{{"--cluster", c.cluster}, {"--namespace-file", c.namespaces}, {"--kubeconfig", c.kubeconfig}, {"--context", c.context}} {
		if f[1] != "" {
			s += " " + f[0] + " " + f[1]
		}
	}
	return s
}

// newClusterClients builds live clients; tests replace it with fakes.
var newClusterClients = func(kubeconfig, context string) (cluster.Clients, error) {
	cfg, err := kube.RESTConfig(kubeconfig, context)
	if err != nil {
		return cluster.Clients{}, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	return cluster.NewClients(cfg)
}

// liveAvailable reports whether a live cluster is configured: a flag,
// KUBECONFIG, ~/.kube/config, or the in-cluster service account.
func (c *clusterFlags) liveAvailable() bool {
	if c.kubeconfig != "" || c.context != "" || os.Getenv("KUBECONFIG") != "" {
		return true
	}
	if os.Getenv("KUBERNETES_SERVICE_HOST") != "" && os.Getenv("KUBERNETES_SERVICE_PORT") != "" {
		return true
	}
	_, err := os.Stat(clientcmd.RecommendedHomeFile)
	return err == nil
}

// readLive reads the facts from the live cluster.
func (c *clusterFlags) readLive(ctx context.Context) (*cluster.Facts, error) {
	cl, err := newClusterClients(c.kubeconfig, c.context)
	if err != nil {
		return nil, err
	}
	return cluster.Read(ctx, cl)
}

// load returns the cluster facts in the documented order, or nil when
// none are configured. Warnings (resources that could not be read) go to
// stderr; the gates that need them count as unmet.
func (c *clusterFlags) load(ctx context.Context, g *globals) (*cluster.Facts, error) {
	var f *cluster.Facts
	var err error
	switch {
	case c.cluster != "" && c.namespaces != "":
		return nil, fmt.Errorf("give --cluster FILE or --namespace-file FILE, not both (a snapshot already has the namespaces)")
	case c.cluster != "":
		f, err = cluster.LoadSnapshot(c.cluster)
	case c.namespaces != "":
		var nl cluster.NamespaceLabels
		if nl, err = cluster.LoadNamespacesFile(c.namespaces); err == nil {
			f = cluster.FromNamespaceLabels(nl, "namespaces "+c.namespaces)
		}
	case c.liveAvailable():
		f, err = c.readLive(ctx)
	default:
		fmt.Fprintln(g.stderr, "note: no cluster facts (no --cluster, --namespace-file or kubeconfig): tiers come from the store and CronJob gates count as unmet")
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for _, m := range f.Missing {
		if m.Reason == cluster.NamespacesOnly {
			continue // expected with a Namespace list; the CronJob line says it
		}
		fmt.Fprintf(g.stderr, "warning: could not check %s: %s (%s)\n", m.Resource, m.Reason, m.Affects)
	}
	return f, nil
}

// byName is --by's default: the login name.
func byName() string {
	for _, v := range []string{"USER", "USERNAME", "LOGNAME"} {
		if s := os.Getenv(v); s != "" {
			return s
		}
	}
	return ""
}

// wallOrNow returns --now as a time, or the wall clock.
func wallOrNow(s string) (int64, error) {
	t, err := parseNow(s)
	if err != nil {
		return 0, err
	}
	if t == 0 {
		return time.Now().Unix(), nil
	}
	return int64(t), nil
}
