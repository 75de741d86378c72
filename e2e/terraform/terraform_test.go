//go:build e2e

// Package terraform_test runs real Terraform on every `-o hcl` variant
// calico-plan writes: `terraform fmt -check`, `init` (offline, from the
// filesystem mirror e2e/tools/terraform-env.sh lays out), `validate`, and
// `plan` where the resources plan without a cluster (kubectl_manifest,
// kubernetes_network_policy_v1, kubernetes_labels; kubernetes_manifest reads
// the cluster's OpenAPI at plan time and is validated only).
//
// hashicorp/kubernetes cannot be built from the Go module proxy (see
// terraform-env.sh): where the mirror has no build of it, modules with its
// resource types run the stages on a copy without them (or `fmt -check`
// only when nothing else is left), and render's schema test
// (render/hclschema_test.go) is what checks those types.
//
//	make e2e-terraform
//	go test -tags e2e -count=1 -parallel 2 ./e2e/terraform
package terraform_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

var (
	root     string // module root
	bin      string // calico-plan, built once
	tfBin    string
	tfEnv    []string
	hasK8s   bool // hashicorp/kubernetes in the mirror
	workDir  string
	variants []*variant

	mu      sync.Mutex
	results = map[string]map[string]string{} // variant → stage → "pass", "fail" or "skip: why"
)

// stages in order.
var stages = []string{"render", "fmt", "init", "validate", "plan"}

func record(v, stage, res string) {
	mu.Lock()
	defer mu.Unlock()
	if results[v] == nil {
		results[v] = map[string]string{}
	}
	results[v][stage] = res
}

// A variant is one way of rendering -o hcl; it writes one or more module
// directories (a flat --out is one, --layout stacks one per stack).
type variant struct {
	name    string
	args    []string // calico-plan render args, after --store; "--out DIR" appended unless stdout
	stdout  bool     // render to stdout into main.tf
	store   string
	copyDir string // a directory to test as is (deploy/terraform)
	modules []string
	err     error
}

func TestMain(m *testing.M) {
	code, err := setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e/terraform setup:", err)
		os.Exit(1)
	}
	if code != 0 {
		os.Exit(code)
	}
	code = m.Run()
	summary()
	if os.Getenv("CALICO_PLAN_E2E_KEEP") == "" {
		os.RemoveAll(workDir)
	} else {
		fmt.Fprintln(os.Stderr, "kept", workDir)
	}
	os.Exit(code)
}

func setup() (int, error) {
	wd, err := os.Getwd()
	if err != nil {
		return 1, err
	}
	root = filepath.Clean(filepath.Join(wd, "..", ".."))
	if workDir, err = os.MkdirTemp("", "calico-plan-e2e-terraform-"); err != nil {
		return 1, err
	}

	// Terraform and its providers, offline.
	out, err := exec.Command("bash", filepath.Join(root, "e2e", "tools", "terraform-env.sh")).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			os.Stderr.Write(ee.Stderr)
		}
		return 1, fmt.Errorf("e2e/tools/terraform-env.sh: %w", err)
	}
	home := filepath.Join(workDir, "home") // no kubeconfig: nothing reaches a cluster
	if err := os.MkdirAll(home, 0o755); err != nil {
		return 1, err
	}
	tfEnv = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1", "TF_INPUT=0"}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch k {
		case "CALICO_PLAN_TF":
			tfBin = v
		case "TF_CLI_CONFIG_FILE":
			tfEnv = append(tfEnv, k+"="+v)
		case "CALICO_PLAN_TF_KUBERNETES":
			hasK8s = v == "1"
		}
	}
	if tfBin == "" {
		return 1, fmt.Errorf("terraform-env.sh printed no CALICO_PLAN_TF")
	}

	bin = filepath.Join(workDir, "calico-plan")
	build := exec.Command("go", "build", "-o", bin, "./cmd/calico-plan")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return 1, fmt.Errorf("building calico-plan: %w", err)
	}
	if err := makeStores(); err != nil {
		return 1, err
	}
	makeVariants()
	return 0, nil
}

