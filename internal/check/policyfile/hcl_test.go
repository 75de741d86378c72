package policyfile

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func readHCLFile(t *testing.T, path string) ([]HCLObject, []error) {
	t.Helper()
	src, err := os.ReadFile(path)
	require.NoError(t, err)
	return ReadHCL(path, src)
}

func byResource(objs []HCLObject) map[string]HCLObject {
	out := map[string]HCLObject{}
	for _, o := range objs {
		out[o.Resource] = o
	}
	return out
}

// TestReadHCLTargetCluster: the stacks/calico shapes of the target
// cluster, hand-written; other resources are ignored, even when they are
// not statically known.
func TestReadHCLTargetCluster(t *testing.T) {
	path := filepath.Join("testdata", "hcl", "calico", "main.tf")
	objs, errs := readHCLFile(t, path)
	require.Empty(t, errs)
	require.Len(t, objs, 3)
	got := byResource(objs)

	gnp := got["kubectl_manifest.wave1_egress_observe_tier34"]
	require.Equal(t, path, gnp.File)
	require.Equal(t, 18, gnp.Line)
	require.JSONEq(t, `{
		"apiVersion": "projectcalico.org/v3",
		"kind": "GlobalNetworkPolicy",
		"metadata": {
			"name": "wave1-egress-observe-tier34",
			"annotations": {
				"security.viktorbarzin.me/wave": "1",
				"security.viktorbarzin.me/purpose": "Log tier 3 and 4 egress before enforcing (wave 1)"
			}
		},
		"spec": {
			"order": 2000,
			"selector": "all()",
			"namespaceSelector": "tier in {\"3-edge\", \"4-aux\"}",
			"types": ["Egress"],
			"egress": [{"action": "Log"}, {"action": "Allow"}]
		}
	}`, normJSON(t, gnp.Object))

	dns := got["kubernetes_network_policy_v1.whisker_allow_dns_clusterip"]
	require.JSONEq(t, `{
		"apiVersion": "networking.k8s.io/v1",
		"kind": "NetworkPolicy",
		"metadata": {"name": "whisker-allow-dns-clusterip", "namespace": "calico-system"},
		"spec": {
			"podSelector": {"matchLabels": {"k8s-app": "whisker"}},
			"policyTypes": ["Egress"],
			"egress": [{
				"to": [{"ipBlock": {"cidr": "10.96.0.10/32"}}],
				"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
			}]
		}
	}`, normJSON(t, dns.Object))

	ing := got["kubernetes_network_policy_v1.whisker_allow_traefik"]
	require.JSONEq(t, `{
		"podSelector": {"matchLabels": {"k8s-app": "whisker"}},
		"policyTypes": ["Ingress"],
		"ingress": [{
			"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}}}],
			"ports": [{"port": 8081, "protocol": "TCP"}]
		}]
	}`, normJSON(t, ing.Object["spec"]))
}

// TestReadHCLLegacyNetworkPolicy: kubernetes_network_policy (the legacy
// name), match_expressions, an empty pod_selector, the provider defaults.
func TestReadHCLLegacyNetworkPolicy(t *testing.T) {
	objs, errs := readHCLFile(t, filepath.Join("testdata", "hcl", "executor", "main.tf"))
	require.Empty(t, errs)
	require.Len(t, objs, 1)
	require.Equal(t, "kubernetes_network_policy.executor_allow_traefik_and_hermes", objs[0].Resource)
	require.JSONEq(t, `{
		"apiVersion": "networking.k8s.io/v1",
		"kind": "NetworkPolicy",
		"metadata": {"name": "executor-allow-traefik-and-hermes", "namespace": "executor", "labels": {"app": "executor"}},
		"spec": {
			"podSelector": {},
			"policyTypes": ["Ingress"],
			"ingress": [{
				"from": [
					{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}}},
					{
						"namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["hermes", "hermes-agent"]}]},
						"podSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}
					}
				],
				"ports": [{"port": 8080, "protocol": "TCP"}, {"port": "metrics", "protocol": "TCP"}]
			}]
		}
	}`, normJSON(t, objs[0].Object))
}

