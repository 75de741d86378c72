package render

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// HCLFile is one .tf file of a Terraform module: header lines (written as
// comments), the objects as resources, then the stage labels as
// kubernetes_labels resources.
type HCLFile struct {
	Header      string
	Objects     []any
	StageLabels []StageLabel
}

// HCLModule is what EncodeHCLModule wrote: each file's content, in the
// order given, and the resource types used (sorted), for
// EncodeHCLProviders.
type HCLModule struct {
	Files         [][]byte
	ResourceTypes []string
}

// kubernetes_labels is the hashicorp/kubernetes resource for stage labels.
const hclResourceLabels = "kubernetes_labels"

// Providers of the resource types EncodeHCLModule writes, with the oldest
// version that has everything written: kubernetes_labels' field_manager
// came with hashicorp/kubernetes 2.15.0, kubectl_manifest's yaml_body is
// in every gavinbunney/kubectl since 1.0 (1.14.0 is the oldest tested).
var hclProviders = map[string]struct{ local, source, version string }{
	HCLResourceKubectl:       {"kubectl", "gavinbunney/kubectl", ">= 1.14.0"},
	HCLResourceManifest:      {"kubernetes", "hashicorp/kubernetes", ">= 2.15.0"},
	HCLResourceNetworkPolicy: {"kubernetes", "hashicorp/kubernetes", ">= 2.15.0"},
	hclResourceLabels:        {"kubernetes", "hashicorp/kubernetes", ">= 2.15.0"},
}

// EncodeHCL writes objects as one Terraform file; see EncodeHCLModule.
func EncodeHCL(w io.Writer, header string, opt HCLOptions, objs ...any) error {
	m, err := EncodeHCLModule(opt, []HCLFile{{Header: header, Objects: objs}})
	if err != nil {
		return err
	}
	_, err = w.Write(m.Files[0])
	return err
}

// EncodeStageLabelsHCL writes a kubernetes_labels resource per namespace as
// one Terraform file; see EncodeHCLModule.
func EncodeStageLabelsHCL(w io.Writer, header string, labels []StageLabel) error {
	m, err := EncodeHCLModule(HCLOptions{}, []HCLFile{{Header: header, StageLabels: labels}})
	if err != nil {
		return err
	}
	_, err = w.Write(m.Files[0])
	return err
}

type hclItem struct {
	m              map[string]any
	label          *StageLabel
	typ            string
	kind, ns, name string
	file           int
}

// EncodeHCLModule writes the files of one Terraform module (one directory:
// Terraform reads all its .tf files as one configuration).
//
// Kubernetes networking.k8s.io/v1 NetworkPolicies become
// kubernetes_network_policy_v1 resources with the provider's nested blocks;
// every other object (the Calico ones) becomes a kubectl_manifest whose
// yaml_body is yamlencode of the object's JSON form (ToMap), or a
// kubernetes_manifest with that form as manifest (opt.Resource). A stage
// label becomes a kubernetes_labels resource: it adds the label to a
// namespace another resource (kubernetes_namespace) may manage, as field
// manager calico-plan, without taking the namespace over; the file says how
// to keep such a resource from removing it.
//
// Resource labels come from TerraformLabel and are unique per resource type
// across all the files. A policy in a tier (spec.tier) whose Tier is in the
// module depends_on that Tier, so Terraform creates the Tier first (Calico
// refuses a policy of a tier that does not exist) and removes it last.
//
// Every value goes through hclwrite's token builders, so strings are
// literal text (${ and %{ are escaped), and the output is
// hclwrite.Format-stable and deterministic.
func EncodeHCLModule(opt HCLOptions, files []HCLFile) (*HCLModule, error) {
	resource := opt.Resource
	if resource == "" {
		resource = HCLResourceKubectl
	}
	if resource != HCLResourceKubectl && resource != HCLResourceManifest {
		return nil, fmt.Errorf("hcl: unknown resource type %q (want %s or %s)", opt.Resource, HCLResourceKubectl, HCLResourceManifest)
	}
	items, err := hclItems(files, resource)
	if err != nil {
		return nil, err
	}
	idents := make([]labelIdent, len(items))
	for i, it := range items {
		idents[i] = labelIdent{typ: it.typ, kind: it.kind, ns: it.ns, name: it.name}
	}
	labels := uniqueLabels(idents)

	// The module's Tiers, by name, as resource addresses.
	tiers := map[string]string{}
	for i, it := range items {
		if it.kind == "Tier" && it.m != nil {
			tiers[it.name] = it.typ + "." + labels[i]
		}
	}

	out := &HCLModule{Files: make([][]byte, len(files))}
	types := map[string]bool{}
	for fi, fl := range files {
		f := hclwrite.NewEmptyFile()
		body := f.Body()
		first := !appendComments(body, fl.Header)
		if len(fl.StageLabels) > 0 && appendComments(body, stageLabelsNote(fl.StageLabels)) {
			first = false
		}
		for i, it := range items {
			if it.file != fi {
				continue
			}
			if !first {
				body.AppendNewline()
			}
			first = false
			types[it.typ] = true
			if err := writeHCLResource(body, &it, labels[i], tiers); err != nil {
				return nil, err
			}
		}
		out.Files[fi] = hclwrite.Format(f.Bytes())
	}
	for t := range types {
		out.ResourceTypes = append(out.ResourceTypes, t)
	}
	sort.Strings(out.ResourceTypes)
	return out, nil
}

