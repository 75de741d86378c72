package policyfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	yamlv3 "gopkg.in/yaml.v3"
	"sigs.k8s.io/yaml"
)

// The Terraform resource types ReadHCL reads: those render emits
// (render.HCLResource*) and the kubernetes provider's older name for
// NetworkPolicy. They are the providers' names, so they are spelled here
// rather than imported: reading does not depend on the writer.
const (
	tfKubectlManifest     = "kubectl_manifest"             // gavinbunney/kubectl: yaml_body
	tfKubernetesManifest  = "kubernetes_manifest"          // hashicorp/kubernetes: manifest
	tfNetworkPolicyV1     = "kubernetes_network_policy_v1" // hashicorp/kubernetes, typed
	tfNetworkPolicyLegacy = "kubernetes_network_policy"    // its pre-v1 name

	calicoAPIVersion = "projectcalico.org/v3"
	k8sNPAPIVersion  = "networking.k8s.io/v1"
)

// HCLObject is a policy object declared in Terraform.
type HCLObject struct {
	// File and Line locate the resource block.
	File string
	Line int
	// Resource is the Terraform address in its module: "type.label".
	Resource string
	// Object is the object's JSON form, as ToMap gives it: apiVersion,
	// kind, metadata, spec; numbers are json.Number.
	Object map[string]any
}

// HCLErrorKind classifies a problem ReadHCL reports.
type HCLErrorKind int

// Kinds of HCLError.
const (
	// HCLErrRead: a file or directory could not be read.
	HCLErrRead HCLErrorKind = iota + 1
	// HCLErrSyntax: a file does not parse; none of its resources is read.
	HCLErrSyntax
	// HCLErrNotStatic: a resource depends on a value only Terraform knows
	// (a reference, a function call, an interpolation, count or
	// for_each); the resource is skipped.
	HCLErrNotStatic
	// HCLErrInvalid: a resource is malformed for its provider (unknown
	// argument, wrong type, YAML that does not decode); it is skipped.
	HCLErrInvalid
)

// HCLError is a problem found reading Terraform files.
type HCLError struct {
	Kind   HCLErrorKind
	File   string
	Line   int // 0 when the problem has no position
	Column int
	// Resource is "type.label" of the resource skipped, empty for a
	// problem with the file.
	Resource string
	Msg      string
}

func (e *HCLError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	b.WriteString(": ")
	if e.Resource != "" {
		b.WriteString(e.Resource + ": ")
	}
	b.WriteString(e.Msg)
	if e.Skipped() {
		b.WriteString("; resource skipped")
	}
	return b.String()
}

// Skipped reports whether the error made ReadHCL skip a resource.
func (e *HCLError) Skipped() bool {
	return e.Resource != "" && (e.Kind == HCLErrNotStatic || e.Kind == HCLErrInvalid)
}

// SkippedResources counts the resources the errors of ReadHCL or
// ReadHCLFiles skipped.
func SkippedResources(errs []error) int {
	seen := map[string]bool{}
	for _, err := range errs {
		var he *HCLError
		if errors.As(err, &he) && he.Skipped() {
			seen[he.File+"\x00"+he.Resource] = true
		}
	}
	return len(seen)
}

// ReadHCLFiles reads the policy objects declared in Terraform files.
// Directories are walked recursively for *.tf files, skipping those whose
// name starts with a dot (.terraform, .terragrunt-cache, .git); files named
// explicitly are read whatever their extension. A file that cannot be read
// or parsed is reported and the others are still read.
func ReadHCLFiles(paths []string) ([]HCLObject, []error) {
	var files []string
	var errs []error
	seen := map[string]bool{}
	add := func(p string) {
		if c := filepath.Clean(p); !seen[c] {
			seen[c] = true
			files = append(files, p)
		}
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			errs = append(errs, &HCLError{Kind: HCLErrRead, File: p, Msg: err.Error()})
			continue
		}
		if !fi.IsDir() {
			add(p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				errs = append(errs, &HCLError{Kind: HCLErrRead, File: path, Msg: err.Error()})
				return nil
			}
			if d.IsDir() {
				if path != p && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if strings.HasSuffix(d.Name(), ".tf") {
				add(path)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, &HCLError{Kind: HCLErrRead, File: p, Msg: err.Error()})
		}
	}
	var objs []HCLObject
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, &HCLError{Kind: HCLErrRead, File: f, Msg: err.Error()})
			continue
		}
		o, e := ReadHCL(f, src)
		objs = append(objs, o...)
		errs = append(errs, e...)
	}
	return objs, errs
}

