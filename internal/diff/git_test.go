package diff

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/config"
)

// gitRun runs git in dir for test set-up.
func gitRun(t testing.TB, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"}, args...)...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %v: %s", args, out)
}

// repoWithStore commits the demo store under repo/allowlists, plus files
// StoreAtRef must skip, and returns the store directory.
func repoWithStore(t testing.TB) (repo, storeDir string) {
	t.Helper()
	repo = t.TempDir()
	gitRun(t, repo, "init", "-q")
	storeDir = filepath.Join(repo, "allowlists")
	demoStore(t, config.Default(), storeDir)
	require.NoError(t, os.MkdirAll(filepath.Join(storeDir, "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(storeDir, "sub", "nested.yaml"), []byte("not: an allowlist\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(storeDir, "README.md"), []byte("notes\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(storeDir, ".hidden.yaml"), []byte("x: 1\n"), 0o644))
	gitRun(t, repo, "add", "-A")
	gitRun(t, repo, "commit", "-q", "-m", "store")
	return repo, storeDir
}

// StoreAtRef returns exactly the committed allowlists, not the working
// tree, and skips _store.yaml, hidden files, subdirectories and other files.
func TestStoreAtRefReadsTheCommittedFiles(t *testing.T) {
	_, storeDir := repoWithStore(t)
	committed, err := allowlist.Open(storeDir, config.Default())
	require.NoError(t, err)
	want := map[string]string{}
	for _, n := range committed.Namespaces() {
		b, err := os.ReadFile(filepath.Join(storeDir, n.Namespace+".yaml"))
		require.NoError(t, err)
		want[n.Namespace] = string(b)
	}
	require.Greater(t, len(want), 10)

	// Change the working tree: the ref must not see it.
	first := committed.Names()[0]
	require.NoError(t, os.WriteFile(filepath.Join(storeDir, first+".yaml"), []byte("garbage: ["), 0o644))
	require.NoError(t, os.Remove(filepath.Join(storeDir, committed.Names()[1]+".yaml")))

	got, err := StoreAtRef("HEAD", storeDir)
	require.NoError(t, err)
	require.Len(t, got, len(want))
	for _, n := range got {
		w, err := allowlist.ParseNamespace([]byte(want[n.Namespace]), n.Namespace)
		require.NoError(t, err)
		require.Equal(t, w, n, n.Namespace)
	}

	// A ref where the directory does not exist: an empty store.
	other := filepath.Join(filepath.Dir(storeDir), "elsewhere")
	got, err = StoreAtRef("HEAD", other)
	require.NoError(t, err)
	require.Empty(t, got)
}

// A broken file at the ref is reported with the ref and path.
func TestStoreAtRefNamesBrokenFiles(t *testing.T) {
	repo, storeDir := repoWithStore(t)
	require.NoError(t, os.WriteFile(filepath.Join(storeDir, "zz.yaml"), []byte("namespace: other\nversion: 1\n"), 0o644))
	gitRun(t, repo, "add", "-A")
	gitRun(t, repo, "commit", "-q", "-m", "bad")
	_, err := StoreAtRef("HEAD", storeDir)
	require.ErrorContains(t, err, "HEAD:allowlists/zz.yaml")
}

// BenchmarkStoreAtRef reads 500 committed allowlists from a git ref: one
// ls-tree and one cat-file process, whatever the number of files.
func BenchmarkStoreAtRef(b *testing.B) {
	repo, storeDir := repoWithStore(b)
	src, err := os.ReadFile(filepath.Join(storeDir, "recruiter-responder.yaml"))
	require.NoError(b, err)
	for i := range 500 {
		ns := fmt.Sprintf("bench-%03d", i)
		body := strings.ReplaceAll(string(src), "namespace: recruiter-responder", "namespace: "+ns)
		require.NoError(b, os.WriteFile(filepath.Join(storeDir, ns+".yaml"), []byte(body), 0o644))
	}
	gitRun(b, repo, "add", "-A")
	gitRun(b, repo, "commit", "-q", "-m", "500")
	b.ResetTimer()
	for b.Loop() {
		got, err := StoreAtRef("HEAD", storeDir)
		if err != nil || len(got) < 500 {
			b.Fatalf("%d namespaces, %v", len(got), err)
		}
	}
}

// diff --base sees a stage change with an unchanged allowlist: promoting a
// staged namespace to enforced is a change (exit 2), weighed by the flows
// the staged policy reported as would-deny, which the enforced one drops.
func TestGitStageChangeIsAChange(t *testing.T) {
	repo, storeDir := repoWithStore(t)
	p := config.Default()
	wouldDeny := allowlist.Entry{Peer: allowlist.Peer{Kind: allowlist.PeerPublic}, Workloads: []string{"api-*"},
		Ports: []allowlist.PortEvidence{{Port: "TCP/443", Evidence: allowlist.Evidence{Flows: 8, FirstSeen: 1795478400, LastSeen: 1795564800,
			Days: allowlist.DaySet{allowlist.DayOf(1795478400), allowlist.DayOf(1795564800)}}}}}
	editNamespace(t, storeDir, "recruiter-responder", func(n *allowlist.Namespace) {
		n.Rollout.Stage = allowlist.StageStaged
		n.WouldDeny = []allowlist.Entry{wouldDeny}
	})
	gitRun(t, repo, "add", "-A")
	gitRun(t, repo, "commit", "-q", "-m", "staged")
	st, err := allowlist.Open(storeDir, p)
	require.NoError(t, err)
	rep, err := Git(st, "HEAD", Options{Profile: p})
	require.NoError(t, err)
	require.Equal(t, ExitNoChanges, rep.Summary.ExitCode)

	editNamespace(t, storeDir, "recruiter-responder", func(n *allowlist.Namespace) { n.Rollout.Stage = allowlist.StageEnforced })
	st = reopen(t, st)
	rep, err = Git(st, "HEAD", Options{Profile: p})
	require.NoError(t, err)
	require.Equal(t, ExitChanges, rep.Summary.ExitCode)
	require.Equal(t, 1, rep.Summary.StageChanges)
	require.Len(t, rep.Namespaces, 1)
	d := rep.Namespaces[0]
	require.Equal(t, "recruiter-responder", d.Namespace)
	require.Equal(t, allowlist.StageStaged, d.Stage.From)
	require.Equal(t, allowlist.StageEnforced, d.Stage.To)
	require.EqualValues(t, 8, d.FlowsDropped)
	require.EqualValues(t, 8, rep.Summary.FlowsDropped)
	var b strings.Builder
	require.NoError(t, WriteText(&b, rep))
	require.Contains(t, b.String(), "recruiter-responder: staged -> enforced, +0 -0, enforcement drops 8 flows")
	require.Contains(t, b.String(), "drops public (would-deny since staging) TCP/443: 8 flows, last seen 2026-11-25")
	require.Contains(t, b.String(), "result: changes (exit 2)")

	// Rolled back: enforcement lifted, nothing dropped, still a change.
	gitRun(t, repo, "add", "-A")
	gitRun(t, repo, "commit", "-q", "-m", "enforced")
	editNamespace(t, storeDir, "recruiter-responder", func(n *allowlist.Namespace) { n.Rollout.Stage = allowlist.StageObserve })
	rep, err = Git(reopen(t, st), "HEAD", Options{Profile: p})
	require.NoError(t, err)
	require.Equal(t, ExitChanges, rep.Summary.ExitCode)
	require.Contains(t, rep.Namespaces[0].Stage.Effect, "enforcement lifted")
	require.Zero(t, rep.Summary.FlowsDropped)
}
