package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/fsutil"
	"github.com/calico-plan/calico-plan/render"
)

// renderOutput collects rendered objects and writes them in one format
// (yaml, json or hcl) to stdout, or to a directory as one file per
// namespace (--layout flat) or one stack directory per namespace (--layout
// stacks, for stack-per-service Terraform repositories).
type renderOutput struct {
	format   string
	resource string
	layout   string
	tf       config.Terraform
	dir      string
	header   string // stdout header
	prof     *config.Profile
	// enforced is the flavor of enforced namespaces (--rollout/--wave),
	// for the stage script.
	enforced render.Flavor

	files  map[string]map[string][]byte // directory → file → content
	objs   []any                        // stdout
	labels []render.StageLabel          // stdout

	// -o hcl: every directory is one Terraform module, encoded at flush so
	// that resource labels are unique across its files and policies can
	// depend on a Tier in another file.
	providers   string               // --hcl-required-providers: auto, always, never
	stageLabels string               // --hcl-stage-labels: kubernetes_labels, none
	modules     map[string][]hclUnit // directory ("" for stdout) → files, in order
	moduleDirs  []string             // in order of first use
}

type hclUnit struct {
	name string
	file render.HCLFile
}

func newRenderOutput(format, layout, resource, dir string, prof *config.Profile) (*renderOutput, error) {
	switch format {
	case "yaml", "json", "hcl":
	default:
		return nil, fmt.Errorf("unknown output format %q (want yaml, json or hcl)", format)
	}
	switch layout {
	case "flat", "stacks":
	default:
		return nil, fmt.Errorf("unknown --layout %q (want flat or stacks)", layout)
	}
	if layout == "stacks" && dir == "" {
		return nil, fmt.Errorf("--layout stacks writes directories: give --out DIR")
	}
	if resource == "" {
		resource = prof.Terraform.Resource
	}
	if resource != render.HCLResourceKubectl && resource != render.HCLResourceManifest {
		return nil, fmt.Errorf("unknown --hcl-resource %q (want %s or %s)", resource, render.HCLResourceKubectl, render.HCLResourceManifest)
	}
	return &renderOutput{format: format, layout: layout, resource: resource, tf: prof.Terraform, dir: dir, prof: prof, files: map[string]map[string][]byte{},
		providers: prof.Terraform.RequiredProviders, stageLabels: prof.Terraform.StageLabels, modules: map[string][]hclUnit{}}, nil
}

// newRenderOutputFor is the output render's flags ask for: format,
// layout, Terraform resource and directory, then the -o hcl flags.
func newRenderOutputFor(o *renderOpts, prof *config.Profile) (*renderOutput, error) {
	out, err := newRenderOutput(o.output, o.layout, o.hclResource, o.out, prof)
	if err != nil {
		return nil, err
	}
	if err := out.hclFlags(o.hclProviders, o.hclStageLabel); err != nil {
		return nil, err
	}
	return out, nil
}

// hclFlags applies --hcl-required-providers and --hcl-stage-labels (empty:
// the profile's terraform.requiredProviders and terraform.stageLabels).
func (r *renderOutput) hclFlags(providers, stageLabels string) error {
	if providers != "" {
		r.providers = providers
	}
	switch r.providers {
	case "auto", "always", "never":
	default:
		return fmt.Errorf("unknown --hcl-required-providers %q (want auto, always or never)", r.providers)
	}
	if stageLabels != "" {
		r.stageLabels = stageLabels
	}
	switch r.stageLabels {
	case "kubernetes_labels", "none":
	default:
		return fmt.Errorf("unknown --hcl-stage-labels %q (want kubernetes_labels or none)", r.stageLabels)
	}
	return nil
}

// hclStageLabelsOmitted reports whether -o hcl leaves the stage labels out
// (--hcl-stage-labels none): the caller prints kubectl commands instead.
func (r *renderOutput) hclStageLabelsOmitted() bool {
	return r.format == "hcl" && r.stageLabels == "none"
}