// ReadHCL reads the policy objects declared in one Terraform file:
// kubectl_manifest (yaml_body = yamlencode({...}), or a YAML string or
// heredoc), kubernetes_manifest (manifest = {...}), and
// kubernetes_network_policy_v1 or kubernetes_network_policy blocks,
// converted to the networking.k8s.io/v1 NetworkPolicy JSON form with the
// provider's defaults (namespace "default", protocol "TCP").
//
// Only policy kinds are returned: Calico NetworkPolicy,
// GlobalNetworkPolicy, the Staged ones, Tier, NetworkSet,
// GlobalNetworkSet, and Kubernetes NetworkPolicy; other resources are
// ignored. Expressions are evaluated statically: literals, object and
// tuple constructors, strings without interpolation, negation,
// yamlencode/jsonencode of those. A resource that needs anything else
// (var.x, local.y, module.z, other functions, "${...}", count other than
// 0 or 1, for_each, dynamic blocks) is skipped with an HCLErrNotStatic
// error at the expression's position; nothing is guessed. A file that
// does not parse yields its syntax errors and no objects.
func ReadHCL(path string, src []byte) ([]HCLObject, []error) {
	body, perrs := parseHCLBody(path, src)
	if perrs != nil {
		errs := make([]error, len(perrs))
		for i, e := range perrs {
			errs[i] = e
		}
		return nil, errs
	}
	r := &hclReader{file: path, src: src}
	var objs []HCLObject
	var errs []error
	for _, blk := range body.Blocks {
		if blk.Type != "resource" || len(blk.Labels) != 2 {
			continue
		}
		typ := blk.Labels[0]
		switch typ {
		case tfKubectlManifest, tfKubernetesManifest, tfNetworkPolicyV1, tfNetworkPolicyLegacy:
		default:
			continue
		}
		addr := typ + "." + blk.Labels[1]
		obj, err := r.resource(typ, blk)
		if err != nil {
			err.File, err.Resource = path, addr
			errs = append(errs, err)
			continue
		}
		if obj == nil {
			continue
		}
		objs = append(objs, HCLObject{File: path, Line: blk.TypeRange.Start.Line, Resource: addr, Object: obj})
	}
	return objs, errs
}

// policyKinds are the kinds ReadHCL returns, by API group version.
var policyKinds = map[string]map[string]bool{
	calicoAPIVersion:           calicoPolicyKinds,
	"crd.projectcalico.org/v1": calicoPolicyKinds,
	k8sNPAPIVersion:            {"NetworkPolicy": true},
}

var calicoPolicyKinds = map[string]bool{
	"NetworkPolicy": true, "GlobalNetworkPolicy": true,
	"StagedNetworkPolicy": true, "StagedGlobalNetworkPolicy": true, "StagedKubernetesNetworkPolicy": true,
	"Tier": true, "NetworkSet": true, "GlobalNetworkSet": true,
}

// isPolicyKind reports whether an object is a policy kind; an unknown
// ("") apiVersion or kind counts as one when the other allows it.
func isPolicyKind(apiVersion, kind string) bool {
	if apiVersion == "" {
		if kind == "" {
			return true
		}
		for _, kinds := range policyKinds {
			if kinds[kind] {
				return true
			}
		}
		return false
	}
	kinds, ok := policyKinds[apiVersion]
	return ok && (kind == "" || kinds[kind])
}

type hclReader struct {
	file string
	src  []byte
}

func (r *hclReader) errAt(kind HCLErrorKind, rng hcl.Range, format string, args ...any) *HCLError {
	return &HCLError{Kind: kind, File: r.file, Line: rng.Start.Line, Column: rng.Start.Column, Msg: fmt.Sprintf(format, args...)}
}

