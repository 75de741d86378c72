package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// deployDocs strictly decodes every document of a deploy/ manifest into its
// Kubernetes type, so a typo in a field fails the build.
func deployDocs(t *testing.T, path string) []any {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []any
	rd := utilyaml.NewYAMLReader(bufio.NewReader(f))
	for {
		b, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var head struct{ Kind string }
		require.NoError(t, yaml.Unmarshal(b, &head))
		var obj any
		switch head.Kind {
		case "ServiceAccount":
			obj = &corev1.ServiceAccount{}
		case "PersistentVolumeClaim":
			obj = &corev1.PersistentVolumeClaim{}
		case "Pod":
			obj = &corev1.Pod{}
		case "CronJob":
			obj = &batchv1.CronJob{}
		case "Deployment":
			obj = &appsv1.Deployment{}
		case "NetworkPolicy":
			obj = &networkingv1.NetworkPolicy{}
		default:
			t.Fatalf("%s: unexpected kind %q", path, head.Kind)
		}
		require.NoError(t, yaml.UnmarshalStrict(b, obj), path)
		out = append(out, obj)
	}
	return out
}

// requireObserveArgs checks that args parse as the observe command's flags
// and that the certificate paths lie in mounted volumes.
func requireObserveArgs(t *testing.T, pod corev1.PodSpec, args []string) {
	t.Helper()
	root := buildRoot(&globals{stdout: io.Discard, stderr: io.Discard, isTerminal: func() bool { return false }})
	c, rest, err := root.Find(args)
	require.NoError(t, err)
	require.Equal(t, "observe", c.Name())
	require.NoError(t, c.ParseFlags(rest), "deploy args must be valid observe flags: %v", args)
	mounts := pod.Containers[0].VolumeMounts
	for _, flag := range []string{"goldmane-cert", "goldmane-key", "goldmane-ca", "store"} {
		v, err := c.Flags().GetString(flag)
		require.NoError(t, err)
		require.NotEmpty(t, v, flag)
		found := false
		for _, m := range mounts {
			if strings.HasPrefix(v, m.MountPath+"/") {
				found = true
			}
		}
		require.True(t, found, "--%s=%s is not under a volume mount", flag, v)
	}
}

func TestDeployManifests(t *testing.T) {
	docs := deployDocs(t, "../../deploy/kubernetes/cronjob.yaml")
	var cj *batchv1.CronJob
	for _, d := range docs {
		if c, ok := d.(*batchv1.CronJob); ok {
			cj = c
		}
	}
	require.NotNil(t, cj)
	require.Equal(t, "*/30 * * * *", cj.Spec.Schedule, "Goldmane keeps about an hour: observe at least every 30 minutes")
	require.Equal(t, batchv1.ForbidConcurrent, cj.Spec.ConcurrencyPolicy)
	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	requireObserveArgs(t, pod, pod.Containers[0].Args)

	var dep *appsv1.Deployment
	for _, d := range deployDocs(t, "../../deploy/kubernetes/deployment.yaml") {
		if x, ok := d.(*appsv1.Deployment); ok {
			dep = x
		}
	}
	require.NotNil(t, dep)
	require.Equal(t, appsv1.RecreateDeploymentStrategyType, dep.Spec.Strategy.Type, "one writer of a ReadWriteOnce store")
	args := dep.Spec.Template.Spec.Containers[0].Args
	require.Contains(t, args, "--follow")
	requireObserveArgs(t, dep.Spec.Template.Spec, args)

	reader := deployDocs(t, "../../deploy/kubernetes/store-reader.yaml")
	require.Len(t, reader, 1)

	// The Terraform variant runs the same arguments.
	src, err := os.ReadFile("../../deploy/terraform/goldmane-collector.tf")
	require.NoError(t, err)
	f, diags := hclparse.NewParser().ParseHCL(src, "goldmane-collector.tf")
	require.False(t, diags.HasErrors(), diags.Error())
	content, _, diags := f.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "locals"}, {Type: "resource", LabelNames: []string{"type", "name"}}}})
	require.False(t, diags.HasErrors(), diags.Error())
	var tfArgs []string
	types := map[string]bool{}
	for _, b := range content.Blocks {
		if b.Type == "resource" {
			types[b.Labels[0]] = true
			continue
		}
		attrs, _ := b.Body.JustAttributes()
		if a, ok := attrs["calico_plan_args"]; ok {
			v, diags := a.Expr.Value(nil)
			require.False(t, diags.HasErrors())
			for _, e := range v.AsValueSlice() {
				tfArgs = append(tfArgs, e.AsString())
			}
		}
	}
	require.Equal(t, pod.Containers[0].Args, tfArgs)
	for _, want := range []string{"kubernetes_cron_job_v1", "kubernetes_deployment_v1", "kubernetes_persistent_volume_claim_v1", "kubernetes_network_policy_v1", "kubernetes_service_account_v1"} {
		require.True(t, types[want], want)
	}
}
