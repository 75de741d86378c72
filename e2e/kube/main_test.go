//go:build e2e

package kube

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/calico-plan/calico-plan/internal/cluster"
)

// env is what every test shares: one API server with the demo cluster's
// namespaces, CronJobs, nodes and Calico objects, the calico-plan binary
// and the demo store.
var env struct {
	tools   tools
	srv     *apiServer
	bin     string // calico-plan
	root    string // module root
	store   string // demo store, observed once; tests copy it
	seed    string // the demo cluster's objects (seedDemoCluster)
	crdKind []string
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		return 1
	}
	var err error
	if env.tools, err = findTools(); err != nil {
		return fail(err)
	}
	tmp, err := os.MkdirTemp("", "calico-plan-e2e-kube-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(tmp)
	if env.root, err = filepath.Abs(filepath.Join("..", "..")); err != nil {
		return fail(err)
	}
	env.bin = filepath.Join(tmp, "calico-plan")
	build := exec.Command("go", "build", "-o", env.bin, "./cmd/calico-plan")
	build.Dir, build.Stderr = env.root, os.Stderr
	if err := build.Run(); err != nil {
		return fail(fmt.Errorf("go build ./cmd/calico-plan: %v", err))
	}
	ctx := context.Background()
	start := time.Now()
	if env.srv, err = startAPIServer(ctx, env.tools, tmp); err != nil {
		return fail(err)
	}
	defer env.srv.stop()
	fmt.Fprintf(os.Stderr, "e2e: etcd and kube-apiserver ready at %s in %s\n", env.srv.url, time.Since(start).Round(time.Millisecond))
	if err := installCalicoCRDs(tmp); err != nil {
		return fail(env.srv.failure(err))
	}
	if err := seedDemoCluster(tmp); err != nil {
		return fail(env.srv.failure(err))
	}
	env.store = filepath.Join(tmp, "demo-store")
	if _, stderr, err := calicoPlan("observe", "--store", env.store, "--from", filepath.Join(env.root, "testdata/demo/flows.log.gz"),
		"--namespace-file", filepath.Join(env.root, "testdata/demo/namespaces.yaml")); err != nil {
		return fail(fmt.Errorf("observe the demo data: %v\n%s", err, stderr))
	}
	return m.Run()
}

// installCalicoCRDs installs Calico's CRDs (tigera/operator
// pkg/crds/calico) under the group projectcalico.org, version v3.
//
// The substitution: in a real cluster, projectcalico.org/v3 is served by
// the Calico API server (an aggregated API server with its own validation),
// and the CRDs are crd.projectcalico.org/v1, which only Calico's own
// components write. Calico's CRDs carry the same spec schema as the v3
// types, so serving them as projectcalico.org/v3 lets the API server
// validate calico-plan's projectcalico.org/v3 objects against that schema
// as they are written: unknown fields, types, required fields. The CRD
// schema does not check enums (action, protocol) or selector syntax: the
// Calico API server does, and calico-plan's own evaluator and selector
// parser are tested for those.
func installCalicoCRDs(dir string) error {
	entries, err := os.ReadDir(env.tools.crds)
	if err != nil {
		return err
	}
	var docs [][]byte
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "crd.projectcalico.org_") || !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(env.tools.crds, e.Name()))
		if err != nil {
			return err
		}
		var crd map[string]any
		if err := yaml.Unmarshal(b, &crd); err != nil {
			return fmt.Errorf("%s: %v", e.Name(), err)
		}
		spec, _ := crd["spec"].(map[string]any)
		names, _ := spec["names"].(map[string]any)
		plural, _ := names["plural"].(string)
		versions, _ := spec["versions"].([]any)
		if spec == nil || plural == "" || len(versions) != 1 {
			return fmt.Errorf("%s: not the CRD layout this test knows (spec.names.plural, one version)", e.Name())
		}
		spec["group"] = "projectcalico.org"
		versions[0].(map[string]any)["name"] = "v3"
		crd["metadata"] = map[string]any{"name": plural + ".projectcalico.org"}
		env.crdKind = append(env.crdKind, names["kind"].(string))
		out, err := yaml.Marshal(crd)
		if err != nil {
			return err
		}
		docs = append(docs, out)
	}
	if len(docs) < 10 {
		return fmt.Errorf("only %d Calico CRDs in %s", len(docs), env.tools.crds)
	}
	path := filepath.Join(dir, "calico-crds-v3.yaml")
	if err := os.WriteFile(path, bytes.Join(docs, []byte("---\n")), 0o600); err != nil {
		return err
	}
	// Server-side: the CRDs are too large for the last-applied annotation.
	if out, err := kubectl(env.srv.admin, "apply", "--server-side", "-f", path); err != nil {
		return fmt.Errorf("install CRDs: %v\n%s", err, out)
	}
	if out, err := kubectl(env.srv.admin, "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"); err != nil {
		return fmt.Errorf("CRDs not established: %v\n%s", err, out)
	}
	sort.Strings(env.crdKind)
	return nil
}

