package main

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/fsutil"
	"github.com/calico-plan/calico-plan/internal/output"
	"github.com/calico-plan/calico-plan/internal/pods"
	"github.com/calico-plan/calico-plan/internal/report"
	"github.com/calico-plan/calico-plan/render"
)

// formatHTML is report's self-contained HTML page.
const formatHTML output.Format = "html"

// reportOpts are report's flags.
type reportOpts struct {
	against, flowArgs, clusterPolicies, pods []string
	base, flavor, file, now                  string
	out                                      *outputFlag
	strict                                   bool
	perWave                                  int
	cf                                       clusterFlags
}

func newReportCmd(g *globals) *cobra.Command {
	o := &reportOpts{}
	cmd := &cobra.Command{
		Use:   "report (--base GIT_REF | --policies PATH...) [--from FLOWS...] [--cluster FILE] [-o md|html] [--out FILE]",
		Short: "One pull-request report: diff, check, the egress graph of what changes and the wave plan",
		Long: `report puts what a reviewer needs about a change to the allowlists in one
document:

  diff    what the change does to egress, weighted by observed traffic
          ('calico-plan diff': --base GIT_REF compares the store at the ref
          with the store now, --policies PATH the committed policy files with
          the policies rendered from the store now)
  check   the policies rendered from the store now (every namespace, Stable
          or not, with --flavor; plus --cluster-policies, the cluster's
          other policies) replayed against the recorded flows of --from,
          with the probes ('calico-plan check'); left out without --from
  graph   the egress of the namespaces the diff changes ('calico-plan
          graph'); with --base each edge is marked added, changed (ports) or
          removed
  waves   the rollout plan, the waves holding a changed namespace open and
          marked ('calico-plan waves')

Formats:
  md    one Markdown document for a pull-request comment; the graph is a
        mermaid block the forge draws
  html  one self-contained HTML page (inline CSS, the graph as inline SVG
        with a table of its edges and the Graphviz dot text; no script, no
        external URL) for people outside the forge

--out FILE writes the file atomically instead of standard output.

Exit codes: 0 no changes and no problems; 2 changes, and check found no
problems (or did not run); 3 check found problems (a would-deny flow or a
probe that got through; with --strict also unknown verdicts), whatever the
diff; 1 error (a bad ref, unreadable flows, a committed file that does not
parse, a namespace that cannot be rendered: the report is still written
when there is one).

Cluster facts (namespace labels for the diff's weights, the check's
namespaceSelectors and the waves' tiers; CronJobs for the gates) come from
--cluster FILE or --namespace-file FILE, or from a live cluster only when
--kubeconfig or --context is given: as with check and diff, a CI run never
depends on whichever kubeconfig the machine has.`,
		Example: `  calico-plan report --base origin/main --from flows/ --cluster cluster.yaml -o md > comment.md
  calico-plan report --base origin/main --from flows/ --cluster-policies stacks/calico -o html --out report.html
  calico-plan report --policies policies/ --from flows.log.gz --namespace-file ns.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runReport(cmd, g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.base, "base", "", "git ref of the store to compare the store now with (e.g. origin/main)")
	f.StringArrayVar(&o.against, "policies", nil, "committed policy files or directories (*.yaml, *.yml, *.json, *.tf; repeatable)")
	deprecatedAlias(cmd, "policies", "against")
	f.StringVar(&o.flavor, "flavor", "calico", "flavor the store is rendered with: calico, calico-staged or k8s")
	f.StringArrayVar(&o.flowArgs, "from", nil, "flow-log files, directories or globs to replay (repeatable; none: no check)")
	deprecatedAlias(cmd, "from", "flows")
	f.StringArrayVar(&o.clusterPolicies, "cluster-policies", nil, "the cluster's other policy files or directories, replayed with the rendered ones (repeatable)")
	f.StringArrayVar(&o.pods, "pods", nil, "pod listing (kubectl get pods -A -o json) that packet-log lines in --from are attributed to (repeatable)")
	f.BoolVar(&o.strict, "strict", false, "count unknown verdicts as problems (exit 3)")
	o.out = addOutputFlag(cmd, output.MD, formatHTML)
	f.StringVar(&o.file, "out", "", "write the report to this file (atomically) instead of standard output")
	f.IntVar(&o.perWave, "per-wave", 0, "namespaces per wave (default: the profile's rollout.perWave)")
	f.StringVar(&o.now, "now", "", "judge stability at this time (RFC 3339 or YYYY-MM-DD) instead of the newest observed flow")
	o.cf.register(cmd)
	return cmd
}

func runReport(cmd *cobra.Command, g *globals, o *reportOpts) error {
	format, err := o.out.format()
	if err != nil {
		return err
	}
	if (len(o.against) > 0) == (o.base != "") {
		return fmt.Errorf("give --policies PATH (committed policy files) or --base GIT_REF (the store at a commit), not both")
	}
	fl, err := render.ParseFlavor(o.flavor)
	if err != nil {
		return err
	}
	judge, err := parseNow(o.now)
	if err != nil {
		return err
	}
	if o.perWave < 0 {
		return fmt.Errorf("--per-wave must be at least 1")
	}
	st, err := g.openStore()
	if err != nil {
		return err
	}
	// Facts as check and diff take them: never from a kubeconfig the
	// command was not pointed at, so a CI run does not depend on the
	// machine's ~/.kube/config.
	var facts *cluster.Facts
	if cf := &o.cf; cf.cluster != "" || cf.namespaces != "" || cf.kubeconfig != "" || cf.context != "" {
		if facts, err = cf.load(cmd.Context(), g); err != nil {
			return err
		}
	}
	opt := report.Options{Base: o.base, Against: o.against, Flavor: fl, Facts: facts, Policies: o.clusterPolicies, Strict: o.strict,
		Now: judge, PerWave: o.perWave, StoreArgs: g.globalArgs(), ClusterArgs: o.cf.String()}
	if len(o.flowArgs) > 0 {
		if opt.Flows, err = flows.ExpandInputs(o.flowArgs); err != nil {
			return err
		}
		prof := st.Profile()
		pl := prof.PacketLogs
		opt.Packets = &flows.PacketLogOptions{Prefix: pl.Prefix, InterfacePrefix: pl.InterfacePrefix, DedupWindow: pl.DedupWindow.D(),
			PodNets: config.Prefixes(prof.Networks.Pods), ServiceNets: config.Prefixes(prof.Networks.Services)}
		if len(o.pods) > 0 {
			idx := pods.NewIndex(pl.InterfacePrefix)
			for _, p := range o.pods {
				if err := idx.LoadFile(p); err != nil {
					return err
				}
			}
			opt.Packets.Pods = idx
		}
	}
	rep, err := report.Make(cmd.Context(), st, opt)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if format == formatHTML {
		err = report.WriteHTML(&buf, rep)
	} else {
		err = report.WriteMarkdown(&buf, rep)
	}
	if err != nil {
		return err
	}
	if n := utf8.RuneCount(buf.Bytes()); format == output.MD && n > report.CommentLimit {
		fmt.Fprintf(g.stderr, "warning: the report is %d characters, more than a GitHub comment holds (%d): post -o html instead, or split the change\n", n, report.CommentLimit)
	}
	if o.file != "" {
		if err := fsutil.WriteFile(o.file, buf.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(g.stderr, "wrote %s: %s (exit %d)\n", o.file, rep.Result, rep.ExitCode)
	} else if _, err := g.stdout.Write(buf.Bytes()); err != nil {
		return err
	}
	switch rep.ExitCode {
	case report.ExitError:
		return &codeError{code: exitError, err: fmt.Errorf("report: %s (see the report)", rep.Result)}
	case report.ExitProblems:
		return &codeError{code: exitProblems}
	case report.ExitChanges:
		return &codeError{code: exitChanges}
	}
	return nil
}