// hclItems lists the resources of every file: its objects (as maps, with
// their resource type) and its stage labels.
func hclItems(files []HCLFile, resource string) ([]hclItem, error) {
	var items []hclItem
	for fi, f := range files {
		for i, o := range f.Objects {
			m, err := ToMap(o)
			if err != nil {
				return nil, fmt.Errorf("hcl: object %d: %w", i, err)
			}
			kind, _ := m["kind"].(string)
			apiVersion, _ := m["apiVersion"].(string)
			if kind == "" || apiVersion == "" {
				return nil, fmt.Errorf("hcl: object %d has no apiVersion or kind", i)
			}
			md, _ := m["metadata"].(map[string]any)
			ns, _ := md["namespace"].(string)
			name, _ := md["name"].(string)
			typ := resource
			if apiVersion == k8sNPAPIVersion && kind == "NetworkPolicy" {
				typ = HCLResourceNetworkPolicy
			}
			items = append(items, hclItem{m: m, typ: typ, kind: kind, ns: ns, name: name, file: fi})
		}
		for i := range f.StageLabels {
			l := &f.StageLabels[i]
			items = append(items, hclItem{label: l, typ: hclResourceLabels, kind: "Stage", name: l.Namespace, file: fi})
		}
	}
	return items, nil
}

// writeHCLResource writes one resource block; a policy of a tier the
// module holds depends_on that Tier.
func writeHCLResource(body *hclwrite.Body, it *hclItem, label string, tiers map[string]string) error {
	block := body.AppendNewBlock("resource", []string{it.typ, label})
	if it.label != nil {
		writeStageLabel(block.Body(), *it.label)
		return nil
	}
	var err error
	switch it.typ {
	case HCLResourceNetworkPolicy:
		err = writeNetworkPolicyV1(block.Body(), it.m)
	case HCLResourceManifest:
		var toks hclwrite.Tokens
		if toks, err = hclValueTokens(it.m); err == nil {
			block.Body().SetAttributeRaw("manifest", toks)
		}
	default:
		var toks hclwrite.Tokens
		if toks, err = hclValueTokens(it.m); err == nil {
			block.Body().SetAttributeRaw("yaml_body", hclwrite.TokensForFunctionCall("yamlencode", toks))
		}
	}
	if err != nil {
		return fmt.Errorf("hcl: %s %s: %w", it.kind, objectID(it.ns, it.name), err)
	}
	if spec, ok := it.m["spec"].(map[string]any); ok && it.kind != "Tier" {
		if t, ok := spec["tier"].(string); ok && tiers[t] != "" {
			block.Body().SetAttributeRaw("depends_on", traversalTuple(tiers[t]))
		}
	}
	return nil
}

// appendComments writes each non-empty line of text as a "# " comment and
// reports whether it wrote any.
func appendComments(body *hclwrite.Body, text string) bool {
	wrote := false
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		body.AppendUnstructuredTokens(hclwrite.Tokens{{Type: hclsyntax.TokenComment, Bytes: []byte("# " + line + "\n")}})
		wrote = true
	}
	return wrote
}

// traversalTuple is [type.label].
func traversalTuple(addr string) hclwrite.Tokens {
	typ, label, _ := strings.Cut(addr, ".")
	return hclwrite.TokensForTuple([]hclwrite.Tokens{hclwrite.TokensForTraversal(hcl.Traversal{
		hcl.TraverseRoot{Name: typ}, hcl.TraverseAttr{Name: label},
	})})
}

