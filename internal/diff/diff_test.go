package diff

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/demo"
	"github.com/calico-plan/calico-plan/render"
)

var update = flag.Bool("update", false, "rewrite golden files")

func changeTexts(cs []Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Text)
	}
	return out
}

func nsDiff(t *testing.T, r *Report, ns string) NamespaceDiff {
	t.Helper()
	for _, d := range r.Namespaces {
		if d.Namespace == ns {
			return d
		}
	}
	t.Fatalf("namespace %s did not change; changed: %+v", ns, r.Namespaces)
	return NamespaceDiff{}
}

func TestFilesNoChanges(t *testing.T) {
	p := config.Default()
	dir := t.TempDir()
	s := demoStore(t, p, filepath.Join(dir, "allowlists"))
	for _, fl := range []render.Flavor{render.FlavorCalico, render.FlavorCalicoStaged, render.FlavorK8s} {
		t.Run(string(fl), func(t *testing.T) {
			pol := renderDir(t, s, fl, filepath.Join(dir, "policies-"+string(fl)))
			r := Files(s, []string{pol}, Options{Profile: p, Flavor: fl})
			if fl == render.FlavorK8s {
				// servarr's network set has no Kubernetes form: an error,
				// and the namespace is not compared.
				require.Len(t, r.Errors, 1)
				require.Contains(t, r.Errors[0], "servarr: cannot be rendered as k8s:")
				require.Contains(t, r.Notes, "namespace servarr not compared: it cannot be rendered as k8s")
				require.Equal(t, ExitError, r.Summary.ExitCode)
				require.Empty(t, r.Namespaces)
				return
			}
			require.Empty(t, r.Errors)
			require.Empty(t, r.Namespaces)
			require.Equal(t, ExitNoChanges, r.Summary.ExitCode)
			require.Equal(t, 16, r.Compared, "kube-system is excluded by the profile")
			var b bytes.Buffer
			require.NoError(t, WriteText(&b, r))
			require.Contains(t, b.String(), "no changes (16 namespaces compared)")
		})
	}

	// The committed copy as Terraform: the same.
	tf := filepath.Join(dir, "tf")
	require.NoError(t, os.MkdirAll(tf, 0o755))
	var objs []any
	objs = append(objs, render.Tier(p))
	for _, n := range s.Namespaces() {
		if p.Excluded(n.Namespace) {
			continue
		}
		pol, err := render.Namespace(n, render.Options{Flavor: render.FlavorCalico, Profile: p})
		require.NoError(t, err)
		objs = append(objs, pol.Objects...)
	}
	var b bytes.Buffer
	require.NoError(t, render.EncodeHCL(&b, "", render.HCLOptions{}, objs...))
	require.NoError(t, os.WriteFile(filepath.Join(tf, "egress.tf"), b.Bytes(), 0o644))
	r := Files(s, []string{tf}, Options{Profile: p})
	require.Empty(t, r.Errors)
	require.Equal(t, ExitNoChanges, r.Summary.ExitCode)
}