// writesProviders reports whether a module directory gets _providers.tf.
func (r *renderOutput) writesProviders() bool {
	switch r.providers {
	case "always":
		return true
	case "auto":
		return r.dir != "" && r.layout == "flat"
	}
	return false
}

func (r *renderOutput) ext() string {
	if r.format == "hcl" {
		return ".tf"
	}
	return "." + r.format
}

func (r *renderOutput) encode(b *bytes.Buffer, header string, objs []any, labels []render.StageLabel) error {
	switch r.format {
	case "json":
		// Stage labels never go out as Namespace objects: applied, those
		// remove the namespace's other labels. See addStages.
		return render.EncodeJSON(b, objs...)
	}
	return render.EncodeYAML(b, header, objs...)
}

// add renders one unit: a namespace's objects (ns set) or shared objects
// (ns empty: the Tier, the observe policy, stage labels) named base.
func (r *renderOutput) add(ns, base, header string, objs []any, labels []render.StageLabel) error {
	if r.hclStageLabelsOmitted() {
		labels = nil
		if len(objs) == 0 {
			return nil
		}
	}
	if len(labels) > 0 && r.format != "hcl" {
		return r.addStages(header, labels)
	}
	if r.dir == "" {
		if r.format == "hcl" {
			r.addHCL("", "", header, objs, labels)
			return nil
		}
		r.objs = append(r.objs, objs...)
		r.labels = append(r.labels, labels...)
		return nil
	}
	dir, name := r.dir, base+r.ext()
	if r.layout == "stacks" {
		if ns != "" {
			dir, name = filepath.Join(r.dir, r.tf.StackDir(ns)), "egress_allowlist"+r.ext()
		} else {
			dir, name = filepath.Join(r.dir, r.tf.SharedStack), "egress_allowlist"+base+r.ext()
		}
	}
	if r.files[dir] == nil {
		r.files[dir] = map[string][]byte{}
	}
	if _, dup := r.files[dir][name]; dup {
		return fmt.Errorf("two namespaces map to %s: check terraform.stackDirs in the profile", filepath.Join(dir, name))
	}
	if r.format == "hcl" {
		r.files[dir][name] = nil // encoded by encodeModules
		r.addHCL(dir, name, header, objs, labels)
		return nil
	}
	var b bytes.Buffer
	if err := r.encode(&b, header, objs, labels); err != nil {
		return err
	}
	r.files[dir][name] = b.Bytes()
	return nil
}

// addStages keeps the stage labels for YAML and JSON output: with --out, as
// the stage script (render.StagesScriptName) next to the objects; on stdout
// they are only printed as commands (the caller does).
func (r *renderOutput) addStages(header string, labels []render.StageLabel) error {
	if r.dir == "" {
		r.labels = append(r.labels, labels...)
		return nil
	}
	dir := r.dir
	if r.layout == "stacks" {
		dir = filepath.Join(r.dir, r.tf.SharedStack)
	}
	var b bytes.Buffer
	if err := render.EncodeStagesScript(&b, header, r.prof, labels, r.enforced); err != nil {
		return err
	}
	if r.files[dir] == nil {
		r.files[dir] = map[string][]byte{}
	}
	r.files[dir][render.StagesScriptName] = b.Bytes()
	return nil
}

func (r *renderOutput) addHCL(dir, name, header string, objs []any, labels []render.StageLabel) {
	if _, ok := r.modules[dir]; !ok {
		r.moduleDirs = append(r.moduleDirs, dir)
	}
	r.modules[dir] = append(r.modules[dir], hclUnit{name, render.HCLFile{Header: header, Objects: objs, StageLabels: labels}})
}

// providersFile is the name of the required_providers file in a module
// directory: _providers.tf beside the flat layout's _tier.tf, and
// egress_allowlist_providers.tf in a stack (the stack layout's prefix).
func (r *renderOutput) providersFile() string {
	if r.layout == "stacks" {
		return "egress_allowlist_providers.tf"
	}
	return "_providers.tf"
}