func cli(args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = workDir
	cmd.Env = append(os.Environ(), "HOME="+filepath.Join(workDir, "home"), "KUBECONFIG=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("calico-plan %s: %w\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

var (
	demoStore, rolloutStore, collideStore string
	demoCluster                           string
)

// makeStores observes the demo flows into three stores: as is, with a
// rollout under way (staged and enforced namespaces), and with two
// namespaces whose names sanitise alike (a-b, a--b).
func makeStores() error {
	flowsGz := filepath.Join(root, "testdata", "demo", "flows.log.gz")
	nsFile := filepath.Join(root, "testdata", "demo", "namespaces.yaml")
	demoCluster = filepath.Join(root, "testdata", "demo", "cluster.yaml")
	demoStore = filepath.Join(workDir, "demo-store")
	if _, err := cli("observe", "--store", demoStore, "--from", flowsGz, "--namespace-file", nsFile); err != nil {
		return err
	}
	rolloutStore = filepath.Join(workDir, "rollout-store")
	if _, err := cli("observe", "--store", rolloutStore, "--from", flowsGz, "--namespace-file", nsFile); err != nil {
		return err
	}
	for _, step := range [][]string{
		{"--namespace", "proxy", "--to", "staged"},
		{"--namespace", "recruiter-responder", "--to", "staged"},
		{"--namespace", "tasks", "--to", "staged"},
		{"--namespace", "tasks", "--to", "enforced"},
	} {
		args := append([]string{"promote", "--store", rolloutStore, "--cluster", demoCluster, "--force", "--reason", "e2e", "--by", "e2e", "--now", "2026-11-28T08:00:00Z"}, step...)
		if _, err := cli(args...); err != nil {
			return err
		}
	}

	// a-b and a--b: the tasks flows under both names.
	zc := exec.Command("gzip", "-dc", flowsGz)
	raw, err := zc.Output()
	if err != nil {
		return fmt.Errorf("gzip -dc %s: %w", flowsGz, err)
	}
	var fl bytes.Buffer
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.Contains(line, `"source_namespace":"tasks"`) {
			for _, ns := range []string{"a-b", "a--b"} {
				fl.WriteString(strings.ReplaceAll(line, `"source_namespace":"tasks"`, `"source_namespace":"`+ns+`"`) + "\n")
			}
		}
	}
	var nsl strings.Builder
	nsl.WriteString("apiVersion: v1\nkind: NamespaceList\nitems:\n")
	for _, ns := range []string{"a-b", "a--b", "tasks", "dbaas"} {
		nsl.WriteString("  - apiVersion: v1\n    kind: Namespace\n    metadata:\n      name: " + ns + "\n      labels: {kubernetes.io/metadata.name: " + ns + ", tier: 4-aux}\n")
	}
	cf, cn := filepath.Join(workDir, "collide.log"), filepath.Join(workDir, "collide-ns.yaml")
	if err := os.WriteFile(cf, fl.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(cn, []byte(nsl.String()), 0o644); err != nil {
		return err
	}
	collideStore = filepath.Join(workDir, "collide-store")
	_, err = cli("observe", "--store", collideStore, "--from", cf, "--namespace-file", cn)
	return err
}

// makeVariants renders every variant (sequentially: renders are fast, and
// the terraform runs that follow are what run in parallel).
func makeVariants() {
	// k8s flavor: every namespace but servarr, whose public entry has no
	// addresses and so cannot be a Kubernetes ipBlock.
	var k8sNS []string
	ents, _ := os.ReadDir(demoStore)
	for _, e := range ents {
		n := strings.TrimSuffix(e.Name(), ".yaml")
		if strings.HasSuffix(e.Name(), ".yaml") && !strings.HasPrefix(n, "_") && n != "servarr" {
			k8sNS = append(k8sNS, "--namespace", n)
		}
	}
	all := []string{"--all", "--allow-unstable"}
	cluster := []string{"--cluster", demoCluster}
	always := []string{"--hcl-required-providers", "always"}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	variants = []*variant{
		{name: "flat-calico-kubectl_manifest", store: demoStore, args: cat(all, []string{"--flavor", "calico"})},
		{name: "flat-calico-kubernetes_manifest", store: demoStore, args: cat(all, []string{"--flavor", "calico", "--hcl-resource", "kubernetes_manifest"})},
		{name: "flat-calico-staged-kubectl_manifest", store: demoStore, args: cat(all, []string{"--flavor", "calico-staged"})},
		{name: "flat-calico-staged-kubernetes_manifest", store: demoStore, args: cat(all, []string{"--flavor", "calico-staged", "--hcl-resource", "kubernetes_manifest"})},
		{name: "flat-k8s", store: demoStore, args: cat(k8sNS, []string{"--flavor", "k8s", "--allow-unstable"})},
		{name: "stacks-calico-staged-kubectl_manifest", store: demoStore, args: cat(all, []string{"--flavor", "calico-staged", "--layout", "stacks"}, always)},
		{name: "stacks-calico-kubernetes_manifest", store: demoStore, args: cat(all, []string{"--flavor", "calico", "--layout", "stacks", "--hcl-resource", "kubernetes_manifest"}, always)},
		{name: "stdout-calico-staged", store: demoStore, stdout: true, args: cat(all, []string{"--flavor", "calico-staged"}, always)},
		{name: "rollout-flat", store: rolloutStore, args: cat([]string{"--rollout"}, cluster)},
		{name: "rollout-flat-no-stage-labels", store: rolloutStore, args: cat([]string{"--rollout", "--hcl-stage-labels", "none"}, cluster)},
		{name: "rollout-flat-k8s", store: rolloutStore, args: cat([]string{"--rollout", "--flavor", "k8s"}, cluster)},
		{name: "rollout-stacks", store: rolloutStore, args: cat([]string{"--rollout", "--layout", "stacks"}, cluster, always)},
		{name: "wave-1", store: rolloutStore, args: cat([]string{"--wave", "1"}, cluster)},
		{name: "colliding-names-calico-staged", store: collideStore, args: cat(all, []string{"--flavor", "calico-staged"})},
		{name: "colliding-names-k8s", store: collideStore, args: cat(all, []string{"--flavor", "k8s"})},
	}
	if _, err := os.Stat(filepath.Join(root, "deploy", "terraform")); err == nil {
		variants = append(variants, &variant{name: "deploy-terraform", copyDir: filepath.Join(root, "deploy", "terraform")})
	}
	for _, v := range variants {
		dir := filepath.Join(workDir, "variants", v.name)
		v.err = renderVariant(v, dir)
		if v.err == nil {
			v.modules, v.err = moduleDirs(dir)
		}
	}
}

func renderVariant(v *variant, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if v.copyDir != "" {
		ents, err := os.ReadDir(v.copyDir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".tf") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(v.copyDir, e.Name()))
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
				return err
			}
		}
		return nil
	}
	args := append([]string{"render", "--store", v.store, "-o", "hcl"}, v.args...)
	if v.stdout {
		out, err := cli(args...)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, "main.tf"), []byte(out), 0o644)
	}
	_, err := cli(append(args, "--out", dir)...)
	return err
}