// text returns an expression's source, shortened for messages.
func (r *hclReader) text(rng hcl.Range) string {
	if rng.Start.Byte < 0 || rng.End.Byte > len(r.src) || rng.Start.Byte >= rng.End.Byte {
		return "expression"
	}
	s := strings.Join(strings.Fields(string(r.src[rng.Start.Byte:rng.End.Byte])), " ")
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

func (r *hclReader) notStatic(rng hcl.Range, why string) *HCLError {
	return r.errAt(HCLErrNotStatic, rng, "%s is not statically known (%s)", r.text(rng), why)
}

// resource extracts a resource's object; nil with no error when the
// resource declares no policy object.
func (r *hclReader) resource(typ string, blk *hclsyntax.Block) (map[string]any, *HCLError) {
	var obj map[string]any
	var err *HCLError
	switch typ {
	case tfKubectlManifest:
		obj, err = r.kubectlManifest(blk.Body)
	case tfKubernetesManifest:
		obj, err = r.kubernetesManifest(blk.Body)
	default:
		obj, err = r.networkPolicyV1(blk.Body)
	}
	if err != nil || obj == nil {
		return nil, err
	}
	if a, ok := blk.Body.Attributes["for_each"]; ok {
		return nil, r.notStatic(a.Expr.Range(), "for_each makes one object per element")
	}
	if a, ok := blk.Body.Attributes["count"]; ok {
		v, err := r.eval(a.Expr)
		if err != nil {
			return nil, err
		}
		switch n := v.(type) {
		case nil:
		case json.Number:
			switch n.String() {
			case "0":
				return nil, nil // no instance
			case "1":
			default:
				return nil, r.errAt(HCLErrInvalid, a.Expr.Range(), "count = %s declares several instances of one object", n)
			}
		default:
			return nil, r.errAt(HCLErrInvalid, a.Expr.Range(), "count: want a number")
		}
	}
	return obj, nil
}

func kindOf(m map[string]any) (apiVersion, kind string) {
	apiVersion, _ = m["apiVersion"].(string)
	kind, _ = m["kind"].(string)
	return apiVersion, kind
}

// manifestObject checks a decoded manifest: nil when not a policy kind.
func (r *hclReader) manifestObject(v any, rng hcl.Range) (map[string]any, *HCLError) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, r.errAt(HCLErrInvalid, rng, "the manifest is not an object")
	}
	apiVersion, kind := kindOf(m)
	if apiVersion == "" || kind == "" {
		return nil, r.errAt(HCLErrInvalid, rng, "the manifest has no apiVersion or kind")
	}
	if !isPolicyKind(apiVersion, kind) {
		return nil, nil
	}
	return m, nil
}

// probeKind finds apiVersion and kind of an object constructor whose
// other parts may not be static, to ignore non-policy resources quietly.
func (r *hclReader) probeKind(e hclsyntax.Expression) (apiVersion, kind string) {
	for {
		p, ok := e.(*hclsyntax.ParenthesesExpr)
		if !ok {
			break
		}
		e = p.Expression
	}
	obj, ok := e.(*hclsyntax.ObjectConsExpr)
	if !ok {
		return "", ""
	}
	for _, it := range obj.Items {
		k, err := r.objectKey(it.KeyExpr)
		if err != nil || (k != "apiVersion" && k != "kind") {
			continue
		}
		v, err := r.eval(it.ValueExpr)
		if err != nil {
			continue
		}
		if s, ok := v.(string); ok {
			if k == "kind" {
				kind = s
			} else {
				apiVersion = s
			}
		}
	}
	return apiVersion, kind
}

// probeYAMLKind finds top-level apiVersion and kind lines in the literal
// parts of a YAML template.
func probeYAMLKind(text string) (apiVersion, kind string) {
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.ContainsAny(v, "\x00#") {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		switch k {
		case "kind":
			kind = v
		case "apiVersion":
			apiVersion = v
		}
	}
	return apiVersion, kind
}

