package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/internal/output"
)

// commands returns every command of the tree (the root included), except
// cobra's help and completion.
func commands() []*cobra.Command {
	root := buildRoot(&globals{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, stdin: strings.NewReader(""), isTerminal: func() bool { return false }})
	var out []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() == "help" || c.Name() == "completion" || c.Hidden {
			return
		}
		out = append(out, c)
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	return out
}

// The conventions of flags.go, checked on every command: a new command or
// flag that breaks one fails here.
func TestEveryCommandFollowsTheFlagConventions(t *testing.T) {
	// Reports share one -o vocabulary; manifests and pictures have their own.
	reports := []string{"status", "explain", "waves", "check", "diff"}
	ownFormats := map[string][]string{
		"render": {"yaml", "json", "hcl"},          // manifests
		"graph":  {"mermaid", "md", "dot", "json"}, // pictures
		"report": {"md", "html"},                   // one document for a pull request
	}
	report := []string{}
	for _, f := range output.ReportFormats {
		report = append(report, string(f))
	}
	// The commands that change the store; observe creates and feeds it
	// and is the one writer without --dry-run (it only adds evidence).
	writers := []string{"promote", "rollback", "allow"}
	facts := []string{"cluster", "namespace-file", "kubeconfig", "context"}
	type seenFlag struct{ typ, shorthand, cmd string }
	seen := map[string]seenFlag{}
	for _, c := range commands() {
		name := c.Name()
		fs := c.LocalFlags()
		if c.HasParent() && c.Runnable() {
			require.True(t, strings.HasPrefix(c.Use, name), "%s: Use starts with the name", name)
			require.NotEmpty(t, c.Short, name)
			if name != "version" {
				require.NotEmpty(t, c.Example, "%s: --help shows examples", name)
			}
		}

		// -o
		if o := fs.Lookup("output"); o != nil {
			require.Equal(t, "o", o.Shorthand, name)
			formats := o.Annotations[annotationFormats]
			require.NotEmpty(t, formats, "%s: -o registered with addOutputFlag or outputFormats", name)
			for _, f := range formats {
				require.Contains(t, o.Usage, f, "%s: -o help names %s", name, f)
			}
			switch {
			case slices.Contains(reports, name):
				require.Equal(t, "table", o.DefValue, "%s: -o defaults to table", name)
				for _, f := range report {
					require.Contains(t, formats, f, "%s -o", name)
				}
				for _, f := range formats {
					require.True(t, slices.Contains(report, f) || f == string(output.Wide), "%s -o %s is not in the vocabulary", name, f)
				}
			case ownFormats[name] != nil:
				require.Equal(t, ownFormats[name], formats, name)
			default:
				t.Errorf("%s has -o but is neither a report nor a documented exception", name)
			}
		} else {
			require.NotContains(t, reports, name, "%s is a report without -o", name)
		}

		// -n/--namespace, repeatable; no flag one letter away from it.
		if n := fs.Lookup("namespace"); n != nil {
			require.Equal(t, "n", n.Shorthand, "%s --namespace has -n", name)
			require.Equal(t, "stringArray", n.Value.Type(), "%s --namespace is repeatable", name)
		}
		if n := fs.Lookup("namespaces"); n != nil {
			require.NotEmpty(t, n.Deprecated, "%s --namespaces is only the deprecated alias of --namespace-file", name)
		}

		// Cluster facts: all four flags or none (snapshot reads a live
		// cluster only, to write the facts).
		has := 0
		for _, f := range facts {
			if fs.Lookup(f) != nil {
				has++
			}
		}
		if name == "snapshot" {
			require.NotNil(t, fs.Lookup("kubeconfig"))
			require.NotNil(t, fs.Lookup("context"))
		} else if has > 0 {
			require.Equal(t, len(facts), has, "%s: cluster facts flags %v all or none", name, facts)
		}

		// --dry-run on every command that changes the store.
		if slices.Contains(writers, name) {
			require.NotNil(t, fs.Lookup("dry-run"), "%s changes the store: --dry-run", name)
		}

		// --now means "judge at" wherever it is not a deprecated alias.
		if f := fs.Lookup("now"); f != nil && f.Deprecated == "" {
			require.True(t, strings.HasPrefix(f.Usage, "judge"), "%s --now: %q", name, f.Usage)
		}

		fs.VisitAll(func(f *pflag.Flag) {
			// Durations accept days.
			if f.Value.Type() == "duration" {
				require.NoError(t, f.Value.Set("7d"), "%s --%s 7d", name, f.Name)
				require.Equal(t, "168h0m0s", f.Value.String(), "%s --%s", name, f.Name)
				require.NoError(t, f.Value.Set(f.DefValue))
			}
			// A deprecated alias names its replacement and shares its value.
			if f.Deprecated != "" {
				require.True(t, f.Hidden || f.Deprecated != "", name)
				repl := strings.TrimPrefix(f.Deprecated, "use --")
				nf := fs.Lookup(repl)
				require.NotNil(t, nf, "%s --%s: replacement --%s exists", name, f.Name, repl)
				require.Empty(t, nf.Deprecated)
				require.Equal(t, nf.Value.Type(), f.Value.Type())
				return
			}
			// A flag name means the same type (and shorthand) everywhere.
			if prev, ok := seen[f.Name]; ok {
				require.Equal(t, prev.typ, f.Value.Type(), "--%s: %s vs %s", f.Name, prev.cmd, name)
				require.Equal(t, prev.shorthand, f.Shorthand, "--%s shorthand: %s vs %s", f.Name, prev.cmd, name)
			} else {
				seen[f.Name] = seenFlag{f.Value.Type(), f.Shorthand, name}
			}
		})
	}
}