func writeStageLabel(b *hclwrite.Body, l StageLabel) {
	b.SetAttributeValue("api_version", cty.StringVal("v1"))
	b.SetAttributeValue("kind", cty.StringVal("Namespace"))
	b.AppendNewBlock("metadata", nil).Body().SetAttributeValue("name", cty.StringVal(l.Namespace))
	b.SetAttributeRaw("labels", hclwrite.TokensForObject([]hclwrite.ObjectAttrTokens{{
		Name:  hclwrite.TokensForValue(cty.StringVal(l.Key)),
		Value: hclwrite.TokensForValue(cty.StringVal(l.Value)),
	}}))
	b.SetAttributeValue("field_manager", cty.StringVal(ManagedByValue))
}

// stageLabelsNote tells how the stage labels live with a Terraform
// repository that manages the namespaces itself.
func stageLabelsNote(labels []StageLabel) string {
	keys := map[string]bool{}
	for _, l := range labels {
		keys[l.Key] = true
	}
	var re []string
	for k := range keys {
		re = append(re, `"^`+strings.ReplaceAll(regexp.QuoteMeta(k), `\`, `\\`)+`$"`)
	}
	sort.Strings(re)
	return `
Stage labels: each kubernetes_labels resource (hashicorp/kubernetes >= 2.15) sets
only this label on an existing namespace, as field manager ` + ManagedByValue + `.
If a kubernetes_namespace resource manages these namespaces, keep the label out of
its labels and let its provider ignore it, or its next apply removes the label:
  provider "kubernetes" { ignore_labels = [` + strings.Join(re, ", ") + `] }
A label another client set before (kubectl label) is a field-manager conflict
on the first apply: remove it first (kubectl label namespace NS KEY-), or render
with --hcl-stage-labels none and keep labelling with kubectl.`
}

// EncodeHCLProviders writes a terraform block requiring the providers of
// the given resource types (EncodeHCLModule's ResourceTypes), so that a
// directory of generated files is a root module `terraform init` can set
// up. It writes nothing when no type needs a provider.
func EncodeHCLProviders(w io.Writer, header string, types []string) error {
	need := map[string]struct{ source, version string }{}
	for _, t := range types {
		if p, ok := hclProviders[t]; ok {
			need[p.local] = struct{ source, version string }{p.source, p.version}
		}
	}
	if len(need) == 0 {
		return nil
	}
	names := make([]string, 0, len(need))
	for n := range need {
		names = append(names, n)
	}
	sort.Strings(names)
	f := hclwrite.NewEmptyFile()
	body := f.Body()
	appendComments(body, header)
	appendComments(body, `Terraform allows one required_providers block per module: if this directory
has another, render with --hcl-required-providers never and add these there.`)
	body.AppendNewline()
	rp := body.AppendNewBlock("terraform", nil).Body().AppendNewBlock("required_providers", nil).Body()
	for _, n := range names {
		rp.SetAttributeValue(n, cty.ObjectVal(map[string]cty.Value{
			"source":  cty.StringVal(need[n].source),
			"version": cty.StringVal(need[n].version),
		}))
	}
	var b bytes.Buffer
	b.Write(hclwrite.Format(f.Bytes()))
	_, err := w.Write(b.Bytes())
	return err
}

type labelIdent struct{ typ, kind, ns, name string }

// uniqueLabels gives each object its TerraformLabel, unique per resource
// type. In a group sharing a label, the object first by (kind, namespace,
// name) keeps it and the others get a hash of their identity appended, so
// the result does not depend on the order of the objects; exact duplicates
// get _2, _3... in order.
func uniqueLabels(ids []labelIdent) []string {
	out := make([]string, len(ids))
	groups := map[string][]int{}
	var keys []string
	for i, id := range ids {
		out[i] = TerraformLabel(id.kind, id.ns, id.name)
		k := id.typ + "." + out[i]
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], i)
	}
	used := map[string]bool{}
	for _, k := range keys {
		used[k] = true
	}
	for _, k := range keys {
		g := groups[k]
		if len(g) < 2 {
			continue
		}
		sort.SliceStable(g, func(a, b int) bool {
			x, y := ids[g[a]], ids[g[b]]
			if x.kind != y.kind {
				return x.kind < y.kind
			}
			if x.ns != y.ns {
				return x.ns < y.ns
			}
			return x.name < y.name
		})
		for _, i := range g[1:] {
			id := ids[i]
			l := out[i] + "_" + labelHash(id.kind, id.ns, id.name)
			for n := 2; used[id.typ+"."+l]; n++ {
				l = out[i] + "_" + labelHash(id.kind, id.ns, id.name) + "_" + strconv.Itoa(n)
			}
			used[id.typ+"."+l] = true
			out[i] = l
		}
	}
	return out
}
