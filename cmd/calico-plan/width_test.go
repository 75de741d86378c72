package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/output"
)

// A new user reads status, explain and waves of the demo in a 100-column
// terminal: -o table never exceeds output.Width; -o wide may.
func TestTablesFitOneHundredColumns(t *testing.T) {
	flowsGz, err := filepath.Abs(demoFlows)
	require.NoError(t, err)
	ns, err := filepath.Abs(demoNS)
	require.NoError(t, err)
	snap, err := os.ReadFile("../../testdata/demo/cluster.yaml")
	require.NoError(t, err)
	dir := t.TempDir()
	t.Chdir(dir)
	require.NoError(t, os.WriteFile("cluster.yaml", snap, 0o644))
	mustRun(t, "observe", "--from", flowsGz, "--namespace-file", ns)

	fits := func(args ...string) string {
		t.Helper()
		out, _, err := run(t, "", args...)
		require.NoError(t, err, args)
		for _, l := range strings.Split(out, "\n") {
			require.LessOrEqual(t, len([]rune(l)), output.Width, "%v: %q", args, l)
		}
		return out
	}
	st := fits("status", "--now", "2026-11-27")
	require.Contains(t, st, "17 namespaces: 13 Stable, 1 Stabilizing, 2 Learning, 16 observe, 1 excluded.", "the summary line")
	require.Regexp(t, `proxy\s+4-aux\s+observe\s+Stable\s+14d\s+14d\s+2\s+0\s+promote → staged`, st, "the next-step column")
	require.Regexp(t, `n8n\s+.*Stable in 2d`, st)
	require.Regexp(t, `recruiter-responder\s+.*1\+1wd\s+explain \(wd\)`, st)
	wide, _ := mustRun(t, "status", "--now", "2026-11-27", "-o", "wide")
	require.Greater(t, output.MaxLineWidth(wide), output.Width, "wide keeps every column")
	require.Contains(t, wide, "2026-11-29T00:00:00Z", "wide has the absolute times")

	wv := fits("waves", "--cluster", "cluster.yaml")
	require.Regexp(t, `proxy\s+observe\s+Stable\s+2\s+-\s+promote → staged`, wv)
	require.Contains(t, wv, "calico-plan observe --from FLOWS", "the observe command of a file-fed store")
	require.Contains(t, wv, "calico-plan promote --cluster cluster.yaml --namespace NS --to staged")
	wwide, _ := mustRun(t, "waves", "--cluster", "cluster.yaml", "-o", "wide")
	require.Contains(t, wwide, "calico-plan promote --cluster cluster.yaml --namespace proxy --to staged")

	s, err := allowlist.OpenExisting(defaultStoreDir, config.Default())
	require.NoError(t, err)
	for _, n := range s.Names() {
		out := fits("explain", "-n", n)
		require.Contains(t, out, "namespace "+n)
	}
	ex, _ := mustRun(t, "explain", "-n", "recruiter-responder", "-o", "wide")
	require.Greater(t, output.MaxLineWidth(ex), output.Width)
}

// waves tells a store's users to observe from the sources it was fed by.
func TestObserveCommandNamesTheStoresSources(t *testing.T) {
	st, err := allowlist.Open(t.TempDir(), config.Default())
	require.NoError(t, err)
	require.Equal(t, "calico-plan observe --from FLOWS", observeCommand(st, ""))
	st.Meta.Sources = []allowlist.SourceRecord{{Kind: allowlist.SourceGoldmane, ID: "kube/homelab/calico-system/goldmane"}, {Kind: allowlist.SourceLoki, ID: "https://loki"}}
	require.Equal(t, "calico-plan observe --store s --goldmane-kube --loki URL", observeCommand(st, " --store s"))
	st.Meta.Sources = []allowlist.SourceRecord{{Kind: allowlist.SourceGoldmane, ID: "localhost:7443"}}
	require.Equal(t, "calico-plan observe --goldmane HOST:PORT", observeCommand(st, ""))
	st.Meta.Sources = []allowlist.SourceRecord{{Kind: allowlist.SourceElasticsearch, ID: "https://es:9200"}}
	require.Equal(t, "calico-plan observe --es URL", observeCommand(st, ""))
}

// Colour only on a terminal, and never with NO_COLOR.
func TestColourOnlyOnATerminal(t *testing.T) {
	store := observeDemo(t)
	status := func(tty bool) string {
		var out, errb strings.Builder
		g := &globals{stdout: &out, stderr: &errb, stdin: strings.NewReader(""), isTerminal: func() bool { return false },
			stdoutTerminal: func() bool { return tty }}
		cmd := buildRoot(g)
		cmd.SetArgs([]string{"status", "--store", store, "--now", "2026-11-27"})
		require.NoError(t, cmd.Execute())
		return out.String()
	}
	t.Setenv("NO_COLOR", "")
	t.Setenv("TERM", "xterm")
	require.NotContains(t, status(false), "\x1b[")
	coloured := status(true)
	require.Contains(t, coloured, output.Green+"Stable")
	t.Setenv("NO_COLOR", "1")
	require.NotContains(t, status(true), "\x1b[")
	// Colour never moves a column: without the escapes it is the plain table.
	t.Setenv("NO_COLOR", "")
	require.Equal(t, status(false), regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(coloured, ""))
}

// On a terminal, observe's progress line has a percentage and an ETA
// when the size of the inputs is known.
func TestObserveProgressShowsPercent(t *testing.T) {
	var out, errb strings.Builder
	g := &globals{stdout: &out, stderr: &errb, stdin: strings.NewReader(""), isTerminal: func() bool { return true }}
	cmd := buildRoot(g)
	cmd.SetArgs([]string{"observe", "--store", filepath.Join(t.TempDir(), "s"), "--from", demoFlows})
	require.NoError(t, cmd.Execute())
	require.Contains(t, errb.String(), ", 100%, ETA 0s")
}
