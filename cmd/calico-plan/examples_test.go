package main

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// example is one calico-plan invocation from a command's --help.
type example struct {
	cmd    string   // the command whose help shows it
	line   string   // as written
	args   []string // after "calico-plan"
	stdout string   // "> FILE" target, if any
	piped  string   // what the output is piped into ("jq ...")
}

// helpExamples extracts every calico-plan invocation from the Example
// sections of all commands (which docs/commands.md prints).
func helpExamples(t *testing.T) []example {
	t.Helper()
	var out []example
	for _, c := range commands() {
		text := strings.ReplaceAll(c.Example, "\\\n", " ")
		for _, line := range strings.Split(text, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			for {
				i := strings.Index(line, "calico-plan ")
				if i < 0 {
					break
				}
				words, rest := shellWords(line[i+len("calico-plan "):])
				ex := example{cmd: c.Name(), line: strings.TrimSpace(line), args: words}
				rest = strings.TrimSpace(rest)
				switch {
				case strings.HasPrefix(rest, ">"):
					target, _ := shellWords(strings.TrimPrefix(rest, ">"))
					ex.stdout = target[0]
				case strings.HasPrefix(rest, "|"):
					ex.piped = strings.TrimSpace(rest[1:])
				}
				out = append(out, ex)
				line = rest
			}
		}
	}
	return out
}

// shellWords splits s like a shell up to an unquoted |, >, ; or &, and
// returns the words and the rest. $(...) is kept as one word.
func shellWords(s string) ([]string, string) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\'' || ch == '"':
			j := strings.IndexByte(s[i+1:], ch)
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == '$' && i+1 < len(s) && s[i+1] == '(':
			j := strings.IndexByte(s[i:], ')')
			cur.WriteString(s[i : i+j+1])
			i += j
			inWord = true
		case ch == ' ' || ch == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case ch == '|' || ch == '>' || ch == ';' || ch == '&':
			if inWord {
				words = append(words, cur.String())
			}
			return words, s[i:]
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, ""
}

// needsService reports the examples that need a live Elasticsearch,
// Goldmane or Loki: their flags are parsed, not run (observe_es_test.go,
// observe_goldmane_test.go and packetlog_cli_test.go run those sources
// against in-process servers).
func needsService(args []string) bool {
	return slices.ContainsFunc(args, func(a string) bool {
		return a == "--es" || a == "--goldmane-kube" || a == "--loki" || a == "--goldmane"
	})
}

// exampleSandbox is a directory with what the examples name: the demo
// store in ./allowlists, the demo flow log under the names the examples
// use, rendered policies, a Terraform stack, a git history of the store,
// and a live cluster (faked) for snapshot.
func exampleSandbox(t *testing.T, cmd string) string {
	t.Helper()
	abs := func(p string) string { a, err := filepath.Abs(p); require.NoError(t, err); return a }
	flowsGz, nsFile, cluster, pods, kern := abs(demoFlows), abs(demoNS), abs("../../testdata/demo/cluster.yaml"), abs("../../testdata/demo/pods.json"), abs("../../testdata/demo/kern.log.gz")
	dir := t.TempDir()
	cp := func(src, dst string) {
		b, err := os.ReadFile(src)
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, dst)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, dst), b, 0o644))
	}
	gunzip := func(src, dst string) {
		f, err := os.Open(src)
		require.NoError(t, err)
		defer f.Close()
		zr, err := gzip.NewReader(f)
		require.NoError(t, err)
		b, err := io.ReadAll(zr)
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, dst)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, dst), b, 0o644))
	}
	cp(flowsGz, "flows.log.gz")
	cp(flowsGz, "archive/2026-11.log.gz")
	cp(flowsGz, "flows/flows.log.gz")
	gunzip(flowsGz, "flows.log")
	gunzip(flowsGz, "search.json")
	gunzip(flowsGz, "var/log/calico/flowlogs/flows.log")
	gunzip(kern, "kern.log")
	gm := t.TempDir()
	mustRun(t, "generate", "--out", gm, "--format", "goldmane", "--packet-log=false", "--days", "2")
	gunzip(filepath.Join(gm, "goldmane-flows.json.gz"), "goldmane-flows.json")
	cp(nsFile, "ns.yaml")
	cp(cluster, "cluster.yaml")
	cp(pods, "pods.json")
	store := filepath.Join(dir, "allowlists")
	mustRun(t, "observe", "--store", store, "--from", flowsGz, "--namespace-file", nsFile)
	mustRun(t, "render", "--store", store, "--all", "--flavor", "calico-staged", "--out", filepath.Join(dir, "policies"))
	// What the rollout applies: the desired state's files (check --existing).
	mustRun(t, "render", "--store", store, "--rollout", "--cluster", cluster, "--out", filepath.Join(dir, "rollout"))
	tf, _ := mustRun(t, "render", "--store", store, "--all", "--flavor", "calico-staged", "-o", "hcl")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "stacks/calico"), 0o755))
	if cmd == "report" {
		// report's --cluster-policies are the cluster's other policies.
		require.NoError(t, os.WriteFile(filepath.Join(dir, "stacks/calico/platform.yaml"), []byte(platformPolicy), 0o644))
	} else {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "stacks/calico/egress.tf"), []byte(tf), 0o644))
	}
	git := func(args ...string) {
		c := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"}, args...)...)
		out, err := c.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}
	git("init", "-q")
	git("add", "allowlists")
	git("commit", "-q", "-m", "store")
	git("commit", "-q", "--allow-empty", "-m", "second")
	git("update-ref", "refs/remotes/origin/main", "HEAD~1")
	return dir
}

