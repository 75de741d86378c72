//go:build e2e

// Package report_test opens the HTML page 'calico-plan report -o html'
// writes in a real headless Chromium (Debian's chromium package): the page
// renders (the DOM Chromium builds has every section, the graph as SVG),
// every in-page link resolves to an element, nothing leaves the page, and
// a screenshot is produced. The screenshot and the page are kept under
// E2E_ARTIFACTS (default: a new temporary directory, named in the log).
//
//	make e2e-report
//	E2E_CHROMIUM=/usr/bin/chromium go test -tags e2e -count=1 -v ./e2e/report
package report_test

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"
	"gopkg.in/yaml.v3"

	"github.com/calico-plan/calico-plan/allowlist"
)

// chromium returns the browser, skipping (failing under CI=true) without one.
func chromium(t *testing.T) string {
	t.Helper()
	p := os.Getenv("E2E_CHROMIUM")
	if p == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("E2E_CHROMIUM is not set: run make e2e-report (e2e/tools/chromium.sh finds or installs Debian's chromium)")
		}
		t.Skip("E2E_CHROMIUM is not set: run make e2e-report")
	}
	return p
}

// reportPage builds calico-plan, observes the demo dataset into a git
// repository, makes a reviewed change (tasks loses MySQL, Redis moves to
// another port) and writes the HTML report of it.
func reportPage(t *testing.T, dir string) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	bin := filepath.Join(t.TempDir(), "calico-plan")
	build := exec.Command("go", "build", "-o", bin, "./cmd/calico-plan")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	repo := t.TempDir()
	env := append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null")
	runIn := func(name string, args ...string) ([]byte, error) {
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = repo, env
		return cmd.CombinedOutput()
	}
	must := func(name string, args ...string) {
		out, err := runIn(name, args...)
		require.NoError(t, err, "%s %v: %s", name, args, out)
	}
	demo := filepath.Join(root, "testdata", "demo")
	must("git", "init", "-q", "-b", "main")
	must(bin, "observe", "--store", "allowlists", "--from", filepath.Join(demo, "flows.log.gz"), "--namespace-file", filepath.Join(demo, "namespaces.yaml"))
	must("git", "add", "-A")
	must("git", "commit", "-q", "-m", "observed")

	path := filepath.Join(repo, "allowlists", "tasks.yaml")
	n, err := allowlist.LoadNamespaceFile(path)
	require.NoError(t, err)
	n.Egress = slices.DeleteFunc(n.Egress, func(e allowlist.Entry) bool { return e.Peer.Namespace == "dbaas" })
	for i := range n.Egress {
		for j := range n.Egress[i].Ports {
			if n.Egress[i].Ports[j].Port == "TCP/6379" {
				n.Egress[i].Ports[j].Port = "TCP/6380"
			}
		}
	}
	b, err := yaml.Marshal(n)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o644))

	page := filepath.Join(dir, "report.html")
	out, err = runIn(bin, "report", "--store", "allowlists", "--base", "HEAD", "--from", filepath.Join(demo, "flows.log.gz"),
		"--cluster", filepath.Join(demo, "cluster.yaml"), "-o", "html", "--out", page)
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee) && ee.ExitCode() == 3, "the change cuts observed traffic: exit 3, got %v: %s", err, out)
	return page
}

// browse runs headless Chromium on the page with extra arguments.
func browse(t *testing.T, browser, page string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
		"--user-data-dir=" + t.TempDir(), "--disable-extensions", "--disable-background-networking"}
	cmd := exec.CommandContext(ctx, browser, append(append(base, args...), "file://"+page)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "chromium %v: %s", args, stderr.String())
	return stdout.Bytes()
}

func walk(n *html.Node, fn func(*html.Node)) {
	fn(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, fn)
	}
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func text(n *html.Node) string {
	var b strings.Builder
	walk(n, func(x *html.Node) {
		if x.Type == html.TextNode {
			b.WriteString(x.Data)
		}
	})
	return b.String()
}

func TestReportPageInChromium(t *testing.T) {
	browser := chromium(t)
	dir := os.Getenv("E2E_ARTIFACTS")
	if dir == "" {
		var err error
		dir, err = os.MkdirTemp("", "calico-plan-e2e-report-")
		require.NoError(t, err)
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	t.Logf("artifacts (the page and its screenshot) in %s", dir)
	page := reportPage(t, dir)

	// The DOM Chromium built from the page.
	dom, err := html.Parse(bytes.NewReader(browse(t, browser, page, "--dump-dom")))
	require.NoError(t, err)
	ids := map[string]bool{}
	var links, h2 []string
	var paths, svgs, rows int
	walk(dom, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		if id, ok := attr(n, "id"); ok {
			require.False(t, ids[id], "id %q twice", id)
			ids[id] = true
		}
		require.NotEqual(t, "script", n.Data, "the page runs no script")
		if _, ok := attr(n, "src"); ok {
			t.Errorf("<%s src> loads a resource", n.Data)
		}
		if href, ok := attr(n, "href"); ok {
			require.True(t, strings.HasPrefix(href, "#"), "link %q leaves the page", href)
			links = append(links, href[1:])
		}
		switch n.Data {
		case "h2":
			h2 = append(h2, text(n))
		case "svg":
			svgs++
		case "path":
			paths++
		case "tbody":
			// The graph's edge table: its header names "detail".
			if head := n.PrevSibling; head != nil {
				for head != nil && head.Type != html.ElementNode {
					head = head.PrevSibling
				}
				if head != nil && head.Data == "thead" && strings.Contains(text(head), "detail") {
					for c := n.FirstChild; c != nil; c = c.NextSibling {
						if c.Type == html.ElementNode && c.Data == "tr" {
							rows++
						}
					}
				}
			}
		}
	})
	require.Len(t, h2, 5, "sections: %q", h2)
	for i, prefix := range []string{"Summary", "Diff: 1 namespace changed", "Check: 224 problems", "Egress graph of what changes", "Wave plan"} {
		require.True(t, strings.HasPrefix(h2[i], prefix), "section %d is %q, want %q", i, h2[i], prefix)
	}
	require.Equal(t, 1, svgs, "the graph is drawn as inline SVG")
	require.Equal(t, 3, paths, "one curve per edge: removed MySQL, changed Redis, DNS")
	require.Equal(t, paths, rows, "the edge table lists every curve")
	require.GreaterOrEqual(t, len(links), 10)
	for _, l := range links {
		require.True(t, ids[l], "link #%s has no target", l)
	}

	// The screenshot: a PNG of the requested size with content in it.
	shot := filepath.Join(dir, "report.png")
	if err := os.Remove(shot); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	browse(t, browser, page, "--screenshot="+shot, "--window-size=1200,2000")
	f, err := os.Open(shot)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	require.Equal(t, 1200, img.Bounds().Dx())
	require.Equal(t, 2000, img.Bounds().Dy())
	colours := map[[3]uint32]bool{}
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y += 4 {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x += 4 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, b >> 8}] = true
		}
	}
	require.Greater(t, len(colours), 20, "the screenshot shows the page, not a blank window")
	st, err := os.Stat(shot)
	require.NoError(t, err)
	t.Logf("screenshot %s: %d bytes, %d colours sampled", shot, st.Size(), len(colours))
}
