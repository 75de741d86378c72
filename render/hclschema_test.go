package render

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/stretchr/testify/require"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/calico-plan/calico-plan/profile"
)

// The provider schemas in testdata/provider-schema.json were recorded with
// e2e/tools/record-provider-schema.sh (`terraform providers schema -json`
// of hashicorp/kubernetes 3.2.1 and gavinbunney/kubectl 1.19.0, only the
// resource types calico-plan writes or ships, descriptions dropped).
// hashicorp/kubernetes v2+ cannot be installed from the Go module proxy,
// so the e2e tests cannot run `terraform validate` on its resource types
// on a machine that starts cold: this test checks them (and every other
// generated resource) the way Terraform's validate decodes a resource body
// (its configschema becomes the same hcldec spec): every argument and
// block known to the provider, required ones present, block counts within
// min_items/max_items, literal values convertible to the attribute type,
// read-only (computed-only) attributes not set. What it does not check is
// the provider's own validators (a name's syntax, a port's range):
// `terraform validate` with the provider does that where the e2e tests can
// run it.

type tfSchemaFile struct {
	ProviderSchemas map[string]struct {
		ResourceSchemas map[string]struct {
			Block tfBlock `json:"block"`
		} `json:"resource_schemas"`
	} `json:"provider_schemas"`
}

type tfBlock struct {
	Attributes map[string]struct {
		Type     json.RawMessage `json:"type"`
		Required bool            `json:"required"`
		Optional bool            `json:"optional"`
		Computed bool            `json:"computed"`
	} `json:"attributes"`
	BlockTypes map[string]struct {
		NestingMode string  `json:"nesting_mode"`
		Block       tfBlock `json:"block"`
		MinItems    int     `json:"min_items"`
		MaxItems    int     `json:"max_items"`
	} `json:"block_types"`
}

// spec turns a provider block schema into an hcldec spec, as Terraform's
// configschema.Block.DecoderSpec does.
func (b tfBlock) spec(t *testing.T) hcldec.ObjectSpec {
	t.Helper()
	out := hcldec.ObjectSpec{}
	for name, a := range b.Attributes {
		if a.Computed && !a.Optional && !a.Required {
			continue // read-only: setting it is "Unsupported argument"
		}
		ty, err := ctyjson.UnmarshalType(a.Type)
		require.NoError(t, err, name)
		out[name] = &hcldec.AttrSpec{Name: name, Type: ty, Required: a.Required}
	}
	for name, bt := range b.BlockTypes {
		nested := bt.Block.spec(t)
		switch bt.NestingMode {
		case "single", "group":
			out[name] = &hcldec.BlockSpec{TypeName: name, Nested: nested, Required: bt.MinItems > 0}
		case "list":
			out[name] = &hcldec.BlockListSpec{TypeName: name, Nested: nested, MinItems: bt.MinItems, MaxItems: bt.MaxItems}
		case "set":
			out[name] = &hcldec.BlockSetSpec{TypeName: name, Nested: nested, MinItems: bt.MinItems, MaxItems: bt.MaxItems}
		case "map":
			out[name] = &hcldec.BlockMapSpec{TypeName: name, Nested: nested, LabelNames: []string{"key"}}
		default:
			t.Fatalf("block %s: nesting mode %q", name, bt.NestingMode)
		}
	}
	return out
}

// loadProviderSchemas returns an hcldec spec per resource type.
func loadProviderSchemas(t *testing.T) map[string]hcldec.Spec {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "provider-schema.json"))
	require.NoError(t, err)
	var f tfSchemaFile
	require.NoError(t, json.Unmarshal(b, &f))
	out := map[string]hcldec.Spec{}
	for _, p := range f.ProviderSchemas {
		for typ, rs := range p.ResourceSchemas {
			out[typ] = rs.Block.spec(t)
		}
	}
	return out
}

// resourceMetaSchema is what Terraform takes out of a resource body before
// the provider's schema sees it.
var resourceMetaSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "count"}, {Name: "for_each"}, {Name: "depends_on"}, {Name: "provider"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "lifecycle"}, {Type: "provisioner", LabelNames: []string{"type"}}, {Type: "connection"}},
}

// anyFunc stands in for a Terraform function: any arguments, a result of
// type ret that is not known (as at validate time).
func anyFunc(ret cty.Type) function.Function {
	return function.New(&function.Spec{
		VarParam: &function.Parameter{Name: "args", Type: cty.DynamicPseudoType, AllowUnknown: true, AllowDynamicType: true, AllowNull: true},
		Type:     function.StaticReturnType(ret),
		Impl:     func([]cty.Value, cty.Type) (cty.Value, error) { return cty.UnknownVal(ret), nil },
	})
}

var tfFuncs = map[string]function.Function{
	"yamlencode": anyFunc(cty.String),
	"merge":      anyFunc(cty.DynamicPseudoType),
	"concat":     anyFunc(cty.DynamicPseudoType),
}

