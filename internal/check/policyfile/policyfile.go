// Package policyfile reads policy sets from the files a repository keeps
// them in: YAML or JSON manifests (multi-document streams and List kinds)
// and Terraform (.tf, the resources ReadHCL understands), given as
// files or directories. Every object goes through the one policy loader,
// so Terraform and YAML give the same Set, and every problem is reported
// with its file, document and field while the rest still loads.
package policyfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/calico-plan/calico-plan/internal/policy"
)

// Doc is one document of a policy file: a YAML/JSON document, or one
// object a Terraform file declares.
type Doc struct {
	File string
	// Index is the 0-based document index in a YAML stream, or the object's
	// index among those the Terraform file declares.
	Index int
	// Line and Resource locate a Terraform resource block ("type.label");
	// zero for YAML.
	Line     int
	Resource string
	// JSON is the document as JSON.
	JSON []byte
}

// Object is the identity and metadata of one object in a Doc (a List's
// items count individually).
type Object struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Namespace  string            `json:"-"`
	Name       string            `json:"-"`
	Labels     map[string]string `json:"-"`
	// JSON is the object as JSON.
	JSON []byte `json:"-"`
}

// Objects returns the objects of the document, List items expanded.
func (d Doc) Objects() []Object {
	var out []Object
	var walk func(js []byte, defAPI, defKind string)
	walk = func(js []byte, defAPI, defKind string) {
		var o struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string            `json:"name"`
				Namespace string            `json:"namespace"`
				Labels    map[string]string `json:"labels"`
			} `json:"metadata"`
			Items []json.RawMessage `json:"items"`
		}
		if json.Unmarshal(js, &o) != nil {
			return
		}
		if o.APIVersion == "" {
			o.APIVersion = defAPI
		}
		if o.Kind == "" {
			o.Kind = defKind
		}
		if strings.HasSuffix(o.Kind, "List") {
			itemKind, itemAPI := strings.TrimSuffix(o.Kind, "List"), o.APIVersion
			if o.Kind == "List" {
				itemKind, itemAPI = "", ""
			}
			for _, it := range o.Items {
				walk(it, itemAPI, itemKind)
			}
			return
		}
		out = append(out, Object{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Metadata.Namespace,
			Name: o.Metadata.Name, Labels: o.Metadata.Labels, JSON: js})
	}
	walk(d.JSON, "", "")
	return out
}

// Problem is a file that could not be read or parsed, or an object Calico
// would reject or that cannot be evaluated.
type Problem struct {
	File string
	// Doc is the document (YAML) or object (Terraform) index; -1 for a
	// problem with the file as a whole.
	Doc int
	// Line locates the problem: for YAML and JSON the parser's line or
	// the document's first line, for Terraform the resource block or the
	// offending expression; 0 when unknown.
	Line     int
	Resource string // Terraform "type.label"
	Kind     string
	Name     string
	Field    string
	Msg      string
	// Warning marks a problem Calico accepts; the object is loaded.
	Warning bool
}

