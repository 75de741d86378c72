package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/cluster"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/demo"
	"github.com/calico-plan/calico-plan/internal/fsutil"
	"github.com/calico-plan/calico-plan/internal/output"
)

// generateOpts are generate's flags.
type generateOpts struct {
	opt                                 demo.Options
	out, start, interval, format, since string
	zip, packetLog                      bool
}

func newGenerateCmd(g *globals) *cobra.Command {
	o := &generateOpts{opt: demo.DefaultOptions()}
	opt := &o.opt
	cmd := &cobra.Command{
		Use:   "generate --out DIR [--days N] [--format enterprise|goldmane|goldmane-protojson]",
		Short: "Write a synthetic flow-log dataset to try calico-plan without a cluster",
		Long: `generate writes deterministic synthetic Calico flow logs for a homelab-like
cluster (20 namespaces in five tiers, DNS through NodeLocal DNSCache,
Postgres/Redis/monitoring/Traefik, public HTTPS, a weekly CronJob, denied
flows, a namespace already staged with one would-deny flow, dst-reported
duplicates) plus the Namespace list with tier labels and a cluster snapshot
(namespaces, the weekly CronJob, nodes, a GlobalNetworkSet and the observe
GlobalNetworkPolicy) for 'waves --cluster'. With --packet-log (default) it
also writes kern.log.gz, the kernel LOG lines the observe policy's Log rule
writes for the same traffic (external and node egress of tiers 3-edge and
4-aux), and pods.json, the pod listing that attributes them: with the
Goldmane format this is a Calico OSS cluster's data, whose public rules get
exact addresses. The same input always gives byte-identical files. 'make
demo' uses it.`,
		Example: `  calico-plan generate --out /tmp/demo
  calico-plan observe --store /tmp/demo/allowlists --from /tmp/demo/flows.log.gz --namespace-file /tmp/demo/namespaces.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runGenerate(g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.out, "out", "", "output directory")
	f.IntVar(&opt.Days, "days", opt.Days, "days of traffic")
	f.StringVar(&o.start, "start", opt.Start.Format("2006-01-02"), "first day (UTC)")
	f.StringVar(&o.since, "since", "", "write only the windows from this day on (YYYY-MM-DD): the same traffic as the whole run, so observing it continues an earlier dataset (make demo: flows that arrive after staging)")
	f.StringVar(&o.interval, "interval", "6h", "flow-log window (Calico Enterprise uses 5m, Goldmane 15s; longer keeps files small)")
	f.IntVar(&opt.Replicas, "replicas", 1, "copies of the cluster's namespaces (for load tests)")
	f.StringVar(&o.format, "format", "enterprise", "record format: enterprise (flows.log JSON lines), goldmane (emitter JSON) or goldmane-protojson")
	f.BoolVar(&o.zip, "gzip", true, "gzip the flow file")
	f.BoolVar(&o.packetLog, "packet-log", true, "also write kern.log.gz (the observe policy's kernel LOG lines) and pods.json")
	return cmd
}

func runGenerate(g *globals, o *generateOpts) error {
	opt := &o.opt
	if o.out == "" {
		return fmt.Errorf("--out DIR is required")
	}
	t, err := time.Parse("2006-01-02", o.start)
	if err != nil {
		return fmt.Errorf("--start %q: want YYYY-MM-DD", o.start)
	}
	// Records outside what a flow log can hold would all be bad records to
	// observe (flows.CheckValues).
	if end := t.AddDate(0, 0, opt.Days); t.Unix() < flows.MinTime || end.Unix() >= flows.MaxTime {
		return fmt.Errorf("--start %s: flow logs lie between 2015-01-01 and 2100-01-01", o.start)
	}
	opt.Start = t
	if o.since != "" {
		st, err := time.Parse("2006-01-02", o.since)
		if err != nil {
			return fmt.Errorf("--since %q: want YYYY-MM-DD", o.since)
		}
		opt.Since = st
	}
	iv, err := config.ParseDuration(o.interval)
	if err != nil {
		return fmt.Errorf("--interval: %w", err)
	}
	if iv > time.Duration(flows.MaxSpan)*time.Second {
		return fmt.Errorf("--interval %s: one flow-log record covers at most 2 days", o.interval)
	}
	opt.Interval = iv
	name, files, n, err := generateFiles(o)
	if err != nil {
		return err
	}
	if _, err := fsutil.WriteFiles(o.out, files); err != nil {
		return err
	}
	fmt.Fprintf(g.stderr, "wrote %d flow records to %s, the Namespace list to %s and a cluster snapshot to %s\n", n,
		filepath.Join(o.out, name), filepath.Join(o.out, "namespaces.yaml"), filepath.Join(o.out, "cluster.yaml"))
	return nil
}

// generateFiles makes the dataset's files in memory: the flow file (its
// name first), the Namespace list, the cluster snapshot and, with
// --packet-log, kern.log.gz and pods.json; n is the number of flow records.
func generateFiles(o *generateOpts) (name string, files map[string][]byte, n int, err error) {
	opt, format := o.opt, o.format
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	name = "flows.log"
	if format != "enterprise" {
		name = "goldmane-flows.json"
	}
	if o.zip {
		zw = gzip.NewWriter(&buf)
		zw.ModTime = time.Time{} // deterministic output
		w = zw
		name += ".gz"
	}
	bw := bufio.NewWriter(w)
	var kern bytes.Buffer
	kz := gzip.NewWriter(&kern)
	kz.ModTime = time.Time{}
	var podList []byte
	gen := func(emit func(*flows.Flow) error) error {
		if !o.packetLog {
			return demo.Generate(opt, emit)
		}
		var err error
		podList, err = demo.PacketLog(opt, kz, emit)
		return err
	}
	err = gen(func(f *flows.Flow) error {
		n++
		switch format {
		case "enterprise":
			return flows.WriteEnterpriseJSON(bw, f)
		case "goldmane":
			return flows.WriteGoldmaneJSON(bw, f, false)
		case "goldmane-protojson":
			return flows.WriteGoldmaneJSON(bw, f, true)
		}
		return fmt.Errorf("unknown --format %q (want enterprise, goldmane or goldmane-protojson)", format)
	})
	if err != nil {
		return "", nil, 0, err
	}
	if err := bw.Flush(); err != nil {
		return "", nil, 0, err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return "", nil, 0, err
		}
	}
	var nsBuf bytes.Buffer
	if err := output.WriteYAML(&nsBuf, namespaceList(opt)); err != nil {
		return "", nil, 0, err
	}
	snap, err := cluster.MarshalSnapshot(demo.Cluster(opt))
	if err != nil {
		return "", nil, 0, err
	}
	files = map[string][]byte{name: buf.Bytes(), "namespaces.yaml": nsBuf.Bytes(), "cluster.yaml": snap}
	if o.packetLog {
		if err := kz.Close(); err != nil {
			return "", nil, 0, err
		}
		files["kern.log.gz"], files["pods.json"] = kern.Bytes(), podList
	}
	return name, files, n, nil
}

type nsList struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Items      []nsItem `yaml:"items"`
}

type nsItem struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
}

func namespaceList(opt demo.Options) nsList {
	l := nsList{APIVersion: "v1", Kind: "NamespaceList"}
	for _, n := range demo.Namespaces(opt) {
		it := nsItem{APIVersion: "v1", Kind: "Namespace"}
		it.Metadata.Name, it.Metadata.Labels = n.Name, n.Labels
		l.Items = append(l.Items, it)
	}
	return l
}
