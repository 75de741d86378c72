package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/calico-plan/calico-plan/allowlist"
)

// ciEnv is a scratch forge: a bare origin whose main branch holds the demo
// store and cluster snapshot, and the calico-plan binary on PATH.
type ciEnv struct {
	origin, bin string
}

func ciGit(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %v: %s", args, out)
}

func newCIEnv(t *testing.T) *ciEnv {
	t.Helper()
	root := t.TempDir()
	bin := filepath.Join(root, "bin")
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "calico-plan"), ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	seed := filepath.Join(root, "seed")
	require.NoError(t, os.MkdirAll(filepath.Join(seed, "cluster"), 0o755))
	ciGit(t, seed, "init", "-q", "-b", "main")
	mustRun(t, "observe", "--store", filepath.Join(seed, "allowlists"), "--from", demoFlows, "--namespaces", demoNS)
	snap, err := os.ReadFile("../../testdata/demo/cluster.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(seed, "cluster", "cluster.yaml"), snap, 0o644))
	ciGit(t, seed, "add", "-A")
	ciGit(t, seed, "commit", "-q", "-m", "store")
	origin := filepath.Join(root, "origin.git")
	ciGit(t, root, "clone", "-q", "--bare", seed, origin)
	return &ciEnv{origin: origin, bin: bin}
}

// pr clones origin, makes a pull-request branch with edit applied and
// returns the work tree.
func (e *ciEnv) pr(t *testing.T, edit func(dir string)) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "work")
	ciGit(t, filepath.Dir(dir), "clone", "-q", e.origin, dir)
	ciGit(t, dir, "checkout", "-q", "-b", "pr")
	edit(dir)
	ciGit(t, dir, "add", "-A")
	ciGit(t, dir, "commit", "-q", "-m", "pr")
	return dir
}

// sh runs a script the way the CI runs a step, and returns its exit code.
func (e *ciEnv) sh(t *testing.T, dir, script string, env ...string) (int, string) {
	t.Helper()
	return e.shell(t, []string{"sh", "-e", "-c"}, dir, script, env...)
}

// shell runs a script with the shell command line given.
func (e *ciEnv) shell(t *testing.T, shell []string, dir, script string, env ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(shell[0], append(shell[1:], script)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append([]string{"PATH=" + e.bin + string(os.PathListSeparator) + os.Getenv("PATH")}, env...)...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	require.NoError(t, err)
	return 0, string(out)
}

// woodpecker runs the example's calico-plan and verdict steps ($$ is
// Woodpecker's escape of $; the comment step needs the forge).
func woodpecker(t *testing.T, e *ciEnv, dir string) (step, verdict int, out string) {
	t.Helper()
	b, err := os.ReadFile("../../examples/ci/woodpecker.yml")
	require.NoError(t, err)
	var doc struct {
		Steps []struct {
			Name     string
			Commands []string
		}
	}
	require.NoError(t, yaml.Unmarshal(b, &doc))
	script := map[string]string{}
	for _, s := range doc.Steps {
		script[s.Name] = strings.ReplaceAll(strings.Join(s.Commands, "\n"), "$$", "$")
	}
	step, out = e.sh(t, dir, script["calico-plan"], "CI_COMMIT_TARGET_BRANCH=main")
	if step != 0 {
		return step, -1, out
	}
	verdict, vout := e.sh(t, dir, script["verdict"])
	return step, verdict, out + vout
}

// githubActions runs the example's run steps but the ones that install
// (the binary is on PATH) and the comment (github-script), with the step
// outputs and expressions the runner would give them.
func githubActions(t *testing.T, e *ciEnv, dir string) (failed string, code int, out string) {
	t.Helper()
	b, err := os.ReadFile("../../examples/ci/github-actions.yml")
	require.NoError(t, err)
	var doc struct {
		Jobs map[string]struct {
			Steps []struct {
				Name, ID, Run string
				Env           map[string]string
			}
		}
	}
	require.NoError(t, yaml.Unmarshal(b, &doc))
	outputs := map[string]string{}
	expr := regexp.MustCompile(`\$\{\{ *([^}]+?) *\}\}`)
	var all strings.Builder
	for _, s := range doc.Jobs["egress"].Steps {
		if s.Run == "" || strings.Contains(s.Run, "go install") || strings.Contains(s.Run, "GITHUB_PATH") {
			continue
		}
		ghOut := filepath.Join(t.TempDir(), "output")
		env := []string{"GITHUB_OUTPUT=" + ghOut}
		for k, v := range s.Env {
			v = expr.ReplaceAllStringFunc(v, func(m string) string {
				key := expr.FindStringSubmatch(m)[1]
				if key == "github.base_ref" {
					return "main"
				}
				return outputs[key]
			})
			env = append(env, k+"="+v)
		}
		// As the runner runs a run step: bash --noprofile --norc -eo pipefail.
		code, o := e.shell(t, []string{"bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"}, dir, s.Run, env...)
		all.WriteString(o)
		if b, err := os.ReadFile(ghOut); err == nil {
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				if k, v, ok := strings.Cut(line, "="); ok {
					outputs["steps."+s.ID+".outputs."+k] = v
				}
			}
		}
		if code != 0 {
			return s.Name, code, all.String()
		}
	}
	return "", 0, all.String()
}