// A deprecated name still works, says so on stderr, and sets the new one.
func TestDeprecatedAliasesStillWork(t *testing.T) {
	store := observeDemo(t)
	_, errs := mustRun(t, "waves", "--store", store, "--namespaces", demoNS)
	require.Contains(t, errs, "Flag --namespaces has been deprecated, use --namespace-file")
	require.NotContains(t, errs, "no cluster facts", "the alias set --namespace-file")
	// check -o text is -o table.
	a, _, errA := run(t, "", "check", "--policies", "../../testdata", "--flows", demoFlows, "-o", "text")
	b, _, errB := run(t, "", "check", "--policies", "../../testdata", "--from", demoFlows)
	require.Equal(t, exitCodeOf(errA), exitCodeOf(errB))
	require.Equal(t, a, b)
}

// --dry-run judges and prints, and writes nothing.
func TestDryRunWritesNothing(t *testing.T) {
	store, snap := rolloutDemo(t)
	before := readDir(t, store)
	for _, args := range [][]string{
		{"promote", "-n", "proxy", "-n", "tasks", "--to", "staged", "--at", "2026-11-28", "--cluster", snap},
		{"allow", "-n", "nextcloud", "--no-egress", "nextcloud-backup", "--reason", "local PVC"},
		{"allow", "-n", "recruiter-responder", "--from-denied"},
		{"rollback", "-n", "proxy", "--to", "excluded"},
	} {
		out, _ := rolloutCLIOK(t, append(args, "--store", store, "--dry-run")...)
		require.NotEmpty(t, out, args)
		require.Equal(t, before, readDir(t, store), "%v --dry-run changed the store", args)
	}
	out, _ := rolloutCLIOK(t, "promote", "-n", "proxy", "-n", "tasks", "--to", "staged", "--at", "2026-11-28", "--store", store, "--cluster", snap)
	require.Contains(t, out, "promoted proxy: observe → staged")
	require.Contains(t, out, "promoted tasks: observe → staged")
	require.NotEqual(t, before, readDir(t, store))
}

// A typo'd namespace gets the closest name everywhere one is taken.
func TestUnknownNamespaceDidYouMean(t *testing.T) {
	store := observeDemo(t)
	for _, args := range [][]string{
		{"explain", "-n", "recruiter-responer"},
		{"render", "-n", "recruiter-responer"},
		{"graph", "-n", "recruiter-responer"},
		{"promote", "-n", "recruiter-responer", "--to", "staged", "--namespace-file", demoNS},
		{"rollback", "-n", "recruiter-responer"},
		{"allow", "-n", "recruiter-responer", "--from-denied"},
	} {
		_, _, err := run(t, "", append(args, "--store", store)...)
		require.ErrorContains(t, err, `did you mean "recruiter-responder"?`, args[0])
	}
	_, _, err := run(t, "", "explain", "--store", store, "-n", "zzzzzz")
	require.NotContains(t, err.Error(), "did you mean")
	require.Contains(t, err.Error(), "observed namespaces: authentik,")
}