// TestReadHCLNotStatic: anything only Terraform knows is reported with its
// file and line, and the resource skipped and counted, never guessed.
func TestReadHCLNotStatic(t *testing.T) {
	path := filepath.Join("testdata", "hcl", "notstatic", "main.tf")
	objs, errs := readHCLFile(t, path)
	require.Len(t, objs, 1, "only the static resource; count = 0 declares nothing")
	require.Equal(t, "kubernetes_network_policy_v1.static", objs[0].Resource)
	require.Equal(t, "deny-all", objs[0].Object["metadata"].(map[string]any)["name"])

	want := []string{
		path + ":12:17: kubernetes_network_policy_v1.by_variable: var.namespace is not statically known (a reference); resource skipped",
		path + ":26:18: kubectl_manifest.by_local: local.tier is not statically known (a reference); resource skipped",
		path + ":36:47: kubectl_manifest.by_interpolation: module.shop.name is not statically known (an interpolation or template directive); resource skipped",
		path + `:41:15: kubectl_manifest.by_file: file("${path.module}/policy.yaml") is not statically known (a call of file()); resource skipped`,
		path + `:48:27: kubernetes_manifest.by_function: lower("OBSERVE") is not statically known (a call of lower()); resource skipped`,
		path + `:53:14: kubernetes_network_policy_v1.by_for_each: toset(["a", "b"]) is not statically known (for_each makes one object per element); resource skipped`,
		path + `:72:5: kubernetes_network_policy_v1.by_dynamic: spec: dynamic block "egress" is not statically known (a dynamic block); resource skipped`,
	}
	var msgs []string
	for _, err := range errs {
		msgs = append(msgs, err.Error())
		var he *HCLError
		require.True(t, errors.As(err, &he))
		require.Equal(t, HCLErrNotStatic, he.Kind)
		require.True(t, he.Skipped())
	}
	require.Equal(t, want, msgs)
	require.Equal(t, len(want), SkippedResources(errs))
}

// TestReadHCLSyntaxError: a file that does not parse is reported with
// file:line:col and the parser's message; the others are still read.
func TestReadHCLSyntaxError(t *testing.T) {
	dir := filepath.Join("testdata", "hcl", "broken")
	objs, errs := ReadHCLFiles([]string{dir})
	require.Len(t, objs, 1)
	require.Equal(t, "kubernetes_manifest.tier", objs[0].Resource)
	require.Equal(t, filepath.Join(dir, "good.tf"), objs[0].File)
	require.JSONEq(t, `{"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "egress-allowlist"}, "spec": {"order": 500, "defaultAction": "Deny"}}`, normJSON(t, objs[0].Object))
	require.NotEmpty(t, errs)
	var he *HCLError
	require.True(t, errors.As(errs[0], &he))
	require.Equal(t, HCLErrSyntax, he.Kind)
	require.Equal(t, filepath.Join(dir, "bad.tf"), he.File)
	require.Equal(t, 7, he.Line)
	require.Equal(t, 3, he.Column)
	require.True(t, strings.HasPrefix(errs[0].Error(), filepath.Join(dir, "bad.tf")+":7:3: Missing item separator"), errs[0].Error())
	require.False(t, he.Skipped())
	require.Zero(t, SkippedResources(errs))
}

// TestReadHCLYAMLBody: yaml_body as YAML text (heredoc or string),
// override_namespace, one document only, jsonencode.
func TestReadHCLYAMLBody(t *testing.T) {
	path := filepath.Join("testdata", "hcl", "yaml", "main.tf")
	objs, errs := readHCLFile(t, path)
	got := byResource(objs)
	require.Len(t, got, 3)
	require.JSONEq(t, `{
		"apiVersion": "projectcalico.org/v3",
		"kind": "StagedNetworkPolicy",
		"metadata": {"name": "egress-allowlist.shop", "namespace": "shop"},
		"spec": {
			"stagedAction": "Set", "tier": "egress-allowlist", "order": 100, "selector": "all()", "types": ["Egress"],
			"egress": [
				{"action": "Allow", "protocol": "UDP", "destination": {"nets": ["10.96.0.10/32"], "ports": [53]}},
				{"action": "Deny"}
			]
		}
	}`, normJSON(t, got["kubectl_manifest.staged_heredoc"].Object))
	require.JSONEq(t, `{"apiVersion": "projectcalico.org/v3", "kind": "NetworkSet", "metadata": {"name": "telegram", "namespace": "shop"}, "spec": {"nets": ["149.154.160.0/20"]}}`,
		normJSON(t, got["kubectl_manifest.netset_string"].Object))
	// jsonencode nested in a value is the JSON text, as Terraform writes it.
	require.JSONEq(t, `{
		"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
		"metadata": {"name": "deny-all", "namespace": "shop", "annotations": {"calico-plan.io/rules": "{\"a\":\"\\u003cx\\u003e\",\"b\":[1,2]}"}},
		"spec": {"podSelector": {}, "policyTypes": ["Egress", "Ingress"]}
	}`, normJSON(t, got["kubectl_manifest.k8s_policy_as_yaml"].Object))

	require.Len(t, errs, 1)
	require.Equal(t, path+":31:15: kubectl_manifest.two_documents: yaml_body: want one YAML document, found 2; resource skipped", errs[0].Error())
}