// String renders "file[:line]: doc N (Kind name): field: msg".
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	if p.Doc >= 0 {
		fmt.Fprintf(&b, ": doc %d", p.Doc)
	}
	if p.Resource != "" {
		fmt.Fprintf(&b, " (%s)", p.Resource)
	}
	if p.Kind != "" || p.Name != "" {
		b.WriteString(" (")
		b.WriteString(strings.TrimSpace(p.Kind + " " + p.Name))
		b.WriteByte(')')
	}
	if p.Field != "" {
		b.WriteString(": ")
		b.WriteString(p.Field)
	}
	b.WriteString(": ")
	if p.Warning {
		b.WriteString("warning: ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Result is a loaded policy set with its sources.
type Result struct {
	// Files are the files read, in order.
	Files []string
	// Docs are their non-blank documents.
	Docs []Doc
	// Set holds every object that loaded (objects with errors are left
	// out unless the Loader allows invalid ones).
	Set *policy.Set
	// Problems lists errors and warnings, in file order.
	Problems []Problem
}

// Errors counts the problems that are not warnings.
func (r *Result) Errors() int {
	n := 0
	for _, p := range r.Problems {
		if !p.Warning {
			n++
		}
	}
	return n
}

// IsTerraform reports whether a file is read as Terraform.
func IsTerraform(path string) bool { return strings.HasSuffix(path, ".tf") }

func isPolicyFile(name string) bool {
	for _, ext := range []string{".yaml", ".yml", ".json", ".tf"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// Expand turns paths into policy files: files are taken whatever their
// name (.tf ones read as Terraform, the rest as YAML or JSON); directories
// are walked for *.yaml, *.yml, *.json and *.tf, skipping hidden files and
// directories (.terraform, .git). Each argument's files are sorted; a path
// named twice is read once. Paths that do not exist are problems.
func Expand(paths []string) ([]string, []Problem) {
	var probs []Problem
	report := func(p Problem) { probs = append(probs, p) }
	out, empty := expand(paths, isPolicyFile, report, report)
	for _, root := range empty {
		probs = append(probs, Problem{File: root, Doc: -1, Msg: "directory holds no policy files (*.yaml, *.yml, *.json, *.tf)"})
	}
	return out, probs
}

// expand is Expand with a choice of the files taken from directories:
// files named are taken whatever their name; directories are walked for
// the regular files whose names want accepts, skipping hidden files and
// directories, each directory's files sorted; a path named twice comes
// once. A path that cannot be read goes to statErr, a failure inside a
// walk to walkErr (nil: ignored); empty are the directories without any
// such file.
func expand(paths []string, want func(name string) bool, statErr, walkErr func(Problem)) (out, empty []string) {
	seen := map[string]bool{}
	add := func(p string) {
		p = filepath.Clean(p)
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, root := range paths {
		fi, err := os.Stat(root)
		if err != nil {
			statErr(Problem{File: root, Doc: -1, Msg: fileError(err)})
			continue
		}
		if !fi.IsDir() {
			add(root)
			continue
		}
		var found []string
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if walkErr != nil {
					walkErr(Problem{File: p, Doc: -1, Msg: fileError(err)})
				}
				return nil
			}
			if p != root && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() && want(d.Name()) {
				found = append(found, p)
			}
			return nil
		})
		if err != nil && walkErr != nil {
			walkErr(Problem{File: root, Doc: -1, Msg: fileError(err)})
		}
		if len(found) == 0 && err == nil {
			empty = append(empty, root)
		}
		sort.Strings(found)
		for _, p := range found {
			add(p)
		}
	}
	return out, empty
}

func fileError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Load reads every policy file of paths (see Expand) with the loader
// (nil: the default one) and merges them into one Set; policies defined in
// two files are reported and the later one dropped.
func Load(paths []string, loader *policy.Loader) *Result {
	if loader == nil {
		loader = &policy.Loader{}
	}
	files, probs := Expand(paths)
	res := &Result{Files: files, Problems: probs}
	var sets []*policy.Set
	var tfDocs = map[string][]Doc{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			res.Problems = append(res.Problems, Problem{File: f, Doc: -1, Msg: fileError(err)})
			continue
		}
		var set *policy.Set
		var errs []error
		if IsTerraform(f) {
			docs, stream, hprobs := readTerraform(f, src)
			res.Problems = append(res.Problems, hprobs...)
			res.Docs = append(res.Docs, docs...)
			tfDocs[f] = docs
			set, errs = loader.Load(bytes.NewReader(stream), f)
		} else {
			res.Docs = append(res.Docs, splitYAML(f, src)...)
			set, errs = loader.Load(bytes.NewReader(src), f)
		}
		sets = append(sets, set)
		res.Problems = append(res.Problems, convert(errs, tfDocs)...)
	}
	set, errs := policy.Merge(sets...)
	res.Set = set
	res.Problems = append(res.Problems, convert(errs, tfDocs)...)
	return res
}

// convert turns loader errors into problems, adding the Terraform position
// of objects read from .tf files.
func convert(errs []error, tfDocs map[string][]Doc) []Problem {
	var out []Problem
	for _, err := range errs {
		var pe *policy.Error
		if !errors.As(err, &pe) {
			out = append(out, Problem{Doc: -1, Msg: err.Error()})
			continue
		}
		p := Problem{File: pe.File, Line: pe.Line, Doc: pe.Doc, Kind: pe.Kind, Name: pe.Name, Field: pe.Field, Msg: pe.Msg, Warning: pe.Warning}
		if docs, ok := tfDocs[pe.File]; ok {
			// The loader's lines are those of the YAML made from the
			// Terraform file: use the resource's line instead.
			p.Line = 0
			if pe.Doc >= 0 && pe.Doc < len(docs) {
				p.Line, p.Resource = docs[pe.Doc].Line, docs[pe.Doc].Resource
			}
		}
		out = append(out, p)
	}
	return out
}

// splitYAML splits a stream into documents the way the policy loader does,
// so that indexes agree.
func splitYAML(file string, src []byte) []Doc {
	var out []Doc
	rd := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(src)))
	for i := 0; ; i++ {
		raw, err := rd.Read()
		if errors.Is(err, io.EOF) || err != nil {
			break
		}
		js, err := yaml.YAMLToJSON(raw)
		if err != nil || bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
			continue
		}
		out = append(out, Doc{File: file, Index: i, JSON: js})
	}
	return out
}

// readTerraform reads the policy objects of a .tf file and returns them as
// documents, plus the YAML stream (one JSON document per object, in the
// same order) the loader reads.
func readTerraform(file string, src []byte) ([]Doc, []byte, []Problem) {
	objs, errs := ReadHCL(file, src)
	var probs []Problem
	for _, err := range errs {
		var he *HCLError
		if errors.As(err, &he) {
			msg := he.Msg
			if he.Skipped() {
				msg += "; resource skipped"
			}
			probs = append(probs, Problem{File: he.File, Doc: -1, Line: he.Line, Resource: he.Resource, Msg: msg})
			continue
		}
		probs = append(probs, Problem{File: file, Doc: -1, Msg: err.Error()})
	}
	var docs []Doc
	var stream bytes.Buffer
	for i, o := range objs {
		js, err := json.Marshal(o.Object)
		if err != nil {
			probs = append(probs, Problem{File: file, Doc: i, Line: o.Line, Resource: o.Resource, Msg: "encoding: " + err.Error()})
			js = []byte("{}")
		}
		docs = append(docs, Doc{File: file, Index: i, Line: o.Line, Resource: o.Resource, JSON: js})
		if i > 0 {
			stream.WriteString("\n---\n")
		}
		stream.Write(js)
	}
	return docs, stream.Bytes(), probs
}