// moduleDirs lists the directories under dir that hold .tf files.
func moduleDirs(dir string) ([]string, error) {
	seen := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".tf") {
			seen[filepath.Dir(p)] = true
		}
		return nil
	})
	var out []string
	for d := range seen {
		out = append(out, d)
	}
	sort.Strings(out)
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("no .tf files under %s", dir)
	}
	return out, err
}

var resourceRE = regexp.MustCompile(`(?m)^resource "([a-z0-9_]+)"`)

// resourceTypes of a module directory.
func resourceTypes(dir string) (map[string]bool, error) {
	out := map[string]bool{}
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, m := range resourceRE.FindAllSubmatch(b, -1) {
			out[string(m[1])] = true
		}
	}
	return out, nil
}

// offlinePlan: resource types that plan without a cluster.
var offlinePlan = map[string]bool{"kubectl_manifest": true, "kubernetes_network_policy_v1": true, "kubernetes_labels": true,
	"kubernetes_service_account_v1": true, "kubernetes_persistent_volume_claim_v1": true, "kubernetes_cron_job_v1": true, "kubernetes_deployment_v1": true}

func tf(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := tfRun(dir, args...)
	if err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", filepath.Base(tfBin), strings.Join(args, " "), dir, err, out)
	}
	return out
}