// TestReadHCLInvalid: arguments the provider does not have are errors,
// like two ip_block in one peer (MaxItems 1).
func TestReadHCLInvalid(t *testing.T) {
	src := `
resource "kubernetes_network_policy_v1" "typo" {
  metadata {
    name = "x"
  }
  spec {
    pod_selector {}
    policy_types = ["Egress"]
    egress {
      to {
        ip_block { cidr = "10.0.0.0/8" }
        ip_block { cidr = "192.168.0.0/16" }
      }
    }
  }
}

resource "kubernetes_network_policy_v1" "unknown_argument" {
  metadata {
    name = "y"
  }
  spec {
    pod_selector {
      match_label = { app = "x" }
    }
    policy_types = ["Egress"]
  }
}

resource "kubernetes_network_policy_v1" "no_policy_types" {
  metadata {
    name = "z"
  }
  spec {
    pod_selector {}
  }
}

resource "kubernetes_network_policy_v1" "defaults" {
  metadata {
    name = "defaults"
  }
  spec {
    pod_selector {}
    policy_types = ["Egress"]
    egress {
      ports {
        port     = 443
        end_port = "8443"
      }
    }
  }
}
`
	objs, errs := ReadHCL("inline.tf", []byte(src))
	var msgs []string
	for _, err := range errs {
		msgs = append(msgs, err.Error())
	}
	require.Equal(t, []string{
		`inline.tf:12:9: kubernetes_network_policy_v1.typo: spec.egress[0].to[0]: at most one ip_block block; resource skipped`,
		`inline.tf:24:7: kubernetes_network_policy_v1.unknown_argument: spec.pod_selector: unsupported argument "match_label"; resource skipped`,
		`inline.tf:34:8: kubernetes_network_policy_v1.no_policy_types: spec: policy_types is required; resource skipped`,
	}, msgs)
	require.Equal(t, 3, SkippedResources(errs))
	require.Len(t, objs, 1)
	// The provider's defaults: namespace "default", protocol TCP.
	require.JSONEq(t, `{
		"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
		"metadata": {"name": "defaults", "namespace": "default"},
		"spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"ports": [{"port": 443, "endPort": 8443, "protocol": "TCP"}]}]}
	}`, normJSON(t, objs[0].Object))
}

// TestReadHCLFilesWalk: directories are walked for *.tf, skipping dot
// directories (.terraform holds downloaded modules); unreadable paths are
// reported and the rest still read.
func TestReadHCLFilesWalk(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, src string) {
		p := filepath.Join(dir, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(src), 0o644))
	}
	np := func(name string) string {
		return `resource "kubernetes_network_policy_v1" "` + name + `" {
  metadata {
    name      = "` + name + `"
    namespace = "shop"
  }
  spec {
    pod_selector {}
    policy_types = ["Egress"]
  }
}
`
	}
	write("stacks/shop/main.tf", np("a"))
	write("stacks/shop/extra/b.tf", np("b"))
	write("stacks/shop/notes.md", np("not_read"))
	write("stacks/shop/.terraform/modules/m/main.tf", np("vendored"))
	write("other.tf", np("c"))

	missing := filepath.Join(dir, "missing")
	objs, errs := ReadHCLFiles([]string{filepath.Join(dir, "stacks"), filepath.Join(dir, "other.tf"), missing, filepath.Join(dir, "stacks", "shop", "main.tf")})
	var names []string
	for _, o := range objs {
		names = append(names, o.Object["metadata"].(map[string]any)["name"].(string))
	}
	require.Equal(t, []string{"b", "a", "c"}, names, "walk order, each file once")
	require.Len(t, errs, 1)
	var he *HCLError
	require.True(t, errors.As(errs[0], &he))
	require.Equal(t, HCLErrRead, he.Kind)
	require.Equal(t, missing, he.File)
}

// normJSON is v as JSON with numbers normalised (as float64), for comparing
// objects whatever their number types.
func normJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var x any
	require.NoError(t, json.Unmarshal(b, &x)) // numbers become float64
	b, err = json.Marshal(x)
	require.NoError(t, err)
	return string(b)
}