// encodeModules encodes each -o hcl directory as one module, and its
// required_providers file when asked for. For stdout it returns the text.
func (r *renderOutput) encodeModules() ([]byte, error) {
	var stdout bytes.Buffer
	for _, dir := range r.moduleDirs {
		units := r.modules[dir]
		files := make([]render.HCLFile, len(units))
		for i, u := range units {
			files[i] = u.file
		}
		m, err := render.EncodeHCLModule(render.HCLOptions{Resource: r.resource}, files)
		if err != nil {
			return nil, err
		}
		var prov bytes.Buffer
		if r.writesProviders() {
			if err := render.EncodeHCLProviders(&prov, r.header, m.ResourceTypes); err != nil {
				return nil, err
			}
		}
		if dir == "" {
			parts := make([]string, 0, len(m.Files)+1)
			if prov.Len() > 0 {
				parts = append(parts, prov.String())
			}
			for _, f := range m.Files {
				parts = append(parts, string(f))
			}
			stdout.WriteString(strings.Join(parts, "\n"))
			continue
		}
		for i, u := range units {
			r.files[dir][u.name] = m.Files[i]
		}
		if prov.Len() > 0 {
			name := r.providersFile()
			if _, dup := r.files[dir][name]; dup {
				return nil, fmt.Errorf("%s is both a rendered file and the required_providers file", filepath.Join(dir, name))
			}
			r.files[dir][name] = prov.Bytes()
		}
	}
	return stdout.Bytes(), nil
}

// pruneStale removes, after flush, the files an earlier render with the
// same header wrote under the output directory that this render no longer
// writes: with --rollout the directory is the desired state, so the policy
// file of a namespace rolled back to observe must go, or applying the
// directory (kubectl apply -f, Terraform) would keep it enforced. Only
// files of the output format that start with the header are removed; JSON
// files carry no header and are never removed. It returns the paths
// removed.
func (r *renderOutput) pruneStale(header string) ([]string, error) {
	if r.dir == "" || r.format == "json" {
		return nil, nil
	}
	var mark strings.Builder
	for _, line := range strings.Split(header, "\n") {
		if line != "" {
			mark.WriteString("# " + line + "\n")
		}
	}
	keep := map[string]bool{}
	for dir, files := range r.files {
		for name := range files {
			keep[filepath.Join(dir, name)] = true
		}
	}
	root := filepath.Clean(r.dir)
	var removed []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && r.layout != "stacks" {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		script := name == render.StagesScriptName
		if (filepath.Ext(name) != r.ext() && !script) || strings.HasPrefix(name, ".") || keep[filepath.Clean(path)] {
			return nil
		}
		if r.layout == "stacks" && !script && !strings.HasPrefix(name, "egress_allowlist") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !bytes.HasPrefix(b, []byte(mark.String())) {
			return nil
		}
		if err := os.Remove(path); err != nil {
			return err
		}
		removed = append(removed, path)
		return nil
	})
	return removed, err
}

// flush writes stdout output, or every directory's files atomically.
func (r *renderOutput) flush(stdout, stderr io.Writer, what string) error {
	var hclOut []byte
	if r.format == "hcl" {
		var err error
		if hclOut, err = r.encodeModules(); err != nil {
			return err
		}
	}
	if r.dir == "" {
		var b bytes.Buffer
		switch r.format {
		case "hcl":
			b.Write(hclOut)
		default:
			if len(r.objs) == 0 {
				return nil
			}
			if err := r.encode(&b, r.header, r.objs, r.labels); err != nil {
				return err
			}
		}
		_, err := stdout.Write(b.Bytes())
		return err
	}
	dirs := make([]string, 0, len(r.files))
	for d := range r.files {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	total, changed := 0, 0
	for _, d := range dirs {
		written, err := fsutil.WriteFiles(d, r.files[d])
		if err != nil {
			return err
		}
		total += len(r.files[d])
		changed += len(written)
	}
	where := r.dir
	if r.layout == "stacks" {
		where = fmt.Sprintf("%d stack directories under %s", len(dirs), r.dir)
	}
	fmt.Fprintf(stderr, "%s%d files in %s (%d changed)\n", what, total, where, changed)
	return nil
}