func tfRun(dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tfBin, args...)
	cmd.Dir, cmd.Env = dir, tfEnv
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// resourceCount of a module directory.
func resourceCount(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	files, _ := filepath.Glob(filepath.Join(dir, "*.tf"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n += len(resourceRE.FindAll(b, -1))
	}
	return n
}

// TestTerraformCatchesDuplicates: the harness fails on what Terraform
// rejects (here two resources of one address in two files, as namespaces
// a-b and a--b once gave), so its passes mean something.
func TestTerraformCatchesDuplicates(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(workDir, "negative")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	res := "resource \"kubectl_manifest\" \"egress_allowlist_a_b\" {\n  yaml_body = yamlencode({ kind = \"x\" })\n}\n"
	prov := "terraform {\n  required_providers {\n    kubectl = {\n      source = \"gavinbunney/kubectl\"\n    }\n  }\n}\n"
	for name, src := range map[string]string{"a-b.tf": res, "a--b.tf": res, "_providers.tf": prov} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := tfRun(dir, "init", "-input=false", "-no-color", "-backend=false")
	if err == nil {
		out, err = tfRun(dir, "validate", "-no-color")
	}
	if err == nil || !strings.Contains(out, "Duplicate resource") {
		t.Fatalf("want a Duplicate resource error, got %v:\n%s", err, out)
	}
}

// TestTerraform: each variant, each of its modules, through the stages.
func TestTerraform(t *testing.T) {
	if len(variants) < 10 {
		t.Fatalf("only %d variants", len(variants))
	}
	for _, v := range variants {
		v := v
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			stage := "render"
			defer func() {
				if t.Failed() {
					record(v.name, stage, "fail")
				}
			}()
			if v.err != nil {
				t.Fatal(v.err)
			}
			record(v.name, "render", "pass")

			stage = "fmt"
			for _, d := range v.modules {
				tf(t, d, "fmt", "-check", "-diff", "-no-color")
			}
			record(v.name, "fmt", "pass")

			// Without hashicorp/kubernetes in the mirror, the modules are
			// checked without its resources (render's schema test checks
			// those), and the stages say so.
			modules, pass := v.modules, "pass"
			if !hasK8s && needsKubernetes(t, modules) {
				var err error
				if modules, err = withoutKubernetes(modules, filepath.Join(workDir, "stripped", v.name)); err != nil {
					t.Fatal(err)
				}
				if len(modules) == 0 {
					why := "skip: only hashicorp/kubernetes resources, not in the mirror (render/hclschema_test.go checks them)"
					for _, s := range []string{"init", "validate", "plan"} {
						record(v.name, s, why)
					}
					t.Log(why)
					return
				}
				pass = "partial: without its hashicorp/kubernetes resources (not in the mirror; render/hclschema_test.go checks them)"
				t.Log(pass)
			}
			planable := true
			for _, d := range modules {
				types, err := resourceTypes(d)
				if err != nil {
					t.Fatal(err)
				}
				for typ := range types {
					if !offlinePlan[typ] {
						planable = false
					}
				}
			}

			stage = "init"
			for _, d := range modules {
				tf(t, d, "init", "-input=false", "-no-color", "-backend=false")
			}
			record(v.name, "init", pass)

			stage = "validate"
			for _, d := range modules {
				tf(t, d, "validate", "-no-color")
			}
			record(v.name, "validate", pass)

			if !planable {
				record(v.name, "plan", "skip: kubernetes_manifest plans against the cluster's OpenAPI")
				return
			}
			stage = "plan"
			for _, d := range modules {
				out := tf(t, d, "plan", "-input=false", "-no-color", "-lock=false", "-refresh=false")
				// Every generated resource is planned (deploy/terraform has
				// count = 0 resources: one of the two modes).
				want := fmt.Sprintf("Plan: %d to add, 0 to change, 0 to destroy.", resourceCount(t, d))
				if v.copyDir != "" {
					want = "Plan: "
				}
				if !strings.Contains(out, want) {
					t.Fatalf("plan in %s: want %q:\n%s", d, want, out)
				}
			}
			record(v.name, "plan", pass)
		})
	}
}

