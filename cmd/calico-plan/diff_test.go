package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/calico-plan/calico-plan/allowlist"
)

func TestDiffCommandAgainstFiles(t *testing.T) {
	store, pol := renderedDemo(t)
	out, _, err := run(t, "", "diff", "--store", store, "--against", pol)
	require.NoError(t, err)
	require.Contains(t, out, "no changes (16 namespaces compared)")
	require.Contains(t, out, "result: no changes (exit 0)")

	handEdit(t, store, "tasks", func(n *allowlist.Namespace) {
		n.Egress = slices.DeleteFunc(n.Egress, func(e allowlist.Entry) bool { return e.Peer.Namespace == "dbaas" })
	})
	out, _, err = run(t, "", "diff", "--store", store, "--against", pol)
	require.Equal(t, exitChanges, exitCodeOf(err))
	require.Contains(t, out, "tasks: +0 -1")
	require.Contains(t, out, "  - TCP/3306 to dbaas {app.kubernetes.io/name=mysql}: no observed traffic")

	md, _, err := run(t, "", "diff", "--store", store, "--against", pol, "-o", "md")
	require.Equal(t, exitChanges, exitCodeOf(err))
	require.Contains(t, md, "| namespace | added | removed | flows affected by removals |")
	require.Contains(t, md, "| tasks | 0 | 1 | 0 |")

	// A rollout directory is compared with the desired state: no changes,
	// then the promotion of its staged namespace.
	mustRun(t, "promote", "--store", store, "--namespace", "recruiter-responder", "--to", "staged", "--force", "--reason", "pilot", "--now", "2026-11-27")
	roll := filepath.Join(t.TempDir(), "rollout")
	mustRun(t, "render", "--store", store, "--rollout", "--namespaces", demoNS, "--out", roll)
	out, _, err = run(t, "", "diff", "--store", store, "--against", roll, "--namespaces", demoNS)
	require.NoError(t, err, out)
	require.Contains(t, out, "no changes (1 namespace compared)")
	mustRun(t, "promote", "--store", store, "--namespace", "recruiter-responder", "--to", "enforced", "--force", "--reason", "pilot", "--now", "2026-11-28")
	out, _, err = run(t, "", "diff", "--store", store, "--against", roll, "--namespaces", demoNS)
	require.Equal(t, exitChanges, exitCodeOf(err))
	require.Contains(t, out, "recruiter-responder: staged -> enforced, +0 -0")
	require.NotContains(t, out, "(cluster-scoped)", "the observe policy already left recruiter-responder out")
	_, _, err = run(t, "", "diff", "--store", store, "--base", "HEAD", "--rollout")
	require.ErrorContains(t, err, "--rollout goes with --policies")

	_, _, err = run(t, "", "diff", "--store", store, "--against", pol, "--flavor", "k8s")
	require.Equal(t, exitError, exitCodeOf(err), "servarr cannot be rendered as a Kubernetes policy")

	_, _, err = run(t, "", "diff", "--store", store)
	require.ErrorContains(t, err, "give --policies PATH")
	_, _, err = run(t, "", "diff", "--store", store, "--against", pol, "--base", "HEAD")
	require.ErrorContains(t, err, "not both")
}