func (r *hclReader) kubectlManifest(b *hclsyntax.Body) (map[string]any, *HCLError) {
	a, ok := b.Attributes["yaml_body"]
	if !ok {
		return nil, r.errAt(HCLErrInvalid, b.SrcRange, "no yaml_body")
	}
	var m map[string]any
	var err *HCLError
	if call, ok := a.Expr.(*hclsyntax.FunctionCallExpr); ok && isEncodeFunc(call.Name) && len(call.Args) == 1 && !call.ExpandFinal {
		// yamlencode(x) decodes back to x (and so does jsonencode(x),
		// JSON being YAML).
		v, e := r.eval(call.Args[0])
		if e != nil {
			if av, k := r.probeKind(call.Args[0]); !isPolicyKind(av, k) {
				return nil, nil
			}
			return nil, e
		}
		m, err = r.manifestObject(v, a.Expr.Range())
	} else {
		v, e := r.eval(a.Expr)
		if e != nil {
			if t, ok := a.Expr.(*hclsyntax.TemplateExpr); ok {
				if av, k := probeYAMLKind(r.templateLiterals(t)); !isPolicyKind(av, k) {
					return nil, nil
				}
			}
			return nil, e
		}
		s, ok := v.(string)
		if !ok {
			return nil, r.errAt(HCLErrInvalid, a.Expr.Range(), "yaml_body: want a string")
		}
		doc, e2 := decodeYAMLObject(s)
		if e2 != nil {
			return nil, r.errAt(HCLErrInvalid, a.Expr.Range(), "yaml_body: %v", e2)
		}
		m, err = r.manifestObject(doc, a.Expr.Range())
	}
	if err != nil || m == nil {
		return nil, err
	}
	if ov, ok := b.Attributes["override_namespace"]; ok {
		v, err := r.eval(ov.Expr)
		if err != nil {
			return nil, err
		}
		switch ns := v.(type) {
		case nil:
		case string:
			md, ok := m["metadata"].(map[string]any)
			if !ok {
				md = map[string]any{}
				m["metadata"] = md
			}
			md["namespace"] = ns
		default:
			return nil, r.errAt(HCLErrInvalid, ov.Expr.Range(), "override_namespace: want a string")
		}
	}
	return m, nil
}

func (r *hclReader) templateLiterals(t *hclsyntax.TemplateExpr) string {
	var b strings.Builder
	for _, p := range t.Parts {
		if lit, ok := p.(*hclsyntax.LiteralValueExpr); ok && lit.Val.Type() == cty.String && lit.Val.IsKnown() && !lit.Val.IsNull() {
			b.WriteString(lit.Val.AsString())
		} else {
			b.WriteByte(0)
		}
	}
	return b.String()
}