// validateTF checks every resource of a .tf file against the provider
// schemas and returns the problems found ("file:line: type.name: ...").
func validateTF(t *testing.T, schemas map[string]hcldec.Spec, name string, src []byte) []string {
	t.Helper()
	f, diags := hclparse.NewParser().ParseHCL(src, name)
	require.False(t, diags.HasErrors(), "%s: %s", name, diags)
	content, diags := f.Body.Content(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: "resource", LabelNames: []string{"type", "name"}},
		{Type: "terraform"}, {Type: "variable", LabelNames: []string{"name"}}, {Type: "locals"},
		{Type: "provider", LabelNames: []string{"name"}}, {Type: "output", LabelNames: []string{"name"}},
	}})
	require.False(t, diags.HasErrors(), "%s: %s", name, diags)
	var problems []string
	for _, blk := range content.Blocks {
		if blk.Type != "resource" {
			continue
		}
		typ := blk.Labels[0]
		where := fmt.Sprintf("%s:%d: %s.%s", name, blk.DefRange.Start.Line, typ, blk.Labels[1])
		spec, ok := schemas[typ]
		if !ok {
			problems = append(problems, where+": resource type not in the recorded schemas")
			continue
		}
		_, rest, diags := blk.Body.PartialContent(resourceMetaSchema)
		if diags.HasErrors() {
			problems = append(problems, where+": "+diags.Error())
			continue
		}
		ctx := &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: tfFuncs}
		for _, tr := range hcldec.Variables(rest, spec) {
			ctx.Variables[tr.RootName()] = cty.DynamicVal // var, local, other resources: unknown at validate time
		}
		if _, diags := hcldec.Decode(rest, spec, ctx); diags.HasErrors() {
			for _, d := range diags {
				problems = append(problems, fmt.Sprintf("%s: %s: %s", where, d.Summary, d.Detail))
			}
		}
	}
	sort.Strings(problems)
	return problems
}

// TestHCLProviderSchema: every resource EncodeHCLModule writes (every
// flavor, both resources for Calico objects, the Tier, the observe policy,
// stage labels), and deploy/terraform, fit the recorded provider schemas.
func TestHCLProviderSchema(t *testing.T) {
	schemas := loadProviderSchemas(t)
	p := profile.Default()
	s := demoStore(t, p)
	for _, res := range []string{HCLResourceKubectl, HCLResourceManifest} {
		files := []HCLFile{{Header: "tier", Objects: []any{Tier(p)}}, {Header: "observe", Objects: []any{ObservePolicy(p, nil)}}}
		var labels []StageLabel
		seen := map[string]bool{}
		for _, ns := range s.Namespaces() {
			for _, fl := range []Flavor{FlavorCalico, FlavorCalicoStaged, FlavorK8s} {
				pol, err := Namespace(ns, Options{Flavor: fl, Profile: p})
				if err != nil {
					continue // one that cannot render in this flavor (servarr in k8s)
				}
				files = append(files, HCLFile{Header: ns.Namespace + " " + string(fl), Objects: pol.Objects})
			}
			labels = append(labels, StageLabel{Namespace: ns.Namespace, Key: p.Rollout.StageLabel, Value: "staged"})
		}
		files = append(files, HCLFile{Header: "labels", StageLabels: labels})
		m, err := EncodeHCLModule(HCLOptions{Resource: res}, files)
		require.NoError(t, err)
		for i, b := range m.Files {
			require.Empty(t, validateTF(t, schemas, fmt.Sprintf("%s-%d.tf", res, i), b))
			for _, typ := range resourceResTypes(b) {
				seen[typ] = true
			}
		}
		require.True(t, seen[res] && seen[HCLResourceNetworkPolicy] && seen[hclResourceLabels], "%v", seen)
	}

	deploy, err := filepath.Glob(filepath.Join("..", "deploy", "terraform", "*.tf"))
	require.NoError(t, err)
	require.NotEmpty(t, deploy)
	for _, path := range deploy {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Empty(t, validateTF(t, schemas, path, b))
	}
}

func resourceResTypes(src []byte) []string {
	var out []string
	for _, line := range strings.Split(string(src), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "resource" {
			out = append(out, strings.Trim(f[1], `"`))
		}
	}
	return out
}

// TestHCLProviderSchemaCatches: the schema check fails on what Terraform
// rejects, so its silence above means something.
func TestHCLProviderSchemaCatches(t *testing.T) {
	schemas := loadProviderSchemas(t)
	for _, c := range []struct{ src, want string }{
		{`resource "kubectl_manifest" "x" {
  yaml_bodyy = "a: b"
}`, "Unsupported argument"},
		{`resource "kubectl_manifest" "x" {
  uid = "x"
  yaml_body = "a: b"
}`, "Unsupported argument"}, // read-only
		{`resource "kubernetes_network_policy_v1" "x" {
  metadata {
    name = "x"
  }
  spec {
    pod_selector {}
  }
}`, `Missing required argument`}, // policy_types
		{`resource "kubernetes_network_policy_v1" "x" {
  metadata {
    name = "x"
  }
  spec {
    policy_types = ["Egress"]
  }
}`, "Insufficient pod_selector blocks"},
		{`resource "kubernetes_labels" "x" {
  api_version = "v1"
  kind        = "Namespace"
  labels      = "a=b"
  metadata {
    name = "x"
  }
}`, "Incorrect attribute value type"},
		{`resource "kubernetes_labels" "x" {
  api_version = "v1"
  kind        = "Namespace"
  labels      = {}
}`, "Insufficient metadata blocks"},
		{`resource "kubectl_manifests" "x" {
  yaml_body = "a: b"
}`, "not in the recorded schemas"},
	} {
		problems := validateTF(t, schemas, "bad.tf", []byte(c.src))
		require.NotEmpty(t, problems, c.src)
		require.Contains(t, strings.Join(problems, "\n"), c.want, c.src)
	}
}
