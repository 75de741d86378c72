package render

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/big"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// Terraform resource types EncodeHCL writes (internal/check/policyfile
// reads them back).
const (
	// HCLResourceKubectl is gavinbunney/kubectl's kubectl_manifest, with
	// yaml_body = yamlencode({...}): the target cluster's form for Calico
	// objects, and EncodeHCL's default.
	HCLResourceKubectl = "kubectl_manifest"
	// HCLResourceManifest is the kubernetes provider's kubernetes_manifest,
	// with manifest = {...}.
	HCLResourceManifest = "kubernetes_manifest"
	// HCLResourceNetworkPolicy is the kubernetes provider's typed resource
	// for networking.k8s.io/v1 NetworkPolicies.
	HCLResourceNetworkPolicy = "kubernetes_network_policy_v1"
	// HCLResourceNetworkPolicyLegacy is its deprecated unversioned name,
	// read (by internal/check/policyfile) but never written.
	HCLResourceNetworkPolicyLegacy = "kubernetes_network_policy"
)

const (
	calicoAPIVersion = "projectcalico.org/v3"
	k8sNPAPIVersion  = "networking.k8s.io/v1"
)

// HCLOptions configure EncodeHCL.
type HCLOptions struct {
	// Resource is the Terraform resource type generic objects (every
	// object but a networking.k8s.io/v1 NetworkPolicy) are written as:
	// HCLResourceKubectl ("kubectl_manifest", the default) or
	// HCLResourceManifest ("kubernetes_manifest"). Kubernetes
	// NetworkPolicies are always written as kubernetes_network_policy_v1.
	Resource string
}

func objectID(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// labelPrefixes abbreviate kinds in resource labels; NetworkPolicy (Calico
// or Kubernetes) has none, so "egress-allowlist.shop" in "shop" is
// egress_allowlist_shop. "Stage" is the kubernetes_labels resource of a
// namespace's stage label.
var labelPrefixes = map[string]string{
	"NetworkPolicy":                 "",
	"Tier":                          "tier",
	"StagedNetworkPolicy":           "staged",
	"GlobalNetworkPolicy":           "gnp",
	"StagedGlobalNetworkPolicy":     "staged_gnp",
	"StagedKubernetesNetworkPolicy": "staged_k8s",
	"NetworkSet":                    "netset",
	"GlobalNetworkSet":              "global_netset",
	"Stage":                         "stage",
}

// TerraformLabel returns the resource label (the second label of a
// resource block) for an object: the kind's prefix (none for a
// NetworkPolicy, "tier" for a Tier, "staged" for a StagedNetworkPolicy,
// "gnp" for a GlobalNetworkPolicy, snake_case of any other kind), the name
// and then the namespace unless the name already ends with it, lowercased,
// every run of other characters than [a-z0-9] turned into one underscore.
//
// That sanitising loses information for some names: "a-b" and "a--b" would
// both be a_b. When it does (a name or namespace that is not lowercase
// letters and digits in runs joined by single '-' or '.'), the label ends in "__" and 8 hex digits of a hash of
// kind, namespace and name, so such names never share a label with another
// object: namespace a-b gives egress_allowlist_a_b and a--b
// egress_allowlist_a_b__<hash>. The label depends on the object alone (not
// on what else is rendered), so it is stable across renders. The result is
// a valid Terraform identifier ([a-z_][a-z0-9_]*). Clean names can still
// meet ("a-b" and "a.b", or a prefix and a name: Tier x and NetworkPolicy
// tier-x): EncodeHCLModule resolves that across the files of one module.
func TerraformLabel(kind, namespace, name string) string {
	prefix, ok := labelPrefixes[kind]
	if !ok {
		prefix = snakeCase(kind)
	}
	n := sanitizeLabel(name)
	if s := sanitizeLabel(namespace); s != "" && n != s && !strings.HasSuffix(n, "_"+s) {
		n = joinLabel(n, s)
	}
	l := joinLabel(prefix, n)
	if l == "" {
		return "_" + labelHash(kind, namespace, name)
	}
	if l[0] >= '0' && l[0] <= '9' {
		l = "_" + l
	}
	if !cleanName(name) || (namespace != "" && !cleanName(namespace)) {
		l += "__" + labelHash(kind, namespace, name)
	}
	return l
}

// cleanName reports whether s is runs of [a-z0-9] joined by single '-' or
// '.', which sanitizeLabel maps without loss but for '-' against '.'.
func cleanName(s string) bool {
	if s == "" {
		return false
	}
	sep := true // at the start, and after a separator
	for _, r := range s {
		switch {
		case (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'):
			sep = false
		case (r == '-' || r == '.') && !sep:
			sep = true
		default:
			return false
		}
	}
	return !sep
}

func joinLabel(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "_" + b
}

func sanitizeLabel(s string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			under = false
			continue
		}
		if !under && b.Len() > 0 {
			b.WriteByte('_')
			under = true
		}
	}
	return strings.TrimRight(b.String(), "_")
}