// The CI examples, run on a scratch repository made from the demo: a
// promotion passes (diff 2, check 0), a would-deny flow of a namespace
// promoted to enforced fails the job (check 3), a store that does not
// render fails it at the render step.
func TestCIExamplesOnAScratchRepository(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not on PATH")
	}
	e := newCIEnv(t)
	promote := func(dir string) {
		mustRun(t, "promote", "--store", filepath.Join(dir, "allowlists"), "--namespace", "recruiter-responder", "--to", "staged",
			"--force", "--reason", "pilot", "--now", "2026-11-27", "--cluster", filepath.Join(dir, "cluster", "cluster.yaml"))
	}
	wouldDeny := func(dir string) {
		handEdit(t, filepath.Join(dir, "allowlists"), "recruiter-responder", func(n *allowlist.Namespace) {
			n.Rollout.Stage = allowlist.StageEnforced
			n.WouldDeny = append(n.WouldDeny, allowlist.Entry{Peer: allowlist.Peer{Kind: allowlist.PeerPublic, Nets: []string{"198.18.0.7/32"}},
				Workloads: []string{"recruiter-responder-api-*"},
				Ports:     []allowlist.PortEvidence{{Port: "TCP/8443", Evidence: allowlist.Evidence{Flows: 8, FirstSeen: 1795478400, LastSeen: 1795564800}}}})
		})
	}
	broken := func(dir string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "allowlists", "n8n.yaml"), []byte("namespace: [\n"), 0o644))
	}

	t.Run("woodpecker", func(t *testing.T) {
		step, verdict, out := woodpecker(t, e, e.pr(t, promote))
		require.Zero(t, step, out)
		require.Zero(t, verdict, out)
		require.Contains(t, out, "diff exit 2, check exit 0")

		step, verdict, out = woodpecker(t, e, e.pr(t, wouldDeny))
		require.Zero(t, step, out)
		require.Equal(t, 1, verdict, out)
		require.Contains(t, out, "diff exit 2, check exit 3")

		step, _, out = woodpecker(t, e, e.pr(t, broken))
		require.NotZero(t, step, "a failing render fails the pipeline: %s", out)
	})
	t.Run("github-actions", func(t *testing.T) {
		failed, code, out := githubActions(t, e, e.pr(t, promote))
		require.Zero(t, code, "%s: %s", failed, out)
		require.Contains(t, out, "diff exit 2, check exit 0")

		failed, code, out = githubActions(t, e, e.pr(t, wouldDeny))
		require.Equal(t, "Verdict", failed, out)
		require.Equal(t, 1, code)
		require.Contains(t, out, "diff exit 2, check exit 3")

		failed, code, _ = githubActions(t, e, e.pr(t, broken))
		require.Equal(t, "Render what will be applied", failed)
		require.NotZero(t, code)
	})
}