func TestFilesChanges(t *testing.T) {
	p := config.Default()
	dir := t.TempDir()
	// The committed policies were rendered before the last day: n8n's new
	// API (35.190.80.1:8443) was first seen on day 13.
	early := demo.DefaultOptions()
	early.Days = 13
	old, err := allowlist.Open(filepath.Join(dir, "old"), p)
	require.NoError(t, err)
	a := allowlist.NewAggregator(allowlist.NewClassifier(p))
	require.NoError(t, demo.Generate(early, func(f *flows.Flow) error { a.Add(f); return nil }))
	old.Apply(a)
	require.NoError(t, old.Save())
	old = reopen(t, old)
	pol := renderDir(t, old, render.FlavorCalico, filepath.Join(dir, "policies"))
	// An unmanaged policy next to them is not compared.
	require.NoError(t, os.WriteFile(filepath.Join(pol, "other.yaml"), []byte(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: whisker-allow-traefik, namespace: calico-system}
spec: {podSelector: {}, ingress: [{}]}
`), 0o644))

	s := demoStore(t, p, filepath.Join(dir, "allowlists"))
	// tasks drops its MySQL port by hand.
	editNamespace(t, s.Dir, "tasks", func(n *allowlist.Namespace) {
		n.Egress = slices.DeleteFunc(n.Egress, func(e allowlist.Entry) bool { return e.Peer.Namespace == "dbaas" })
	})
	s = reopen(t, s)

	r := Files(s, []string{pol}, Options{Profile: p})
	require.Empty(t, r.Errors)
	require.Equal(t, ExitChanges, r.Summary.ExitCode)
	n8n := nsDiff(t, r, "n8n")
	require.Equal(t, []string{"TCP/8443 to 35.190.80.1/32"}, changeTexts(n8n.Added))
	ev := n8n.Added[0].Evidence
	require.Positive(t, ev.Flows)
	require.Equal(t, 1, ev.Days)
	require.Equal(t, "2026-11-26", day(ev.FirstSeen))
	require.Equal(t, []string{"n8n-5f6b7c8d9-*"}, ev.Entries[0].Workloads)
	require.Empty(t, n8n.Removed)

	tasks := nsDiff(t, r, "tasks")
	require.Equal(t, []string{"TCP/3306 to dbaas {app.kubernetes.io/name=mysql}"}, changeTexts(tasks.Removed))
	require.Empty(t, tasks.Removed[0].Evidence.Entries, "the store now has no evidence for a deleted entry")
	require.Contains(t, strings.Join(r.Notes, "\n"), "'diff --base REF'")
	require.Contains(t, strings.Join(r.Notes, "\n"), "not compared, not calico-plan's: KubernetesNetworkPolicy calico-system/whisker-allow-traefik")

	var b bytes.Buffer
	require.NoError(t, WriteText(&b, r))
	require.Contains(t, b.String(), "  + TCP/8443 to 35.190.80.1/32: ")
	require.Contains(t, b.String(), "  - TCP/3306 to dbaas {app.kubernetes.io/name=mysql}: no observed traffic")
	require.Contains(t, b.String(), "result: changes (exit 2)")
}

func TestFilesBadCommittedFileIsAnError(t *testing.T) {
	p := config.Default()
	dir := t.TempDir()
	s := demoStore(t, p, filepath.Join(dir, "allowlists"))
	pol := renderDir(t, s, render.FlavorCalico, filepath.Join(dir, "policies"))
	require.NoError(t, os.WriteFile(filepath.Join(pol, "broken.yaml"), []byte("apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: x, namespace: tasks}\nspec: {selector: \"a ==\"}\n"), 0o644))
	r := Files(s, []string{pol}, Options{Profile: p})
	require.Equal(t, ExitError, r.Summary.ExitCode)
	require.Contains(t, r.Errors[0], "broken.yaml:1: doc 0 (NetworkPolicy tasks/x): spec.selector: invalid selector")
}

// gitRepo makes a repository with two commits of the demo store: the
// first observed for 13 days, the second for 14 with tasks' MySQL entry
// deleted by hand. It returns the repository and the store (opened by its
// path relative to the repository, the working directory).
func gitRepo(t *testing.T, p *config.Profile) *allowlist.Store {
	t.Helper()
	repo := t.TempDir()
	t.Chdir(repo)
	run := func(args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com",
			"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}
	run("init", "-q", "-b", "main")
	early := demo.DefaultOptions()
	early.Days = 13
	s, err := allowlist.Open("allowlists", p)
	require.NoError(t, err)
	a := allowlist.NewAggregator(allowlist.NewClassifier(p))
	require.NoError(t, demo.Generate(early, func(f *flows.Flow) error { a.Add(f); return nil }))
	s.Apply(a)
	require.NoError(t, s.Save())
	run("add", "-A")
	run("commit", "-q", "-m", "13 days")
	require.NoError(t, os.RemoveAll("allowlists"))
	s = demoStore(t, p, "allowlists")
	editNamespace(t, s.Dir, "tasks", func(n *allowlist.Namespace) {
		n.Egress = slices.DeleteFunc(n.Egress, func(e allowlist.Entry) bool { return e.Peer.Namespace == "dbaas" })
	})
	run("add", "-A")
	run("commit", "-q", "-m", "14 days, tasks without MySQL")
	return reopen(t, s)
}

func TestGitModeAndGolden(t *testing.T) {
	p := config.Default()
	s := gitRepo(t, p)
	r, err := Git(s, "HEAD~1", Options{Profile: p})
	require.NoError(t, err)
	require.Empty(t, r.Errors)
	require.Equal(t, ExitChanges, r.Summary.ExitCode)

	tasks := nsDiff(t, r, "tasks")
	require.Equal(t, []string{"TCP/3306 to dbaas {app.kubernetes.io/name=mysql}"}, changeTexts(tasks.Removed))
	ev := tasks.Removed[0].Evidence
	require.Len(t, ev.Entries, 1, "weighed by the store at the base ref")
	require.Equal(t, "namespace dbaas {app.kubernetes.io/name == 'mysql'}", ev.Entries[0].Peer)
	require.Positive(t, ev.Flows)
	require.Equal(t, ev.Flows, tasks.FlowsCut)
	require.Equal(t, "2026-11-26", day(ev.LastSeen), "the end of the last window the base store observed (13 days)")
	require.Equal(t, 13, ev.Days)

	n8n := nsDiff(t, r, "n8n")
	require.Equal(t, []string{"TCP/8443 to 35.190.80.1/32"}, changeTexts(n8n.Added))
	require.Positive(t, n8n.Added[0].Evidence.Flows)

	// Same ref: no changes.
	same, err := Git(s, "HEAD", Options{Profile: p})
	require.NoError(t, err)
	require.Equal(t, ExitNoChanges, same.Summary.ExitCode)
	require.Empty(t, same.Namespaces)

	_, err = Git(s, "no-such-ref", Options{Profile: p})
	require.ErrorContains(t, err, `--base "no-such-ref": not a commit`)

	var md bytes.Buffer
	require.NoError(t, WriteMarkdown(&md, r))
	golden := filepath.Join(goldenDir, "git.md")
	if *update {
		require.NoError(t, os.WriteFile(golden, md.Bytes(), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test ./internal/diff -update")
	require.Equal(t, string(want), md.String(), "golden %s differs; run go test ./internal/diff -update and review", golden)

	var js bytes.Buffer
	require.NoError(t, WriteJSON(&js, r))
	var doc map[string]any
	require.NoError(t, json.Unmarshal(js.Bytes(), &doc))
	require.Equal(t, "git", doc["mode"])
	require.EqualValues(t, ExitChanges, doc["summary"].(map[string]any)["exitCode"])
}

var goldenDir = func() string {
	wd, _ := os.Getwd()
	return filepath.Join(wd, "testdata")
}()

func TestMarkdownEscapesPolicyText(t *testing.T) {
	r := &Report{Mode: ModeFiles, Flavor: "calico", Old: "a|b", New: "<script>", Namespaces: []NamespaceDiff{{
		Namespace: "shop",
		Removed:   []Change{{Text: "TCP/80 to shop {app=`x` | [y](http://z) @team *b* _i_ <img>}"}},
		Policies:  []PolicyChange{{Policy: "NetworkPolicy shop/p", Change: "selector a -> b"}},
	}}}
	r.summarize()
	var b bytes.Buffer
	require.NoError(t, WriteMarkdown(&b, r))
	out := b.String()
	require.Contains(t, out, "a\\|b → &lt;script&gt;")
	require.Contains(t, out, "\\`x\\` \\| \\[y\\]\\(http://z\\) &#64;team \\*b\\* \\_i\\_ &lt;img&gt;")
	require.NotContains(t, out, "<img>")
	require.NotContains(t, out, "@team")
}

func TestLongNamespaceIsCollapsed(t *testing.T) {
	d := NamespaceDiff{Namespace: "big"}
	for i := 0; i < 10; i++ {
		d.Added = append(d.Added, Change{Text: "TCP/" + string(rune('0'+i)) + " to x"})
	}
	r := &Report{Namespaces: []NamespaceDiff{d}}
	r.summarize()
	var b bytes.Buffer
	require.NoError(t, WriteMarkdown(&b, r))
	require.Contains(t, b.String(), "<details><summary>big: \\+10 −0</summary>")
}
