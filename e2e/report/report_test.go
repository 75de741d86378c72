//go:build e2e

// Package report_test opens the HTML page 'calico-plan report -o html'
// writes in a real headless Chromium (Debian's chromium package): the page
// renders (the DOM Chromium builds has every section, the graph as SVG),
// every in-page link resolves to an element, nothing leaves the page, and
// a screenshot is produced. It also draws the Markdown report's mermaid
// block with the mermaid bundle from npm, as a forge does. The screenshot
// and the pages are kept under E2E_ARTIFACTS (default: a new temporary
// directory, named in the log).
//
//	make e2e-report
//	E2E_CHROMIUM=/usr/bin/chromium E2E_MERMAID=$(sh e2e/tools/mermaid.sh) go test -tags e2e -count=1 -v ./e2e/report
package report_test

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"
	"gopkg.in/yaml.v3"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/diff"
	"github.com/calico-plan/calico-plan/internal/graph"
	"github.com/calico-plan/calico-plan/internal/report"
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

// reportFiles builds calico-plan, observes the demo dataset into a git
// repository, makes a reviewed change (tasks loses MySQL, Redis moves to
// another port) and writes the HTML and the Markdown report of it.
func reportFiles(t *testing.T, dir string) (page, md string) {
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

	for _, f := range []string{"html", "md"} {
		file := filepath.Join(dir, "report."+f)
		out, err = runIn(bin, "report", "--store", "allowlists", "--base", "HEAD", "--from", filepath.Join(demo, "flows.log.gz"),
			"--cluster", filepath.Join(demo, "cluster.yaml"), "-o", f, "--out", file)
		var ee *exec.ExitError
		require.True(t, errors.As(err, &ee) && ee.ExitCode() == 3, "the change cuts observed traffic: exit 3, got %v: %s", err, out)
	}
	return filepath.Join(dir, "report.html"), filepath.Join(dir, "report.md")
}

// browse runs headless Chromium on the page with extra arguments.
func browse(t *testing.T, browser, page string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
		"--user-data-dir=" + t.TempDir(), "--disable-extensions", "--disable-background-networking", "--disable-quic",
		"--disable-component-update", "--disable-sync"}
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

func TestReportInChromium(t *testing.T) {
	browser := chromium(t)
	dir := os.Getenv("E2E_ARTIFACTS")
	if dir == "" {
		var err error
		dir, err = os.MkdirTemp("", "calico-plan-e2e-report-")
		require.NoError(t, err)
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	t.Logf("artifacts (the pages and the screenshot) in %s", dir)
	page, md := reportFiles(t, dir)
	t.Run("html", func(t *testing.T) { testPage(t, browser, dir, page) })
	t.Run("mermaid", func(t *testing.T) { testMermaid(t, browser, dir, md) })
}

// testPage loads the HTML report: it renders, its links resolve, nothing
// leaves the page, and a screenshot is produced.
func testPage(t *testing.T, browser, dir, page string) {
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

// mermaidJS returns the mermaid bundle, skipping (failing under CI=true)
// without one.
func mermaidJS(t *testing.T) string {
	t.Helper()
	p := os.Getenv("E2E_MERMAID")
	if p == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("E2E_MERMAID is not set: run make e2e-report (e2e/tools/mermaid.sh fetches mermaid from npm)")
		}
		t.Skip("E2E_MERMAID is not set: run make e2e-report")
	}
	return p
}

// renderMermaid draws a mermaid block with the mermaid bundle in Chromium,
// as a forge draws the comment's block, and returns the DOM after it.
func renderMermaid(t *testing.T, browser, dir, name, block string) *html.Node {
	t.Helper()
	js := mermaidJS(t)
	page := filepath.Join(dir, name+".html")
	harness := `<!DOCTYPE html><html><head><meta charset="utf-8"><script src="file://` + html.EscapeString(js) + `"></script></head><body>
<pre class="mermaid">` + html.EscapeString(block) + `</pre>
<div id="status">pending</div>
<script>
mermaid.initialize({startOnLoad: false, securityLevel: "strict"});
mermaid.run({querySelector: ".mermaid"})
  .then(() => { document.getElementById("status").textContent = "rendered"; })
  .catch((e) => { document.getElementById("status").textContent = "error: " + e; });
</script></body></html>`
	require.NoError(t, os.WriteFile(page, []byte(harness), 0o644))
	dom, err := html.Parse(bytes.NewReader(browse(t, browser, page, "--virtual-time-budget=30000", "--allow-file-access-from-files", "--dump-dom")))
	require.NoError(t, err)
	return dom
}

