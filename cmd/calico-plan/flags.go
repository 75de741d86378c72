package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/output"
)

// The command-line conventions every command follows (cli_consistency_test.go
// walks the command tree and fails on a command that does not):
//
//   - -o/--output: reports accept table (the default), json, yaml and md;
//     status, explain and waves also wide (every column at full length).
//     render writes manifests (yaml, json, hcl) and graph pictures (mermaid,
//     md, dot, json): their vocabularies are their own, and say so.
//   - -n/--namespace NS, repeatable, wherever a command is about namespaces;
//     a name not in the store gets "did you mean".
//   - cluster facts: --cluster FILE, --namespace-file FILE, --kubeconfig and
//     --context together, on every command that reads them.
//   - --dry-run on every command that changes the store.
//   - every duration accepts days (7d) as well as Go durations (36h, 90m).
//   - a renamed flag keeps its old name as a deprecated alias.

// annotationFormats lists the -o values of a command (for the consistency
// test and shell completion).
const annotationFormats = "calico-plan/formats"

// outputFlag is -o/--output.
type outputFlag struct {
	value   string
	allowed []output.Format
}

// addOutputFlag registers -o with the formats a command supports; the
// first is the default.
func addOutputFlag(cmd *cobra.Command, allowed ...output.Format) *outputFlag {
	o := &outputFlag{value: string(allowed[0]), allowed: allowed}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	usage := "output format: " + strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	if slices.Contains(allowed, output.Wide) {
		usage += " (wide: every column at full length)"
	}
	cmd.Flags().StringVarP(&o.value, "output", "o", o.value, usage)
	outputFormats(cmd, names...)
	return o
}

// outputFormats records the -o values of a command that parses -o itself
// (render), for the consistency test and shell completion.
func outputFormats(cmd *cobra.Command, names ...string) {
	fl := cmd.Flags().Lookup("output")
	fl.Annotations = map[string][]string{annotationFormats: names}
	completeWords(cmd, "output", names...)
}

// format validates -o. "text", the old name of check's and diff's table,
// still works.
func (o *outputFlag) format() (output.Format, error) {
	if o.value == string(output.Text) && slices.Contains(o.allowed, output.Table) {
		return output.Table, nil
	}
	return output.Parse(o.value, o.allowed...)
}

// repeatNamespace makes --namespace/-n repeatable on a command written for
// one namespace: the command runs once per namespace, in the order given,
// and stops at the first error. Register it after RunE is set.
func repeatNamespace(cmd *cobra.Command, ns *string, g *globals, usage string) {
	var list []string
	cmd.Flags().StringArrayVarP(&list, "namespace", "n", nil, usage+" (repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("namespace", completeNamespaces(g))
	run := cmd.RunE
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if len(list) == 0 {
			return run(c, args)
		}
		for _, n := range list {
			*ns = n
			if err := run(c, args); err != nil {
				return err
			}
		}
		return nil
	}
}

// completeNamespaces completes namespace names from the store.
func completeNamespaces(g *globals) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		st, err := g.openStore()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return st.Names(), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeWords completes a flag from a fixed list.
func completeWords(cmd *cobra.Command, flag string, words ...string) {
	_ = cmd.RegisterFlagCompletionFunc(flag, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return words, cobra.ShellCompDirectiveNoFileComp
	})
}

// unknownNamespace is the error for a name the store does not have: it
// suggests the closest one and lists those there are.
func unknownNamespace(st *allowlist.Store, name, what string) error {
	names := st.Names()
	msg := fmt.Sprintf("namespace %q %s %s", name, what, st.Dir)
	if s := closest(name, names); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	if len(names) > 0 {
		msg += " (observed namespaces: " + strings.Join(names, ", ") + ")"
	}
	return fmt.Errorf("%s", msg)
}

// closest returns the candidate nearest to s: within an edit distance of
// a third of its length (at least 1), or starting with it; "" if none.
func closest(s string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		d := editDistance(s, c)
		ok := d <= max(1, len([]rune(s))/3) || (len(s) >= 3 && strings.HasPrefix(c, s))
		if ok && (bestD < 0 || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// dryRunFlag is --dry-run of the commands that change the store.
type dryRunFlag struct{ on bool }

func (d *dryRunFlag) register(cmd *cobra.Command, usage string) {
	if usage == "" {
		usage = "check and print what would change, and write nothing to the store"
	}
	cmd.Flags().BoolVar(&d.on, "dry-run", false, usage)
}

// save saves the store, or with --dry-run says it did not.
func (d *dryRunFlag) save(g *globals, st *allowlist.Store) error {
	if d.on {
		fmt.Fprintf(g.stdout, "dry run: nothing was written to %s\n", st.Dir)
		return nil
	}
	return st.Save()
}

// deprecatedAlias registers old as a hidden, deprecated name of the flag
// new (same value).
func deprecatedAlias(cmd *cobra.Command, newName, old string) {
	fs := cmd.Flags()
	fl := fs.Lookup(newName)
	alias := *fl
	alias.Name = old
	alias.Shorthand = ""
	alias.Usage = "deprecated name of --" + newName
	fs.AddFlag(&alias)
	_ = fs.MarkDeprecated(old, "use --"+newName)
}

// daysDuration wraps a duration flag so that it also accepts days: 7d, 1.5d.
type daysDuration struct{ pflag.Value }

func (d daysDuration) Set(s string) error {
	if v, ok := parseDays(s); ok {
		s = v.String()
	}
	return d.Value.Set(s)
}

// parseDays parses "7d" or "1.5d".
func parseDays(s string) (time.Duration, bool) {
	if !strings.HasSuffix(s, "d") {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "d"), 64)
	if err != nil || f < 0 {
		return 0, false
	}
	return time.Duration(f * float64(24*time.Hour)), true
}

// acceptDays makes every duration flag of the tree accept days.
func acceptDays(cmd *cobra.Command) {
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Value.Type() == "duration" {
			if _, done := f.Value.(daysDuration); !done {
				f.Value = daysDuration{f.Value}
			}
		}
	})
	for _, c := range cmd.Commands() {
		acceptDays(c)
	}
}

// byDefault fills --by from the environment when it is not given, at run
// time, so that --help (and the generated reference) does not show the
// login name of whoever printed it.
func byDefault(cmd *cobra.Command, by *string) {
	pre := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		if *by == "" {
			*by = byName()
		}
		if pre != nil {
			return pre(c, args)
		}
		return nil
	}
}

// hideGlobalFlags leaves global flags a command does not use out of its
// help (generate writes no store; version reads nothing). They are still
// accepted, so that a script passing --store to every command keeps working.
func hideGlobalFlags(cmd *cobra.Command, names ...string) {
	cmd.SetHelpFunc(func(c *cobra.Command, args []string) {
		for _, n := range names {
			if f := c.Root().PersistentFlags().Lookup(n); f != nil && !f.Hidden {
				f.Hidden = true
				defer func() { f.Hidden = false }()
			}
		}
		c.Root().HelpFunc()(c, args)
	})
}
