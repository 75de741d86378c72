package policyfile

import (
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// StagesScript is the name of the stage script 'render --rollout/--wave
// --out DIR' writes next to the policies (render.StagesScriptName, spelled
// here like the Terraform types: reading does not depend on the writer).
const StagesScript = "_stages.sh"

// tfKubernetesLabels is the hashicorp/kubernetes resource that sets labels
// on an existing object (render -o hcl writes one per stage label).
const tfKubernetesLabels = "kubernetes_labels"

// NamespaceLabels are labels one file sets on one namespace: a 'kubectl
// label namespace' line of a stage script or a kubernetes_labels resource
// of kind Namespace.
type NamespaceLabels struct {
	File string
	// Line is the script line or the resource block's line.
	Line      int
	Namespace string
	Labels    map[string]string
}

// ReadNamespaceLabels reads the namespace labels the files of paths set
// beside their policy objects: the 'kubectl label namespace NS KEY=VALUE
// --overwrite' lines of each stage script (_stages.sh found in a
// directory, or a *.sh file named explicitly) and the kubernetes_labels
// resources of kind Namespace in Terraform files (directories walked as
// Expand does). A stage script line that is neither such a label nor one
// of the other lines render writes (set -eu, the kubectl variable,
// 'kubectl delete' of calico-plan policies), a resource that is not
// statically known and a file that does not parse are problems; the
// order is file order, then line order.
func ReadNamespaceLabels(paths []string) ([]NamespaceLabels, []Problem) {
	var probs []Problem
	// A walk's failures are Expand's to report (the same paths are read
	// as policy files).
	files, _ := expand(paths, func(name string) bool { return name == StagesScript || IsTerraform(name) },
		func(p Problem) { probs = append(probs, p) }, nil)
	var scripts, tf []string
	for _, p := range files {
		switch {
		case strings.HasSuffix(p, ".sh"):
			scripts = append(scripts, p)
		case IsTerraform(p):
			tf = append(tf, p)
		}
	}
	var out []NamespaceLabels
	for _, f := range append(tf, scripts...) {
		src, err := os.ReadFile(f)
		if err != nil {
			probs = append(probs, Problem{File: f, Doc: -1, Msg: fileError(err)})
			continue
		}
		var l []NamespaceLabels
		var p []Problem
		if IsTerraform(f) {
			l, p = readLabelsHCL(f, src)
		} else {
			l, p = readStagesScript(f, src)
		}
		out = append(out, l...)
		probs = append(probs, p...)
	}
	return out, probs
}

// readStagesScript reads the label lines of a stage script as render
// writes it (render.EncodeStagesScript).
func readStagesScript(file string, src []byte) ([]NamespaceLabels, []Problem) {
	var out []NamespaceLabels
	var probs []Problem
	for i, line := range strings.Split(string(src), "\n") {
		n := i + 1
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || line == "set -eu" || line == "kubectl=${KUBECTL:-kubectl}" {
			continue
		}
		bad := func(why string) {
			probs = append(probs, Problem{File: file, Doc: -1, Line: n, Msg: why + ": snapshot --apply reads only the lines render writes (kubectl label namespace, kubectl delete); apply the script and take a snapshot instead"})
		}
		w, ok := scriptWords(line)
		if !ok {
			bad("unbalanced quotes")
			continue
		}
		if len(w) < 3 || w[0] != "$kubectl" || w[1] != "$@" {
			bad(fmt.Sprintf("%q is not a kubectl command of the stage script", line))
			continue
		}
		switch {
		case w[2] == "delete":
			// The deletions are what the supersede rule of check --existing
			// models: calico-plan policies the files no longer have.
		case w[2] == "label" && len(w) == 7 && w[3] == "namespace" && w[6] == "--overwrite":
			k, v, ok := strings.Cut(w[5], "=")
			if !ok || k == "" {
				bad(fmt.Sprintf("label %q is not KEY=VALUE", w[5]))
				continue
			}
			out = append(out, NamespaceLabels{File: file, Line: n, Namespace: w[4], Labels: map[string]string{k: v}})
		default:
			bad(fmt.Sprintf("%q is not a label or delete command", strings.Join(w[2:], " ")))
		}
	}
	return out, probs
}

// scriptWords splits a line into shell words: single quotes are literal,
// double quotes are literal too ("$kubectl" stays $kubectl: nothing is
// expanded), a backslash outside quotes escapes the next character (how
// render quotes a quote: close the quotes, backslash and quote, reopen).
// ok is false for an unterminated quote.
func scriptWords(s string) (words []string, ok bool) {
	var cur strings.Builder
	in := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\'' || ch == '"':
			j := strings.IndexByte(s[i+1:], ch)
			if j < 0 {
				return nil, false
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			in = true
		case ch == '\\' && i+1 < len(s):
			cur.WriteByte(s[i+1])
			i++
			in = true
		case ch == ' ' || ch == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(ch)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words, true
}

// readLabelsHCL reads the kubernetes_labels resources of kind Namespace of
// one Terraform file (other kinds are ignored).
func readLabelsHCL(file string, src []byte) ([]NamespaceLabels, []Problem) {
	body, errs := parseHCLBody(file, src)
	if errs != nil {
		var probs []Problem
		for _, e := range errs {
			probs = append(probs, Problem{File: e.File, Doc: -1, Line: e.Line, Msg: e.Msg})
		}
		return nil, probs
	}
	r := &hclReader{file: file, src: src}
	var out []NamespaceLabels
	var probs []Problem
	for _, blk := range body.Blocks {
		if blk.Type != "resource" || len(blk.Labels) != 2 || blk.Labels[0] != tfKubernetesLabels {
			continue
		}
		addr := blk.Labels[0] + "." + blk.Labels[1]
		l, err := r.kubernetesLabels(blk.Body)
		if err != nil {
			msg := err.Msg
			if err.Kind == HCLErrNotStatic || err.Kind == HCLErrInvalid {
				msg += "; resource skipped"
			}
			probs = append(probs, Problem{File: file, Doc: -1, Line: err.Line, Resource: addr, Msg: msg})
			continue
		}
		if l != nil {
			l.File, l.Line = file, blk.TypeRange.Start.Line
			out = append(out, *l)
		}
	}
	return out, probs
}

// parseHCLBody parses a Terraform file; the errors are its syntax errors.
func parseHCLBody(file string, src []byte) (*hclsyntax.Body, []*HCLError) {
	f, diags := hclsyntax.ParseConfig(src, file, hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		var errs []*HCLError
		for _, d := range diags {
			if d.Severity != hcl.DiagError {
				continue
			}
			e := &HCLError{Kind: HCLErrSyntax, File: file, Msg: d.Summary}
			if d.Detail != "" {
				e.Msg += ": " + d.Detail
			}
			if d.Subject != nil {
				e.Line, e.Column = d.Subject.Start.Line, d.Subject.Start.Column
			}
			errs = append(errs, e)
		}
		return nil, errs
	}
	return f.Body.(*hclsyntax.Body), nil
}

// kubernetesLabels reads one kubernetes_labels resource: nil when it
// labels another kind than Namespace.
func (r *hclReader) kubernetesLabels(b *hclsyntax.Body) (*NamespaceLabels, *HCLError) {
	shape := bodyShape{attrs: []string{"api_version", "kind", "labels", "field_manager", "force"}, blocks: []string{"metadata"}}
	if err := r.check(b, "", shape, &resourceMeta); err != nil {
		return nil, err
	}
	for _, meta := range []string{"count", "for_each"} {
		if a, ok := b.Attributes[meta]; ok {
			return nil, r.notStatic(a.Expr.Range(), meta+" decides how many namespaces are labelled")
		}
	}
	kind, _, err := r.stringAttr(b, "kind", "")
	if err != nil {
		return nil, err
	}
	apiVersion, _, err := r.stringAttr(b, "api_version", "")
	if err != nil {
		return nil, err
	}
	if kind != "Namespace" || apiVersion != "v1" {
		return nil, nil
	}
	mdb, err := r.single(b, "metadata", "resource")
	if err != nil {
		return nil, err
	}
	if mdb == nil {
		return nil, r.errAt(HCLErrInvalid, b.SrcRange, "no metadata block")
	}
	if err := r.check(mdb.Body, "metadata", bodyShape{attrs: []string{"name", "namespace"}}, nil); err != nil {
		return nil, err
	}
	name, ok, err := r.stringAttr(mdb.Body, "name", "metadata")
	if err != nil {
		return nil, err
	}
	if !ok || name == "" {
		return nil, r.errAt(HCLErrInvalid, mdb.Body.SrcRange, "metadata: no name")
	}
	m, err := r.stringMapAttr(b, "labels", "")
	if err != nil {
		return nil, err
	}
	labels := make(map[string]string, len(m))
	for k, v := range m {
		labels[k] = v.(string)
	}
	return &NamespaceLabels{Namespace: name, Labels: labels}, nil
}