func TestDiffCommandAgainstGitBase(t *testing.T) {
	repo := t.TempDir()
	git := func(args ...string) {
		cmd := exec.Command("git", append([]string{"-C", repo}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
			"GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}
	git("init", "-q", "-b", "main")
	store := filepath.Join(repo, "allowlists")
	mustRun(t, "observe", "--store", store, "--from", demoFlows, "--namespaces", demoNS)
	git("add", "-A")
	git("commit", "-q", "-m", "observed")
	handEdit(t, store, "tasks", func(n *allowlist.Namespace) {
		n.Egress = slices.DeleteFunc(n.Egress, func(e allowlist.Entry) bool { return e.Peer.Namespace == "dbaas" })
	})

	out, _, err := run(t, "", "diff", "--store", store, "--base", "HEAD")
	require.Equal(t, exitChanges, exitCodeOf(err))
	require.Regexp(t, `tasks: \+0 -1, removals affect \d+ flows`, out)
	require.Regexp(t, `- TCP/3306 to dbaas \{app.kubernetes.io/name=mysql\}: \d+ flows, last seen 2026-11-27, 14 days — this change would cut them`, out)

	git("add", "-A")
	git("commit", "-q", "-m", "tasks without MySQL")
	out, _, err = run(t, "", "diff", "--store", store, "--base", "HEAD")
	require.NoError(t, err)
	require.Contains(t, out, "no changes")

	// A promotion is a change even though no allowlist changed.
	mustRun(t, "promote", "--store", store, "--namespace", "recruiter-responder", "--to", "staged", "--force", "--reason", "pilot", "--now", "2026-11-27")
	out, _, err = run(t, "", "diff", "--store", store, "--base", "HEAD")
	require.Equal(t, exitChanges, exitCodeOf(err))
	require.Contains(t, out, "recruiter-responder: observe -> staged, +0 -0\n")
	git("add", "-A")
	git("commit", "-q", "-m", "pilot staged")
	mustRun(t, "promote", "--store", store, "--namespace", "recruiter-responder", "--to", "enforced", "--force", "--reason", "pilot", "--now", "2026-11-28")
	out, _, err = run(t, "", "diff", "--store", store, "--base", "HEAD", "-o", "md")
	require.Equal(t, exitChanges, exitCodeOf(err))
	require.Contains(t, out, "| recruiter-responder | staged → enforced | 0 | 0 | 0 |")
	require.Contains(t, out, "**stage staged → enforced**: enforced: the policy now drops every egress it does not allow")

	_, _, err = run(t, "", "diff", "--store", store, "--base", "nope")
	require.Equal(t, exitError, exitCodeOf(err))
	require.ErrorContains(t, err, `--base "nope": not a commit`)
}

// The CI recipes must be valid YAML and use only commands and flags that
// exist.
func TestCIRecipes(t *testing.T) {
	files, err := filepath.Glob("../../examples/ci/*.yml")
	require.NoError(t, err)
	require.Len(t, files, 2)
	root := buildRoot(&globals{stdout: os.Stdout, stderr: os.Stderr, isTerminal: func() bool { return false }})
	invocation := regexp.MustCompile(`calico-plan ([a-z]+)([^;|>&\n]*)`)
	checked := 0
	flagRE := regexp.MustCompile(`(?:^|\s)(--?[a-z][a-z-]*)`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var doc map[string]any
		require.NoError(t, yaml.Unmarshal(b, &doc), f)
		var scripts []string
		switch filepath.Base(f) {
		case "github-actions.yml":
			require.Contains(t, doc["on"], "pull_request")
			job := doc["jobs"].(map[string]any)["egress"].(map[string]any)
			for _, s := range job["steps"].([]any) {
				step := s.(map[string]any)
				if r, ok := step["run"].(string); ok {
					scripts = append(scripts, r)
				}
			}
			require.Contains(t, string(b), "actions/github-script")
		case "woodpecker.yml":
			require.Equal(t, "pull_request", doc["when"].([]any)[0].(map[string]any)["event"])
			for _, s := range doc["steps"].([]any) {
				for _, c := range s.(map[string]any)["commands"].([]any) {
					scripts = append(scripts, c.(string))
				}
			}
			require.Contains(t, string(b), "from_secret: forgejo_token")
			require.Contains(t, string(b), "/api/v1/repos/")
		}
		seen := map[string]bool{}
		for _, sc := range scripts {
			for _, m := range invocation.FindAllStringSubmatch(sc, -1) {
				if m[1] == "diff" || m[1] == "check" || m[1] == "render" {
					seen[m[1]] = true
				}
				cmd, _, err := root.Find([]string{m[1]})
				require.NoError(t, err, "%s: calico-plan %s", f, m[1])
				require.NotEqual(t, root, cmd, "%s: unknown command %q", f, m[1])
				for _, fm := range flagRE.FindAllStringSubmatch(m[2], -1) {
					require.True(t, hasFlag(cmd, fm[1]), "%s: calico-plan %s has no flag %s", f, m[1], fm[1])
					checked++
				}
			}
		}
		require.Equal(t, map[string]bool{"diff": true, "check": true, "render": true}, seen, f)
		require.GreaterOrEqual(t, checked, 10, "%s: the flags were found and checked", f)
		checked = 0
		// Exit codes are handled as documented: 2 from diff is fine, 3 and 1 fail.
		require.Contains(t, string(b), "0|2)")
		require.True(t, strings.Contains(string(b), "3)") || strings.Contains(string(b), "!= 3"), f)
	}
}

func hasFlag(cmd *cobra.Command, flag string) bool {
	name := strings.TrimLeft(flag, "-")
	if strings.HasPrefix(flag, "--") {
		return cmd.Flags().Lookup(name) != nil || cmd.InheritedFlags().Lookup(name) != nil
	}
	return cmd.Flags().ShorthandLookup(name) != nil || cmd.InheritedFlags().ShorthandLookup(name) != nil
}