// Shell completion offers the store's namespaces, the flavors and -o values.
func TestCompletion(t *testing.T) {
	store := observeDemo(t)
	complete := func(args ...string) []string {
		out, _ := mustRun(t, append([]string{cobra.ShellCompNoDescRequestCmd}, args...)...)
		var words []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if !strings.HasPrefix(l, ":") {
				words = append(words, l)
			}
		}
		sort.Strings(words)
		return words
	}
	require.Contains(t, complete("explain", "--store", store, "-n", ""), "recruiter-responder")
	require.Equal(t, []string{"json", "md", "table", "wide", "yaml"}, complete("status", "-o", ""))
	require.Equal(t, []string{"calico", "calico-staged", "k8s"}, complete("render", "--flavor", ""))
}

func TestDurationsAcceptDays(t *testing.T) {
	d, ok := parseDays("1.5d")
	require.True(t, ok)
	require.Equal(t, "36h0m0s", d.String())
	_, ok = parseDays("36h")
	require.False(t, ok)
}

// observe --help lists its flags by source, each flag once.
func TestObserveHelpGroupsFlagsBySource(t *testing.T) {
	out, _ := mustRun(t, "observe", "--help")
	prev := -1
	for _, g := range observeFlagGroups {
		i := strings.Index(out, "\n"+g.title+":\n")
		require.Greater(t, i, prev, g.title)
		prev = i
	}
	require.Less(t, strings.Index(out, "Elasticsearch: Calico"), strings.Index(out, "--es-api-key "))
	require.Less(t, strings.Index(out, "--es-api-key "), strings.Index(out, "Goldmane: Calico OSS"))
	flags := out[strings.Index(out, "\n"+observeFlagGroups[0].title+":\n"):]
	root := commands()[0]
	obs, _, err := root.Find([]string{"observe"})
	require.NoError(t, err)
	obs.LocalFlags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			line := regexp.MustCompile(`(?m)^ +(-., )?--` + regexp.QuoteMeta(f.Name) + ` `)
			require.Len(t, line.FindAllString(flags, -1), 1, f.Name)
		}
	})
}

// Global flags show only where they mean something, and still parse.
func TestGlobalFlagsOnlyWhereTheyMeanSomething(t *testing.T) {
	for cmd, want := range map[string][]string{"generate": nil, "version": nil, "snapshot": {"--config"}, "profile": {"--config"}, "status": {"--config", "--store"}} {
		out, _ := mustRun(t, cmd, "--help")
		for _, f := range []string{"--config", "--store"} {
			if slices.Contains(want, f) {
				require.Contains(t, out, "  "+f+" ", cmd)
			} else {
				require.NotContains(t, out, "  "+f+" ", cmd)
			}
		}
	}
	mustRun(t, "version", "--store", "x")
	out, _ := mustRun(t, "status", "--help")
	require.Contains(t, out, "--store", "the flag is hidden only while another command's help prints")
}

// One broken allowlist file does not block reading the others; it blocks
// commands about it or about every namespace, and every write.
func TestBrokenAllowlistFileBlocksOnlyItsNamespace(t *testing.T) {
	store := observeDemo(t)
	path := filepath.Join(store, "tasks.yaml")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	broken := regexp.MustCompile(`firstSeen: "?[0-9TZ:-]+"?`).ReplaceAllLiteralString(string(b), "firstSeen: yesterday")
	require.NotEqual(t, string(b), broken)
	require.NoError(t, os.WriteFile(path, []byte(broken), 0o644))

	out, errs := mustRun(t, "explain", "--store", store, "-n", "proxy")
	require.Contains(t, out, "namespace proxy")
	require.Contains(t, errs, "warning: the allowlist files of tasks do not parse")
	_, errs = mustRun(t, "render", "--store", store, "-n", "proxy")
	require.Contains(t, errs, "tasks")
	mustRun(t, "graph", "--store", store, "-n", "proxy")

	for _, args := range [][]string{
		{"explain", "-n", "tasks"},
		{"status"},
		{"render", "--all"},
		{"promote", "-n", "proxy", "--to", "staged", "--namespace-file", demoNS},
	} {
		_, _, err := run(t, "", append(args, "--store", store)...)
		require.Error(t, err, args)
		require.Regexp(t, `tasks\.yaml:\d+: "yesterday" is not an RFC 3339 time`, err.Error(), args)
	}
}
