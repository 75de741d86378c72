package render

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclwrite"
	v3 "github.com/projectcalico/api/pkg/apis/projectcalico/v3"
	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/internal/check/policyfile"
	"github.com/calico-plan/calico-plan/profile"
)

// moduleResources encodes files as one module and returns every
// resource address, failing on a duplicate (Terraform's "Duplicate
// resource" error), with each file parsed and format-stable.
func moduleResources(t *testing.T, opt HCLOptions, files []HCLFile) (*HCLModule, []string) {
	t.Helper()
	m, err := EncodeHCLModule(opt, files)
	require.NoError(t, err)
	again, err := EncodeHCLModule(opt, files)
	require.NoError(t, err)
	require.Equal(t, m, again, "deterministic")
	seen := map[string]bool{}
	var addrs []string
	for i, b := range m.Files {
		require.Equal(t, string(b), string(hclwrite.Format(b)), "format-stable")
		_, diags := hclparse.NewParser().ParseHCL(b, "f.tf")
		require.False(t, diags.HasErrors(), "file %d: %s\n%s", i, diags, b)
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(line, "resource ") {
				continue
			}
			f := strings.Fields(line)
			addr := strings.Trim(f[1], `"`) + "." + strings.Trim(f[2], `"`)
			require.False(t, seen[addr], "duplicate resource %s across the module", addr)
			seen[addr] = true
			addrs = append(addrs, addr)
		}
	}
	return m, addrs
}

// TestHCLModuleLabelsInjective: namespaces whose names sanitise alike get
// distinct labels across the files of one module, whatever their order,
// and a clean name keeps its plain label.
func TestHCLModuleLabelsInjective(t *testing.T) {
	p := profile.Default()
	names := []string{"a-b", "a--b", "a.b", "a---b", "A-b", "a-b-"}
	files := func(order []string) []HCLFile {
		var fs []HCLFile
		for _, ns := range order {
			np := v3.NewNetworkPolicy()
			np.Name, np.Namespace = PolicyName(p, FlavorCalico, ns), ns
			sp := v3.NewStagedNetworkPolicy()
			sp.Name, sp.Namespace = np.Name, ns
			fs = append(fs, HCLFile{Header: ns, Objects: []any{np, sp}, StageLabels: []StageLabel{{Namespace: ns, Key: "k", Value: "staged"}}})
		}
		return fs
	}
	_, addrs := moduleResources(t, HCLOptions{}, files(names))
	require.Len(t, addrs, 3*len(names))
	require.Contains(t, addrs, "kubectl_manifest.egress_allowlist_a_b")
	require.Contains(t, addrs, "kubectl_manifest.staged_egress_allowlist_a_b")
	require.Contains(t, addrs, "kubernetes_labels.stage_a_b")

	rev := append([]string(nil), names...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	_, addrsRev := moduleResources(t, HCLOptions{}, files(rev))
	require.ElementsMatch(t, addrs, addrsRev, "independent of order")

	// Each namespace's label is the same whether or not the others are
	// rendered with it: adding a namespace renames no resource.
	for _, ns := range names {
		_, alone := moduleResources(t, HCLOptions{}, files([]string{ns}))
		for _, a := range alone {
			if ns != "a.b" { // a.b meets a-b only when both are there
				require.Contains(t, addrs, a, ns)
			}
		}
	}
}

// TestHCLModuleDependsOnTier: a policy in the tier depends on the Tier's
// resource when the Tier is in the module, in another file too; the
// observe policy (default tier) and Kubernetes policies do not; ReadHCL
// reads the result back.
func TestHCLModuleDependsOnTier(t *testing.T) {
	p := profile.Default()
	s := demoStore(t, p)
	for _, res := range []string{HCLResourceKubectl, HCLResourceManifest} {
		var files []HCLFile
		files = append(files, HCLFile{Header: "tier", Objects: []any{Tier(p)}})
		files = append(files, HCLFile{Header: "observe", Objects: []any{ObservePolicy(p, nil)}})
		for _, fl := range []Flavor{FlavorCalico, FlavorCalicoStaged, FlavorK8s} {
			pol, err := Namespace(s.Namespace("tasks"), Options{Flavor: fl, Profile: p})
			require.NoError(t, err)
			files = append(files, HCLFile{Header: string(fl), Objects: pol.Objects})
		}
		m, _ := moduleResources(t, HCLOptions{Resource: res}, files)
		dep := "depends_on = [" + res + ".tier_egress_allowlist]"
		require.NotContains(t, string(m.Files[0]), "depends_on")
		require.NotContains(t, string(m.Files[1]), "depends_on", "the observe policy is in the default tier")
		require.Contains(t, string(m.Files[2]), dep)
		require.Contains(t, string(m.Files[3]), dep)
		require.NotContains(t, string(m.Files[4]), "depends_on")
		require.Equal(t, []string{res, HCLResourceNetworkPolicy}, m.ResourceTypes)
		for i, b := range m.Files {
			objs, errs := policyfile.ReadHCL("f.tf", b)
			require.Empty(t, errs)
			require.Len(t, objs, len(files[i].Objects))
		}

		// Without the Tier in the module (a stack of its own), nothing to depend on.
		m, _ = moduleResources(t, HCLOptions{Resource: res}, files[2:])
		for _, b := range m.Files {
			require.NotContains(t, string(b), "depends_on")
		}
	}
}

func TestEncodeHCLProviders(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, EncodeHCLProviders(&b, "Generated by calico-plan.", []string{HCLResourceKubectl, HCLResourceNetworkPolicy, hclResourceLabels}))
	require.Equal(t, `# Generated by calico-plan.
# Terraform allows one required_providers block per module: if this directory
# has another, render with --hcl-required-providers never and add these there.

terraform {
  required_providers {
    kubectl = {
      source  = "gavinbunney/kubectl"
      version = ">= 1.14.0"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = ">= 2.15.0"
    }
  }
}
`, b.String())
	b.Reset()
	require.NoError(t, EncodeHCLProviders(&b, "x", []string{HCLResourceKubectl}))
	require.NotContains(t, b.String(), "hashicorp/kubernetes")
	b.Reset()
	require.NoError(t, EncodeHCLProviders(&b, "x", nil))
	require.Empty(t, b.String())
}