// Every example in the commands' help (and so in docs/commands.md) runs on
// the demo store and exits as documented: 0, unless listed here with the
// documented reason it does not.
func TestEveryExampleRuns(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed (diff --base examples)")
	}
	examples := helpExamples(t)
	require.Greater(t, len(examples), 40)
	// The documented exits other than 0 on the demo store, by the example's
	// words, with what stderr or the error says.
	expect := map[string]struct {
		code int
		says string
	}{
		// promote refuses with the unmet gates: the pilot is still Learning.
		"promote --namespace recruiter-responder --to staged --reason pilot": {1, "FAIL stable"},
		// observe → enforced skips staging: refused without --force.
		"promote --namespace n8n --to enforced --cluster cluster.yaml": {1, "stage-order"},
		// wave 2 holds namespaces whose gates fail on the demo store.
		"promote --wave 2 --to staged --cluster cluster.yaml": {1, "refused"},
		// tier 4-aux is not staged for stagedDays yet: enforcing is refused.
		"promote --tier 4-aux --to enforced --cluster cluster.yaml": {1, "refused"},
		// rollback one stage back from observe: there is none.
		"rollback --namespace n8n --reason webhook to a new SaaS endpoint denied": {1, "observe"},
		// render refuses enforcing policy for a namespace that is not Stable.
		"render --namespace n8n -o json": {1, "not Stable"},
		// diff exits 2 when there are changes.
		"diff --policies stacks/calico/egress.tf --flavor calico -o md": {2, ""},
		"diff --policies policies/":                                     {2, ""},
		// report exits 2 for changes (the committed policies are staged ones).
		"report --policies policies/ --from flows.log.gz --namespace-file ns.yaml": {2, ""},
	}
	fakeLiveCluster(t, nil)
	t.Setenv("KUBECONFIG", "/dev/null")
	ran := 0
	for _, cmdName := range uniqueCmds(examples) {
		t.Run(cmdName, func(t *testing.T) {
			dir := exampleSandbox(t, cmdName)
			t.Chdir(dir)
			for _, ex := range examples {
				if ex.cmd != cmdName {
					continue
				}
				args := rewritePaths(ex.args, dir)
				key := strings.Join(ex.args, " ")
				if needsService(args) {
					root := buildRoot(&globals{stdout: io.Discard, stderr: io.Discard, stdin: strings.NewReader(""), isTerminal: func() bool { return false }})
					c, rest, err := root.Find(args)
					require.NoError(t, err, ex.line)
					require.NoError(t, c.ParseFlags(rest), ex.line)
					continue
				}
				stdin := ""
				if slices.Contains(args, "-") {
					b, err := os.ReadFile("flows.log")
					require.NoError(t, err)
					stdin = string(b)
				}
				out, errs, err := run(t, stdin, args...)
				require.NotContains(t, errs, "has been deprecated", "%s: examples use the current flag names", ex.line)
				want := expect[key]
				require.Equal(t, want.code, exitCodeOf(err), "%s\nstderr: %s\nerr: %v", ex.line, errs, err)
				if want.says != "" {
					msg := errs
					if err != nil {
						msg += err.Error()
					}
					require.Contains(t, msg, want.says, ex.line)
				}
				if ex.stdout != "" {
					require.NoError(t, os.MkdirAll(filepath.Dir(ex.stdout), 0o755))
					require.NoError(t, os.WriteFile(ex.stdout, []byte(out), 0o644))
				}
				if slices.Contains(args, "json") && ex.stdout == "" && err == nil {
					require.True(t, json.Valid([]byte(out)), "%s: -o json output is JSON", ex.line)
				}
				ran++
			}
		})
	}
	require.Greater(t, ran, 30)
}

func uniqueCmds(ex []example) []string {
	var out []string
	for _, e := range ex {
		if !slices.Contains(out, e.cmd) {
			out = append(out, e.cmd)
		}
	}
	return out
}

// rewritePaths moves the examples' absolute paths into the sandbox.
func rewritePaths(args []string, dir string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		for _, p := range []string{"/var/log/calico/flowlogs/", "/tmp/demo"} {
			if strings.HasPrefix(a, p) {
				a = filepath.Join(dir, strings.TrimPrefix(a, "/"))
			}
		}
		out[i] = a
	}
	return out
}

// platformPolicy is a policy of the cluster that calico-plan did not write.
const platformPolicy = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-ingress
  namespace: tasks
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
  - {}
`