// decodeYAMLObject decodes one YAML document into the JSON form.
func decodeYAMLObject(s string) (any, error) {
	dec := yamlv3.NewDecoder(strings.NewReader(s))
	docs := 0
	for {
		var n yamlv3.Node
		err := dec.Decode(&n)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(n.Content) > 0 {
			docs++
		}
	}
	if docs != 1 {
		return nil, fmt.Errorf("want one YAML document, found %d", docs)
	}
	j, err := yaml.YAMLToJSON([]byte(s))
	if err != nil {
		return nil, err
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(j))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func (r *hclReader) kubernetesManifest(b *hclsyntax.Body) (map[string]any, *HCLError) {
	a, ok := b.Attributes["manifest"]
	if !ok {
		return nil, r.errAt(HCLErrInvalid, b.SrcRange, "no manifest")
	}
	v, err := r.eval(a.Expr)
	if err != nil {
		if av, k := r.probeKind(a.Expr); !isPolicyKind(av, k) {
			return nil, nil
		}
		return nil, err
	}
	return r.manifestObject(v, a.Expr.Range())
}

func isEncodeFunc(name string) bool {
	name = strings.TrimPrefix(name, "core::")
	return name == "yamlencode" || name == "jsonencode"
}

// eval evaluates an expression statically into the JSON form.
func (r *hclReader) eval(e hclsyntax.Expression) (any, *HCLError) {
	switch x := e.(type) {
	case *hclsyntax.LiteralValueExpr:
		return r.ctyValue(x.Val, x.SrcRange)
	case *hclsyntax.TemplateExpr:
		return r.template(x)
	case *hclsyntax.TemplateWrapExpr:
		return nil, r.notStatic(x.Wrapped.Range(), "an interpolation")
	case *hclsyntax.ParenthesesExpr:
		return r.eval(x.Expression)
	case *hclsyntax.TupleConsExpr:
		out := make([]any, len(x.Exprs))
		for i, el := range x.Exprs {
			v, err := r.eval(el)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case *hclsyntax.ObjectConsExpr:
		return r.object(x)
	case *hclsyntax.UnaryOpExpr:
		return r.unary(x)
	case *hclsyntax.FunctionCallExpr:
		return r.call(x)
	case *hclsyntax.ScopeTraversalExpr:
		return nil, r.notStatic(x.SrcRange, "a reference")
	}
	return nil, r.notStatic(e.Range(), "an expression only Terraform evaluates")
}

// template evaluates a template of literal parts only.
func (r *hclReader) template(x *hclsyntax.TemplateExpr) (any, *HCLError) {
	var b strings.Builder
	for _, p := range x.Parts {
		lit, ok := p.(*hclsyntax.LiteralValueExpr)
		if !ok {
			return nil, r.notStatic(p.Range(), "an interpolation or template directive")
		}
		v, err := r.ctyValue(lit.Val, lit.SrcRange)
		if err != nil {
			return nil, err
		}
		s, err := r.toString(v, lit.SrcRange, "template part")
		if err != nil {
			return nil, err
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

func (r *hclReader) object(x *hclsyntax.ObjectConsExpr) (any, *HCLError) {
	out := make(map[string]any, len(x.Items))
	for _, it := range x.Items {
		k, err := r.objectKey(it.KeyExpr)
		if err != nil {
			return nil, err
		}
		if _, dup := out[k]; dup {
			return nil, r.errAt(HCLErrInvalid, it.KeyExpr.Range(), "duplicate key %q", k)
		}
		v, err := r.eval(it.ValueExpr)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// unary evaluates a negated number or a negated bool.
func (r *hclReader) unary(x *hclsyntax.UnaryOpExpr) (any, *HCLError) {
	v, err := r.eval(x.Val)
	if err != nil {
		return nil, err
	}
	switch {
	case x.Op == hclsyntax.OpNegate:
		if n, ok := v.(json.Number); ok {
			f, _, perr := big.ParseFloat(n.String(), 10, 512, big.ToNearestEven)
			if perr == nil {
				return bigNumber(f.Neg(f)), nil
			}
		}
	case x.Op == hclsyntax.OpLogicalNot:
		if bv, ok := v.(bool); ok {
			return !bv, nil
		}
	}
	return nil, r.errAt(HCLErrInvalid, x.SrcRange, "%s: wrong operand type", r.text(x.SrcRange))
}

// call evaluates jsonencode of a static value; any other call is not static.
func (r *hclReader) call(x *hclsyntax.FunctionCallExpr) (any, *HCLError) {
	name := strings.TrimPrefix(x.Name, "core::")
	if name == "jsonencode" && len(x.Args) == 1 && !x.ExpandFinal {
		v, err := r.eval(x.Args[0])
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := json.NewEncoder(&buf).Encode(v); err != nil {
			return nil, r.errAt(HCLErrInvalid, x.Range(), "jsonencode: %v", err)
		}
		return strings.TrimSuffix(buf.String(), "\n"), nil
	}
	if name == "yamlencode" {
		return nil, r.notStatic(x.Range(), "yamlencode is evaluated only as the whole yaml_body")
	}
	return nil, r.notStatic(x.Range(), "a call of "+x.Name+"()")
}

// objectKey evaluates an object constructor key: a bare name is literal.
func (r *hclReader) objectKey(e hclsyntax.Expression) (string, *HCLError) {
	if k, ok := e.(*hclsyntax.ObjectConsKeyExpr); ok {
		if !k.ForceNonLiteral {
			if t, ok := k.Wrapped.(*hclsyntax.ScopeTraversalExpr); ok && len(t.Traversal) > 1 {
				return "", r.errAt(HCLErrInvalid, t.SrcRange, "ambiguous key %s (quote it, or wrap a reference in parentheses)", r.text(t.SrcRange))
			}
			if name := hcl.ExprAsKeyword(k.Wrapped); name != "" {
				return name, nil
			}
		}
		e = k.Wrapped
	}
	v, err := r.eval(e)
	if err != nil {
		return "", err
	}
	return r.toString(v, e.Range(), "object key")
}

func (r *hclReader) ctyValue(v cty.Value, rng hcl.Range) (any, *HCLError) {
	switch {
	case !v.IsKnown():
		return nil, r.notStatic(rng, "an unknown value")
	case v.IsNull():
		return nil, nil
	case v.Type() == cty.String:
		return v.AsString(), nil
	case v.Type() == cty.Number:
		return bigNumber(v.AsBigFloat()), nil
	case v.Type() == cty.Bool:
		return v.True(), nil
	}
	return nil, r.errAt(HCLErrInvalid, rng, "unsupported literal of type %s", v.Type().FriendlyName())
}

func bigNumber(f *big.Float) json.Number {
	if f.IsInt() {
		i, _ := f.Int(nil)
		return json.Number(i.String())
	}
	return json.Number(f.Text('g', -1))
}

// toString converts a primitive value to a string as Terraform does.
func (r *hclReader) toString(v any, rng hcl.Range, what string) (string, *HCLError) {
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", r.errAt(HCLErrInvalid, rng, "%s: want a string, got %s", what, jsonTypeName(v))
}

func jsonTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case bool:
		return "a bool"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	}
	return fmt.Sprintf("%T", v)
}

// Kubernetes NetworkPolicy blocks (kubernetes_network_policy_v1).

// bodyShape names what a block body of the provider schema may hold.
type bodyShape struct {
	attrs  []string
	blocks []string
}

// resourceMeta are Terraform's meta-arguments, valid in any resource.
var resourceMeta = bodyShape{attrs: []string{"count", "for_each", "depends_on", "provider"}, blocks: []string{"lifecycle", "provisioner", "connection", "timeouts"}}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// check rejects arguments and blocks the schema does not have; dynamic
// blocks are not static.
func (r *hclReader) check(b *hclsyntax.Body, what string, shape bodyShape, extra *bodyShape) *HCLError {
	names := make([]string, 0, len(b.Attributes))
	for n := range b.Attributes {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		return b.Attributes[names[i]].SrcRange.Start.Byte < b.Attributes[names[j]].SrcRange.Start.Byte
	})
	for _, n := range names {
		if !contains(shape.attrs, n) && (extra == nil || !contains(extra.attrs, n)) {
			return r.errAt(HCLErrInvalid, b.Attributes[n].NameRange, "%sunsupported argument %q", prefixWhat(what), n)
		}
	}
	for _, blk := range b.Blocks {
		if blk.Type == "dynamic" {
			return r.errAt(HCLErrNotStatic, blk.TypeRange, "%sdynamic block %q is not statically known (a dynamic block)", prefixWhat(what), strings.Join(blk.Labels, " "))
		}
		if !contains(shape.blocks, blk.Type) && (extra == nil || !contains(extra.blocks, blk.Type)) {
			return r.errAt(HCLErrInvalid, blk.TypeRange, "%sunsupported block %q", prefixWhat(what), blk.Type)
		}
	}
	return nil
}

func prefixWhat(what string) string {
	if what == "" {
		return ""
	}
	return what + ": "
}

func blocksOf(b *hclsyntax.Body, typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, blk := range b.Blocks {
		if blk.Type == typ {
			out = append(out, blk)
		}
	}
	return out
}

// single returns the only block of a type (MaxItems 1 in the schema), nil
// when there is none.
func (r *hclReader) single(b *hclsyntax.Body, typ, what string) (*hclsyntax.Block, *HCLError) {
	l := blocksOf(b, typ)
	switch len(l) {
	case 0:
		return nil, nil
	case 1:
		return l[0], nil
	}
	return nil, r.errAt(HCLErrInvalid, l[1].TypeRange, "%s: at most one %s block", what, typ)
}

// attr evaluates an argument; a missing or null one is nil.
func (r *hclReader) attr(b *hclsyntax.Body, name string) (any, hcl.Range, *HCLError) {
	a, ok := b.Attributes[name]
	if !ok {
		return nil, hcl.Range{}, nil
	}
	v, err := r.eval(a.Expr)
	return v, a.Expr.Range(), err
}

func (r *hclReader) stringAttr(b *hclsyntax.Body, name, what string) (string, bool, *HCLError) {
	v, rng, err := r.attr(b, name)
	if err != nil || v == nil {
		return "", false, err
	}
	s, err := r.toString(v, rng, what+"."+name)
	return s, err == nil, err
}

func (r *hclReader) stringListAttr(b *hclsyntax.Body, name, what string) ([]any, *HCLError) {
	v, rng, err := r.attr(b, name)
	if err != nil || v == nil {
		return nil, err
	}
	l, ok := v.([]any)
	if !ok {
		return nil, r.errAt(HCLErrInvalid, rng, "%s.%s: want a list, got %s", what, name, jsonTypeName(v))
	}
	out := make([]any, len(l))
	for i, e := range l {
		s, err := r.toString(e, rng, fmt.Sprintf("%s.%s[%d]", what, name, i))
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

func (r *hclReader) stringMapAttr(b *hclsyntax.Body, name, what string) (map[string]any, *HCLError) {
	v, rng, err := r.attr(b, name)
	if err != nil || v == nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, r.errAt(HCLErrInvalid, rng, "%s.%s: want a map, got %s", what, name, jsonTypeName(v))
	}
	out := make(map[string]any, len(m))
	for k, e := range m {
		s, err := r.toString(e, rng, what+"."+name+"."+k)
		if err != nil {
			return nil, err
		}
		out[k] = s
	}
	return out, nil
}

func (r *hclReader) intAttr(b *hclsyntax.Body, name, what string) (int64, bool, *HCLError) {
	v, rng, err := r.attr(b, name)
	if err != nil || v == nil {
		return 0, false, err
	}
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = x
	}
	n, perr := strconv.ParseInt(s, 10, 64)
	if perr != nil {
		return 0, false, r.errAt(HCLErrInvalid, rng, "%s.%s: want a whole number, got %s", what, name, r.text(rng))
	}
	return n, true, nil
}

// networkPolicyV1 converts a kubernetes_network_policy_v1 body to the
// NetworkPolicy JSON form as the provider would send it.
func (r *hclReader) networkPolicyV1(b *hclsyntax.Body) (map[string]any, *HCLError) {
	if err := r.check(b, "", bodyShape{blocks: []string{"metadata", "spec"}}, &resourceMeta); err != nil {
		return nil, err
	}
	mdb, err := r.single(b, "metadata", "resource")
	if err != nil {
		return nil, err
	}
	if mdb == nil {
		return nil, r.errAt(HCLErrInvalid, b.SrcRange, "no metadata block")
	}
	sb, err := r.single(b, "spec", "resource")
	if err != nil {
		return nil, err
	}
	if sb == nil {
		return nil, r.errAt(HCLErrInvalid, b.SrcRange, "no spec block")
	}
	md, err := r.metadata(mdb.Body)
	if err != nil {
		return nil, err
	}
	spec, err := r.npSpec(sb.Body)
	if err != nil {
		return nil, err
	}
	return map[string]any{"apiVersion": k8sNPAPIVersion, "kind": "NetworkPolicy", "metadata": md, "spec": spec}, nil
}

func (r *hclReader) metadata(b *hclsyntax.Body) (map[string]any, *HCLError) {
	const what = "metadata"
	if err := r.check(b, what, bodyShape{attrs: []string{"name", "generate_name", "namespace", "labels", "annotations"}}, nil); err != nil {
		return nil, err
	}
	md := map[string]any{"namespace": "default"} // the provider's default
	for _, f := range []struct{ attr, key string }{{"name", "name"}, {"generate_name", "generateName"}, {"namespace", "namespace"}} {
		s, ok, err := r.stringAttr(b, f.attr, what)
		if err != nil {
			return nil, err
		}
		if ok && s != "" {
			md[f.key] = s
		}
	}
	for _, k := range []string{"labels", "annotations"} {
		m, err := r.stringMapAttr(b, k, what)
		if err != nil {
			return nil, err
		}
		if len(m) > 0 {
			md[k] = m
		}
	}
	return md, nil
}

func (r *hclReader) npSpec(b *hclsyntax.Body) (map[string]any, *HCLError) {
	const what = "spec"
	if err := r.check(b, what, bodyShape{attrs: []string{"policy_types"}, blocks: []string{"pod_selector", "ingress", "egress"}}, nil); err != nil {
		return nil, err
	}
	spec := map[string]any{}
	ps, err := r.single(b, "pod_selector", what)
	if err != nil {
		return nil, err
	}
	if ps == nil {
		return nil, r.errAt(HCLErrInvalid, b.SrcRange, "spec: no pod_selector block (required; pod_selector {} selects every pod)")
	}
	if spec["podSelector"], err = r.selector(ps.Body, "spec.pod_selector"); err != nil {
		return nil, err
	}
	if _, ok := b.Attributes["policy_types"]; !ok {
		return nil, r.errAt(HCLErrInvalid, b.SrcRange, "spec: policy_types is required")
	}
	types, err := r.stringListAttr(b, "policy_types", what)
	if err != nil {
		return nil, err
	}
	if len(types) > 0 {
		spec["policyTypes"] = types
	}
	for _, dir := range []struct{ block, key, peers, peerKey string }{{"ingress", "ingress", "from", "from"}, {"egress", "egress", "to", "to"}} {
		var rules []any
		for i, rb := range blocksOf(b, dir.block) {
			rw := fmt.Sprintf("spec.%s[%d]", dir.block, i)
			if err := r.check(rb.Body, rw, bodyShape{blocks: []string{"ports", dir.peers}}, nil); err != nil {
				return nil, err
			}
			rule := map[string]any{}
			var ports []any
			for j, pb := range blocksOf(rb.Body, "ports") {
				p, err := r.port(pb.Body, fmt.Sprintf("%s.ports[%d]", rw, j))
				if err != nil {
					return nil, err
				}
				ports = append(ports, p)
			}
			if len(ports) > 0 {
				rule["ports"] = ports
			}
			var peers []any
			for j, pb := range blocksOf(rb.Body, dir.peers) {
				p, err := r.peer(pb.Body, fmt.Sprintf("%s.%s[%d]", rw, dir.peers, j))
				if err != nil {
					return nil, err
				}
				peers = append(peers, p)
			}
			if len(peers) > 0 {
				rule[dir.peerKey] = peers
			}
			rules = append(rules, rule)
		}
		if len(rules) > 0 {
			spec[dir.key] = rules
		}
	}
	return spec, nil
}

func (r *hclReader) port(b *hclsyntax.Body, what string) (map[string]any, *HCLError) {
	if err := r.check(b, what, bodyShape{attrs: []string{"port", "end_port", "protocol"}}, nil); err != nil {
		return nil, err
	}
	p := map[string]any{}
	port, ok, err := r.stringAttr(b, "port", what)
	if err != nil {
		return nil, err
	}
	if ok && port != "" {
		// The provider parses port as an int-or-string.
		if n, perr := strconv.Atoi(port); perr == nil {
			p["port"] = json.Number(strconv.Itoa(n))
		} else {
			p["port"] = port
		}
	}
	end, ok, err := r.intAttr(b, "end_port", what)
	if err != nil {
		return nil, err
	}
	if ok && end != 0 {
		p["endPort"] = json.Number(strconv.FormatInt(end, 10))
	}
	proto, ok, err := r.stringAttr(b, "protocol", what)
	if err != nil {
		return nil, err
	}
	if !ok || proto == "" {
		proto = "TCP" // the provider's default
	}
	p["protocol"] = proto
	return p, nil
}

func (r *hclReader) peer(b *hclsyntax.Body, what string) (map[string]any, *HCLError) {
	if err := r.check(b, what, bodyShape{blocks: []string{"ip_block", "namespace_selector", "pod_selector"}}, nil); err != nil {
		return nil, err
	}
	p := map[string]any{}
	ib, err := r.single(b, "ip_block", what)
	if err != nil {
		return nil, err
	}
	if ib != nil {
		bw := what + ".ip_block"
		if err := r.check(ib.Body, bw, bodyShape{attrs: []string{"cidr", "except"}}, nil); err != nil {
			return nil, err
		}
		block := map[string]any{}
		cidr, ok, err := r.stringAttr(ib.Body, "cidr", bw)
		if err != nil {
			return nil, err
		}
		if ok && cidr != "" {
			block["cidr"] = cidr
		}
		except, err := r.stringListAttr(ib.Body, "except", bw)
		if err != nil {
			return nil, err
		}
		if len(except) > 0 {
			block["except"] = except
		}
		p["ipBlock"] = block
	}
	for _, s := range []struct{ block, key string }{{"namespace_selector", "namespaceSelector"}, {"pod_selector", "podSelector"}} {
		sb, err := r.single(b, s.block, what)
		if err != nil {
			return nil, err
		}
		if sb == nil {
			continue
		}
		if p[s.key], err = r.selector(sb.Body, what+"."+s.block); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (r *hclReader) selector(b *hclsyntax.Body, what string) (map[string]any, *HCLError) {
	if err := r.check(b, what, bodyShape{attrs: []string{"match_labels"}, blocks: []string{"match_expressions"}}, nil); err != nil {
		return nil, err
	}
	sel := map[string]any{}
	labels, err := r.stringMapAttr(b, "match_labels", what)
	if err != nil {
		return nil, err
	}
	if len(labels) > 0 {
		sel["matchLabels"] = labels
	}
	var exprs []any
	for i, eb := range blocksOf(b, "match_expressions") {
		ew := fmt.Sprintf("%s.match_expressions[%d]", what, i)
		if err := r.check(eb.Body, ew, bodyShape{attrs: []string{"key", "operator", "values"}}, nil); err != nil {
			return nil, err
		}
		e := map[string]any{}
		for _, k := range []string{"key", "operator"} {
			s, ok, err := r.stringAttr(eb.Body, k, ew)
			if err != nil {
				return nil, err
			}
			if ok && s != "" {
				e[k] = s
			}
		}
		values, err := r.stringListAttr(eb.Body, "values", ew)
		if err != nil {
			return nil, err
		}
		if len(values) > 0 {
			e["values"] = values
		}
		exprs = append(exprs, e)
	}
	if len(exprs) > 0 {
		sel["matchExpressions"] = exprs
	}
	return sel, nil
}