func snakeCase(kind string) string {
	var b strings.Builder
	for i, r := range kind {
		if r >= 'A' && r <= 'Z' && i > 0 {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return sanitizeLabel(b.String())
}

func labelHash(kind, ns, name string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(kind + "\x00" + ns + "\x00" + name))
	return fmt.Sprintf("%08x", h.Sum32())
}

// hclKeywords cannot be bare object keys: true, false and null are
// literals, and an object constructor starting with "for" is a for
// expression.
var hclKeywords = map[string]bool{"true": true, "false": true, "null": true, "for": true, "in": true, "if": true}

// isBareKey reports whether an object key can be written unquoted.
// Hyphens are valid in HCL identifiers, but keys with them are quoted,
// as label keys usually are in Terraform.
func isBareKey(k string) bool {
	if k == "" || hclKeywords[k] {
		return false
	}
	for i, r := range k {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func keyTokens(k string) hclwrite.Tokens {
	if isBareKey(k) {
		return hclwrite.TokensForIdentifier(k)
	}
	return hclwrite.TokensForValue(cty.StringVal(k))
}

// leadingKeys come first in objects, in this order, for readability: at the
// top, in metadata, and elsewhere (rules); the other keys follow sorted.
// (yamlencode sorts keys again, so the order does not change the YAML.)
var leadingKeys = map[string][]string{
	"":         {"apiVersion", "kind", "metadata", "spec"},
	"metadata": {"name", "namespace"},
	"*":        {"action"},
}

func keyRank(parent, k string) int {
	lead, ok := leadingKeys[parent]
	if !ok {
		lead = leadingKeys["*"]
	}
	for i, l := range lead {
		if k == l {
			return i
		}
	}
	return len(lead)
}

// hclValueTokens writes a JSON-form value (ToMap's: maps, slices, strings,
// json.Number, bools, nil) as an HCL expression: objects (keys sorted) and
// tuples are constructors, everything else literals.
func hclValueTokens(v any) (hclwrite.Tokens, error) {
	return valueTokens(v, "")
}

// valueTokens writes a value under the object key parent ("" at the top).
func valueTokens(v any, parent string) (hclwrite.Tokens, error) {
	switch x := v.(type) {
	case nil:
		return hclwrite.TokensForValue(cty.NullVal(cty.DynamicPseudoType)), nil
	case string:
		return hclwrite.TokensForValue(cty.StringVal(x)), nil
	case bool:
		return hclwrite.TokensForValue(cty.BoolVal(x)), nil
	case json.Number:
		n, err := cty.ParseNumberVal(string(x))
		if err != nil {
			return nil, fmt.Errorf("number %q: %w", x, err)
		}
		return hclwrite.TokensForValue(n), nil
	case float64:
		return hclwrite.TokensForValue(cty.NumberVal(new(big.Float).SetFloat64(x))), nil
	case int:
		return hclwrite.TokensForValue(cty.NumberIntVal(int64(x))), nil
	case int64:
		return hclwrite.TokensForValue(cty.NumberIntVal(x)), nil
	case []any:
		elems := make([]hclwrite.Tokens, len(x))
		nested := false
		for i, e := range x {
			t, err := valueTokens(e, parent)
			if err != nil {
				return nil, err
			}
			elems[i] = t
			switch e.(type) {
			case map[string]any, []any:
				nested = true
			}
		}
		if !nested {
			return hclwrite.TokensForTuple(elems), nil
		}
		// One element a line, with a trailing comma.
		toks := hclwrite.Tokens{{Type: hclsyntax.TokenOBrack, Bytes: []byte("[")}, {Type: hclsyntax.TokenNewline, Bytes: []byte("\n")}}
		for _, e := range elems {
			toks = append(toks, e...)
			toks = append(toks, &hclwrite.Token{Type: hclsyntax.TokenComma, Bytes: []byte(",")}, &hclwrite.Token{Type: hclsyntax.TokenNewline, Bytes: []byte("\n")})
		}
		return append(toks, &hclwrite.Token{Type: hclsyntax.TokenCBrack, Bytes: []byte("]")}), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			pi, pj := keyRank(parent, keys[i]), keyRank(parent, keys[j])
			if pi != pj {
				return pi < pj
			}
			return keys[i] < keys[j]
		})
		attrs := make([]hclwrite.ObjectAttrTokens, len(keys))
		for i, k := range keys {
			t, err := valueTokens(x[k], k)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			attrs[i] = hclwrite.ObjectAttrTokens{Name: keyTokens(k), Value: t}
		}
		return hclwrite.TokensForObject(attrs), nil
	}
	return nil, fmt.Errorf("unsupported value of type %T", v)
}

// stringMapTokens writes a map of strings (labels, annotations,
// match_labels) as an object constructor.
func stringMapTokens(what string, v any) (hclwrite.Tokens, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: want a map, got %T", what, v)
	}
	for k, e := range m {
		if _, ok := e.(string); !ok {
			return nil, fmt.Errorf("%s.%s: want a string, got %T", what, k, e)
		}
	}
	return hclValueTokens(m)
}