// mermaidBlock is the report's mermaid block.
func mermaidBlock(t *testing.T, md string) string {
	t.Helper()
	m := regexp.MustCompile("(?s)```mermaid\n(.*?)```").FindStringSubmatch(md)
	require.NotNil(t, m, "the report has a mermaid block")
	return m[1]
}

// drawn counts what mermaid drew and checks the status line.
func drawn(t *testing.T, dom *html.Node) (nodes, edges int, styles []string) {
	t.Helper()
	var status string
	scripts := 0
	walk(dom, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		if id, _ := attr(n, "id"); id == "status" {
			status = text(n)
		}
		cls, _ := attr(n, "class")
		switch {
		case n.Data == "script":
			scripts++
		case n.Data == "path":
			if v, _ := attr(n, "data-edge"); v == "true" {
				edges++
				st, _ := attr(n, "style")
				styles = append(styles, st)
			}
		case n.Data == "g" && strings.HasPrefix(cls, "node "):
			nodes++
		}
		for _, a := range n.Attr {
			require.False(t, strings.HasPrefix(a.Key, "on"), "event handler %s on <%s>", a.Key, n.Data)
		}
		require.NotContains(t, []string{"iframe", "img", "object", "embed"}, n.Data)
	})
	require.Equal(t, "rendered", status, "mermaid drew the block")
	require.Equal(t, 2, scripts, "only the harness's scripts: no label became one")
	return nodes, edges, styles
}

// testMermaid draws the Markdown report's graph with the real mermaid
// bundle: every node and edge is drawn and the change colours apply; a
// graph of hostile labels draws as text.
func testMermaid(t *testing.T, browser, dir, mdFile string) {
	b, err := os.ReadFile(mdFile)
	require.NoError(t, err)
	block := mermaidBlock(t, string(b))
	wantNodes := len(regexp.MustCompile(`(?m)^  n\d+[\[(]`).FindAllString(block, -1))
	wantEdges := len(regexp.MustCompile(`(?m)^  n\d+ (-->|-\.->)`).FindAllString(block, -1))
	require.Equal(t, 4, wantNodes)
	require.Equal(t, 3, wantEdges)

	dom := renderMermaid(t, browser, dir, "mermaid", block)
	nodes, edges, styles := drawn(t, dom)
	require.Equal(t, wantNodes, nodes)
	require.Equal(t, wantEdges, edges)
	all := strings.Join(styles, "\n")
	require.Contains(t, all, "stroke:#8250df", "the removed edge is coloured")
	require.Contains(t, all, "stroke:#0969da", "the changed edge is coloured")
	txt := text(dom)
	require.Contains(t, txt, "225 flows · removed")
	require.Contains(t, txt, "tasks")

	// Hostile labels, through the same writers.
	h := "evil\"ns'<script>alert(1)</script>\n# x `code` | a | b [x](javascript:alert(1)) <img src=x onerror=alert(2)> &amp;"
	g := &graph.Graph{
		Nodes: []graph.Node{{ID: "ns/" + h, Label: h, Kind: graph.KindNamespace, Stage: "staged", Tier: h}, {ID: "peer/x", Label: h, Kind: graph.KindPeer}},
		Edges: []graph.Edge{{From: "ns/" + h, To: "peer/x", Kind: report.EdgeAdded, Ports: []string{h}, Detail: h, Flows: 9}},
	}
	var buf bytes.Buffer
	require.NoError(t, report.WriteMarkdown(&buf, report.Build(report.Input{Diff: &diff.Report{}, Graph: g})))
	dom = renderMermaid(t, browser, dir, "mermaid-hostile", mermaidBlock(t, buf.String()))
	nodes, edges, _ = drawn(t, dom)
	require.Equal(t, 2, nodes)
	require.Equal(t, 1, edges)
	require.Contains(t, text(dom), "<script>alert(1)</script>", "the label is shown as text")
}