// seedDemoCluster creates the demo cluster (testdata/demo/cluster.yaml) as
// real objects: namespaces with their labels, the CronJobs, nodes with
// their addresses and the Calico objects.
func seedDemoCluster(dir string) error {
	facts, err := cluster.LoadSnapshot(filepath.Join(env.root, "testdata/demo/cluster.yaml"))
	if err != nil {
		return err
	}
	var objs []any
	for _, n := range facts.Namespaces {
		if n.Name == "kube-system" {
			continue // the API server makes it
		}
		objs = append(objs, map[string]any{"apiVersion": "v1", "kind": "Namespace",
			"metadata": map[string]any{"name": n.Name, "labels": n.Labels}})
	}
	for _, c := range facts.CronJobs {
		spec := map[string]any{"schedule": c.Schedule, "jobTemplate": map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"restartPolicy": "OnFailure",
			"containers":    []any{map[string]any{"name": "job", "image": "busybox"}},
		}}}}}
		if c.TimeZone != "" {
			spec["timeZone"] = c.TimeZone
		}
		objs = append(objs, map[string]any{"apiVersion": "batch/v1", "kind": "CronJob",
			"metadata": map[string]any{"name": c.Name, "namespace": c.Namespace}, "spec": spec})
	}
	for _, n := range facts.Nodes {
		var addrs []any
		for _, ip := range n.InternalIPs {
			addrs = append(addrs, map[string]any{"type": "InternalIP", "address": ip})
		}
		objs = append(objs, map[string]any{"apiVersion": "v1", "kind": "Node",
			"metadata": map[string]any{"name": n.Name}, "status": map[string]any{"addresses": addrs}})
	}
	for _, c := range facts.CalicoObjects {
		meta := map[string]any{"name": c.Name}
		if c.Namespace != "" {
			meta["namespace"] = c.Namespace
		}
		if len(c.Labels) > 0 {
			meta["labels"] = c.Labels
		}
		objs = append(objs, map[string]any{"apiVersion": "projectcalico.org/v3", "kind": c.Kind, "metadata": meta, "spec": c.Spec})
	}
	var docs [][]byte
	for _, o := range objs {
		b, err := yaml.Marshal(o)
		if err != nil {
			return err
		}
		docs = append(docs, b)
	}
	path := filepath.Join(dir, "demo-cluster.yaml")
	if err := os.WriteFile(path, bytes.Join(docs, []byte("---\n")), 0o600); err != nil {
		return err
	}
	env.seed = path
	if out, err := kubectl(env.srv.admin, "apply", "-f", path); err != nil {
		return fmt.Errorf("seed the demo cluster: %v\n%s", err, out)
	}
	return nil
}

// kubectl runs kubectl with a kubeconfig; it returns stdout and stderr.
func kubectl(kubeconfig string, args ...string) (string, error) {
	cmd := exec.Command(env.tools.kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// calicoPlan runs the calico-plan binary; it returns stdout and stderr.
func calicoPlan(args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(env.bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=/nonexistent-use-flags")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