// checkKeys rejects fields the provider schema cannot express.
func checkKeys(what string, m map[string]any, allowed ...string) error {
	for k := range m {
		ok := false
		for _, a := range allowed {
			if k == a {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("%s.%s cannot be expressed in %s", what, k, HCLResourceNetworkPolicy)
		}
	}
	return nil
}

func asMap(what string, v any) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: want an object, got %T", what, v)
	}
	return m, nil
}

func asList(what string, v any) ([]any, error) {
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: want a list, got %T", what, v)
	}
	return l, nil
}

func setString(b *hclwrite.Body, attr, what string, v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("%s: want a string, got %T", what, v)
	}
	b.SetAttributeValue(attr, cty.StringVal(s))
	return nil
}

func setStringList(b *hclwrite.Body, attr, what string, v any) error {
	l, err := asList(what, v)
	if err != nil {
		return err
	}
	for i, e := range l {
		if _, ok := e.(string); !ok {
			return fmt.Errorf("%s[%d]: want a string, got %T", what, i, e)
		}
	}
	t, err := hclValueTokens(l)
	if err != nil {
		return err
	}
	b.SetAttributeRaw(attr, t)
	return nil
}

// appendBlock appends a nested block; an empty one is written "name {}".
func appendBlock(b *hclwrite.Body, name string, fill func(*hclwrite.Body) error) error {
	blk := hclwrite.NewBlock(name, nil)
	if err := fill(blk.Body()); err != nil {
		return err
	}
	if len(blk.Body().BuildTokens(nil)) > 0 {
		b.AppendBlock(blk)
		return nil
	}
	b.AppendUnstructuredTokens(hclwrite.Tokens{
		{Type: hclsyntax.TokenIdent, Bytes: []byte(name)},
		{Type: hclsyntax.TokenOBrace, Bytes: []byte("{"), SpacesBefore: 1},
		{Type: hclsyntax.TokenCBrace, Bytes: []byte("}")},
		{Type: hclsyntax.TokenNewline, Bytes: []byte("\n")},
	})
	return nil
}