// needsKubernetes: whether a module uses hashicorp/kubernetes resources.
func needsKubernetes(t *testing.T, modules []string) bool {
	for _, d := range modules {
		types, err := resourceTypes(d)
		if err != nil {
			t.Fatal(err)
		}
		for typ := range types {
			if strings.HasPrefix(typ, "kubernetes_") {
				return true
			}
		}
	}
	return false
}

// withoutKubernetes copies each module under dst without its
// hashicorp/kubernetes resources and without that provider in
// required_providers; modules left with no resource are dropped.
func withoutKubernetes(modules []string, dst string) ([]string, error) {
	var out []string
	for i, d := range modules {
		nd := filepath.Join(dst, fmt.Sprint(i))
		if err := os.MkdirAll(nd, 0o755); err != nil {
			return nil, err
		}
		files, err := filepath.Glob(filepath.Join(d, "*.tf"))
		if err != nil {
			return nil, err
		}
		left := 0
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			hf, diags := hclwrite.ParseConfig(src, f, hcl.InitialPos)
			if diags.HasErrors() {
				return nil, diags
			}
			for _, b := range hf.Body().Blocks() {
				switch {
				case b.Type() == "resource" && strings.HasPrefix(b.Labels()[0], "kubernetes_"):
					hf.Body().RemoveBlock(b)
				case b.Type() == "resource":
					left++
				case b.Type() == "terraform":
					for _, rp := range b.Body().Blocks() {
						if rp.Type() == "required_providers" {
							rp.Body().RemoveAttribute("kubernetes")
						}
					}
				}
			}
			if err := os.WriteFile(filepath.Join(nd, filepath.Base(f)), hf.Bytes(), 0o644); err != nil {
				return nil, err
			}
		}
		if left > 0 {
			out = append(out, nd)
		}
	}
	return out, nil
}

// summary prints, per stage, how many variants passed, failed and were
// skipped, and each variant's line.
func summary() {
	mu.Lock()
	defer mu.Unlock()
	var names []string
	for n := range results {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Printf("\nterraform e2e: %s (%s), hashicorp/kubernetes in mirror: %v\n", filepath.Base(tfBin), tfBin, hasK8s)
	for _, s := range stages {
		pass, partial, fail, skip := 0, 0, 0, 0
		for _, n := range names {
			switch r := results[n][s]; {
			case r == "pass":
				pass++
			case strings.HasPrefix(r, "partial"):
				partial++
			case r == "fail":
				fail++
			default:
				skip++
			}
		}
		fmt.Printf("  %-8s %2d passed, %d passed without hashicorp/kubernetes resources, %d failed, %d skipped or not reached\n", s, pass, partial, fail, skip)
	}
	for _, n := range names {
		var parts []string
		for _, s := range stages {
			r := results[n][s]
			if r == "" {
				r = "-"
			}
			parts = append(parts, s+"="+r)
		}
		fmt.Printf("  %s (%d modules): %s\n", n, moduleCount(n), strings.Join(parts, " "))
	}
}

func moduleCount(name string) int {
	for _, v := range variants {
		if v.name == name {
			return len(v.modules)
		}
	}
	return 0
}
