package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// flagGroup is a section of a command's flags in its help.
type flagGroup struct {
	title string
	match func(name string) bool
}

func prefixed(prefix string, names ...string) func(string) bool {
	return func(n string) bool {
		if prefix != "" && strings.HasPrefix(n, prefix) {
			return true
		}
		for _, x := range names {
			if n == x {
				return true
			}
		}
		return false
	}
}

// observeFlagGroups sorts observe's flags by source, so that --help shows
// what belongs to --es, --goldmane or --loki together.
var observeFlagGroups = []flagGroup{
	{"Files and packet logs (--from)", prefixed("", "from", "pods", "pods-kube", "felix-config", "strict", "workers", "dry-run")},
	{"Elasticsearch: Calico Enterprise and Calico Cloud (--es)", prefixed("es", "es")},
	{"Goldmane: Calico OSS 3.30+ (--goldmane, --goldmane-kube)", prefixed("goldmane", "follow", "checkpoint")},
	{"Loki: packet-log lines (--loki)", prefixed("loki", "loki")},
	{"Time window of Elasticsearch, Goldmane and Loki", prefixed("", "since", "start-time", "end-time", "allow-partial")},
	{"Cluster facts (tiers from namespace labels; kubeconfig for --goldmane-kube, --pods-kube)", prefixed("", "namespace-file", "cluster", "kubeconfig", "context")},
}

// groupFlagsInHelp replaces the single Flags: list of cmd's help with the
// groups (flags no group matches are listed last, under Other flags).
func groupFlagsInHelp(cmd *cobra.Command, groups []flagGroup) {
	cmd.SetUsageFunc(func(c *cobra.Command) error {
		w := c.OutOrStderr()
		fmt.Fprintf(w, "Usage:\n  %s\n", c.UseLine())
		if c.Example != "" {
			fmt.Fprintf(w, "\nExamples:\n%s\n", c.Example)
		}
		sets := make([]*pflag.FlagSet, len(groups)+1)
		for i := range sets {
			sets[i] = pflag.NewFlagSet("", pflag.ContinueOnError)
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			for i, g := range groups {
				if g.match(f.Name) {
					sets[i].AddFlag(f)
					return
				}
			}
			sets[len(groups)].AddFlag(f)
		})
		for i, s := range sets {
			if !s.HasAvailableFlags() {
				continue
			}
			title := "Other flags"
			if i < len(groups) {
				title = groups[i].title
			}
			fmt.Fprintf(w, "\n%s:\n%s", title, s.FlagUsages())
		}
		if c.HasAvailableInheritedFlags() {
			fmt.Fprintf(w, "\nGlobal Flags:\n%s", c.InheritedFlags().FlagUsages())
		}
		return nil
	})
}