// writeNetworkPolicyV1 fills a kubernetes_network_policy_v1 body from a
// NetworkPolicy's JSON form, following the provider's schema: metadata
// {name namespace labels annotations generate_name}, spec {pod_selector
// policy_types ingress {ports from} egress {ports to}}.
func writeNetworkPolicyV1(b *hclwrite.Body, m map[string]any) error {
	if err := checkKeys("", m, "apiVersion", "kind", "metadata", "spec", "status"); err != nil {
		return err
	}
	if st, ok := m["status"].(map[string]any); ok && len(st) > 0 {
		return fmt.Errorf("status cannot be expressed in %s", HCLResourceNetworkPolicy)
	}
	md, err := asMap("metadata", m["metadata"])
	if err != nil {
		return err
	}
	if err := checkKeys("metadata", md, "name", "namespace", "labels", "annotations", "generateName"); err != nil {
		return err
	}
	spec, err := asMap("spec", m["spec"])
	if err != nil {
		return err
	}
	if err := checkKeys("spec", spec, "podSelector", "policyTypes", "ingress", "egress"); err != nil {
		return err
	}
	if _, ok := spec["policyTypes"]; !ok {
		return fmt.Errorf("spec.policyTypes is required by %s", HCLResourceNetworkPolicy)
	}
	err = appendBlock(b, "metadata", func(mb *hclwrite.Body) error {
		for _, f := range []struct{ key, attr string }{{"name", "name"}, {"generateName", "generate_name"}, {"namespace", "namespace"}} {
			if v, ok := md[f.key]; ok {
				if err := setString(mb, f.attr, "metadata."+f.key, v); err != nil {
					return err
				}
			}
		}
		for _, k := range []string{"labels", "annotations"} {
			if v, ok := md[k]; ok {
				t, err := stringMapTokens("metadata."+k, v)
				if err != nil {
					return err
				}
				mb.SetAttributeRaw(k, t)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return appendBlock(b, "spec", func(sb *hclwrite.Body) error {
		ps := spec["podSelector"]
		if ps == nil {
			ps = map[string]any{}
		}
		if err := writeSelector(sb, "pod_selector", "spec.podSelector", ps); err != nil {
			return err
		}
		if err := setStringList(sb, "policy_types", "spec.policyTypes", spec["policyTypes"]); err != nil {
			return err
		}
		for _, dir := range []struct{ key, peers, peerBlock string }{{"ingress", "from", "from"}, {"egress", "to", "to"}} {
			v, ok := spec[dir.key]
			if !ok {
				continue
			}
			rules, err := asList("spec."+dir.key, v)
			if err != nil {
				return err
			}
			for i, r := range rules {
				what := fmt.Sprintf("spec.%s[%d]", dir.key, i)
				rm, err := asMap(what, r)
				if err != nil {
					return err
				}
				if err := checkKeys(what, rm, "ports", dir.peers); err != nil {
					return err
				}
				err = appendBlock(sb, dir.key, func(rb *hclwrite.Body) error {
					if v, ok := rm[dir.peers]; ok {
						if err := writePeers(rb, dir.peerBlock, what+"."+dir.peers, v); err != nil {
							return err
						}
					}
					if v, ok := rm["ports"]; ok {
						return writePorts(rb, what+".ports", v)
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func writePorts(b *hclwrite.Body, what string, v any) error {
	ports, err := asList(what, v)
	if err != nil {
		return err
	}
	for i, p := range ports {
		pw := fmt.Sprintf("%s[%d]", what, i)
		pm, err := asMap(pw, p)
		if err != nil {
			return err
		}
		if err := checkKeys(pw, pm, "port", "endPort", "protocol"); err != nil {
			return err
		}
		err = appendBlock(b, "ports", func(pb *hclwrite.Body) error {
			if v, ok := pm["port"]; ok {
				// The provider's port is a string: a number or a named port.
				switch x := v.(type) {
				case string:
					pb.SetAttributeValue("port", cty.StringVal(x))
				case json.Number:
					pb.SetAttributeValue("port", cty.StringVal(x.String()))
				default:
					return fmt.Errorf("%s.port: want a number or a name, got %T", pw, v)
				}
			}
			if v, ok := pm["endPort"]; ok {
				n, ok := v.(json.Number)
				if !ok {
					return fmt.Errorf("%s.endPort: want a number, got %T", pw, v)
				}
				t, err := hclValueTokens(n)
				if err != nil {
					return err
				}
				pb.SetAttributeRaw("end_port", t)
			}
			if v, ok := pm["protocol"]; ok {
				return setString(pb, "protocol", pw+".protocol", v)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func writePeers(b *hclwrite.Body, block, what string, v any) error {
	peers, err := asList(what, v)
	if err != nil {
		return err
	}
	for i, p := range peers {
		pw := fmt.Sprintf("%s[%d]", what, i)
		pm, err := asMap(pw, p)
		if err != nil {
			return err
		}
		if err := checkKeys(pw, pm, "ipBlock", "namespaceSelector", "podSelector"); err != nil {
			return err
		}
		err = appendBlock(b, block, func(pb *hclwrite.Body) error {
			if v, ok := pm["ipBlock"]; ok {
				ib, err := asMap(pw+".ipBlock", v)
				if err != nil {
					return err
				}
				if err := checkKeys(pw+".ipBlock", ib, "cidr", "except"); err != nil {
					return err
				}
				err = appendBlock(pb, "ip_block", func(bb *hclwrite.Body) error {
					if v, ok := ib["cidr"]; ok {
						if err := setString(bb, "cidr", pw+".ipBlock.cidr", v); err != nil {
							return err
						}
					}
					if v, ok := ib["except"]; ok {
						return setStringList(bb, "except", pw+".ipBlock.except", v)
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
			if v, ok := pm["namespaceSelector"]; ok {
				if err := writeSelector(pb, "namespace_selector", pw+".namespaceSelector", v); err != nil {
					return err
				}
			}
			if v, ok := pm["podSelector"]; ok {
				return writeSelector(pb, "pod_selector", pw+".podSelector", v)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// writeSelector writes a label selector block: match_labels as a map,
// one match_expressions block per requirement. An empty selector (all
// pods or namespaces) is "name {}".
func writeSelector(b *hclwrite.Body, block, what string, v any) error {
	sel, err := asMap(what, v)
	if err != nil {
		return err
	}
	if err := checkKeys(what, sel, "matchLabels", "matchExpressions"); err != nil {
		return err
	}
	return appendBlock(b, block, func(sb *hclwrite.Body) error {
		if v, ok := sel["matchLabels"]; ok {
			t, err := stringMapTokens(what+".matchLabels", v)
			if err != nil {
				return err
			}
			sb.SetAttributeRaw("match_labels", t)
		}
		v, ok := sel["matchExpressions"]
		if !ok {
			return nil
		}
		exprs, err := asList(what+".matchExpressions", v)
		if err != nil {
			return err
		}
		for i, e := range exprs {
			ew := fmt.Sprintf("%s.matchExpressions[%d]", what, i)
			em, err := asMap(ew, e)
			if err != nil {
				return err
			}
			if err := checkKeys(ew, em, "key", "operator", "values"); err != nil {
				return err
			}
			err = appendBlock(sb, "match_expressions", func(eb *hclwrite.Body) error {
				for _, k := range []string{"key", "operator"} {
					if v, ok := em[k]; ok {
						if err := setString(eb, k, ew+"."+k, v); err != nil {
							return err
						}
					}
				}
				if v, ok := em["values"]; ok {
					return setStringList(eb, "values", ew+".values", v)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}
