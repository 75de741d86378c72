package policy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	apiv3 "github.com/projectcalico/api/pkg/apis/projectcalico/v3"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/calico-plan/calico-plan/internal/yamldoc"
)

// Loader reads policy manifests. The zero value is ready to use.
type Loader struct {
	// AllowInvalid keeps objects that fail validation (Calico's API would
	// reject them) as long as they can be compiled; the errors are still
	// returned. Objects with unparseable selectors, CIDRs or ports, and
	// documents that fail to decode, are never kept.
	AllowInvalid bool
	// DefaultNamespace is the namespace of namespaced objects that do not
	// set metadata.namespace (kubectl's default: "default").
	DefaultNamespace string
}

// Load reads one YAML or JSON stream (multi-document, and List kinds with
// items) with the default Loader. name is used in errors.
func Load(r io.Reader, name string) (*Set, []error) { return (&Loader{}).Load(r, name) }

// LoadFiles reads the files with the default Loader.
func LoadFiles(paths []string) (*Set, []error) { return (&Loader{}).LoadFiles(paths) }

// LoadFiles reads every file into one Set. A file that cannot be read is
// reported and skipped.
func (l *Loader) LoadFiles(paths []string) (*Set, []error) {
	set := NewSet()
	var errs []error
	lines := map[string][]int{}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			errs = append(errs, &Error{File: p, Doc: -1, Msg: err.Error()})
			continue
		}
		s, e, starts := l.load(f, p)
		_ = f.Close()
		set.Merge(s)
		errs = append(errs, e...)
		lines[p] = starts
	}
	dups := checkDuplicates(set)
	for _, err := range dups {
		locate(err, lines)
	}
	errs = append(errs, dups...)
	return set, errs
}

// Load reads one stream. Problems are reported per object and never stop
// the remaining documents from loading.
func (l *Loader) Load(r io.Reader, name string) (*Set, []error) {
	set, errs, _ := l.load(r, name)
	return set, errs
}

// load is Load that also returns the line each document starts on; every
// error of the stream carries its line.
func (l *Loader) load(r io.Reader, name string) (*Set, []error, []int) {
	src, err := io.ReadAll(r)
	if err != nil {
		return NewSet(), []error{&Error{File: name, Doc: -1, Msg: "reading: " + err.Error()}}, nil
	}
	starts := yamldoc.StartLines(src)
	set, errs := l.loadDocs(bytes.NewReader(src), name)
	for _, err := range errs {
		locate(err, map[string][]int{name: starts})
	}
	return set, errs, starts
}

// loadDocs reads the documents of one stream.
func (l *Loader) loadDocs(r io.Reader, name string) (*Set, []error) {
	set := NewSet()
	var errs []error
	rd := utilyaml.NewYAMLReader(bufio.NewReader(r))
	for doc := 0; ; doc++ {
		raw, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, &Error{File: name, Doc: doc, Msg: "reading document: " + err.Error()})
			break
		}
		if isBlankDoc(raw) {
			continue
		}
		js, err := yaml.YAMLToJSONStrict(raw)
		if err != nil {
			errs = append(errs, &Error{File: name, Doc: doc, Msg: "parsing YAML: " + err.Error()})
			continue
		}
		if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
			continue
		}
		l.object(set, &errs, name, doc, "", js, "", "")
	}
	errs = append(errs, checkDuplicates(set)...)
	return set, errs
}

// locate sets the line of a loader error from the start lines of its
// file's documents: the parser's own line (relative to the document) when
// the message has one, which is then taken out of the message, else the
// document's first line.
func locate(err error, lines map[string][]int) {
	var e *Error
	if !errors.As(err, &e) || e.Line > 0 || e.Doc < 0 {
		return
	}
	starts, ok := lines[e.File]
	if !ok || e.Doc >= len(starts) {
		return
	}
	e.Line, e.Msg = yamldoc.Locate(starts[e.Doc], e.Msg)
}

// isBlankDoc reports whether a document has only whitespace and comments.
func isBlankDoc(b []byte) bool {
	for _, line := range bytes.Split(b, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if len(t) > 0 && t[0] != '#' {
			return false
		}
	}
	return true
}

type typeMeta struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Items      []json.RawMessage `json:"items"`
}

// object handles one JSON object; defAPIVersion/defKind come from an
// enclosing typed List whose items may omit them.
func (l *Loader) object(set *Set, errs *[]error, file string, doc int, prefix string, js []byte, defAPIVersion, defKind string) {
	var tm typeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		*errs = append(*errs, &Error{File: file, Doc: doc, Field: prefix, Msg: "not an object: " + err.Error()})
		return
	}
	if tm.APIVersion == "" {
		tm.APIVersion = defAPIVersion
	}
	if tm.Kind == "" {
		tm.Kind = defKind
	}
	if tm.Kind == "" {
		*errs = append(*errs, &Error{File: file, Doc: doc, Field: joinPath(prefix, "kind"), Msg: "missing kind"})
		return
	}
	if strings.HasSuffix(tm.Kind, "List") {
		itemKind := strings.TrimSuffix(tm.Kind, "List")
		itemAPI := tm.APIVersion
		if tm.Kind == "List" {
			itemKind, itemAPI = "", ""
		}
		for i, it := range tm.Items {
			l.object(set, errs, file, doc, joinPath(prefix, fmt.Sprintf("items[%d]", i)), it, itemAPI, itemKind)
		}
		return
	}
	set.Documents++
	group, _, _ := strings.Cut(tm.APIVersion, "/")
	if !strings.Contains(tm.APIVersion, "/") {
		group = ""
	}
	d := &diag{file: file, doc: doc, prefix: prefix, kind: tm.Kind, errs: errs}
	switch {
	case group == "projectcalico.org" || group == "crd.projectcalico.org":
		if tm.APIVersion != "projectcalico.org/v3" && tm.APIVersion != "crd.projectcalico.org/v1" {
			d.errf("apiVersion", "unsupported apiVersion %q (want projectcalico.org/v3)", tm.APIVersion)
			return
		}
		l.calicoObject(set, d, tm.Kind, js)
	case group == "networking.k8s.io" && tm.Kind == "NetworkPolicy":
		if tm.APIVersion != "networking.k8s.io/v1" {
			d.errf("apiVersion", "unsupported apiVersion %q (want networking.k8s.io/v1)", tm.APIVersion)
			return
		}
		var np networkingv1.NetworkPolicy
		if !decodeStrict(d, js, &np) {
			return
		}
		l.k8sPolicy(set, d, &np)
	case group == "" && tm.Kind == "Namespace":
		var ns corev1.Namespace
		if err := json.Unmarshal(js, &ns); err != nil || ns.Name == "" {
			d.errf("metadata.name", "namespace without a name")
			return
		}
		set.Namespaces[ns.Name] = ns.Labels
		set.Skipped[tm.APIVersion+"/"+tm.Kind]++
	default:
		set.Skipped[tm.APIVersion+"/"+tm.Kind]++
	}
}

func (l *Loader) calicoObject(set *Set, d *diag, kind string, js []byte) {
	switch kind {
	case apiv3.KindNetworkPolicy:
		var o apiv3.NetworkPolicy
		if decodeStrict(d, js, &o) {
			l.calicoNP(set, d, KindNetworkPolicy, &o.ObjectMeta, &o.Spec, "")
		}
	case apiv3.KindStagedNetworkPolicy:
		var o apiv3.StagedNetworkPolicy
		if decodeStrict(d, js, &o) {
			spec := apiv3.NetworkPolicySpec{
				Tier: o.Spec.Tier, Order: o.Spec.Order, Ingress: o.Spec.Ingress, Egress: o.Spec.Egress,
				Selector: o.Spec.Selector, Types: o.Spec.Types,
				ServiceAccountSelector: o.Spec.ServiceAccountSelector, PerformanceHints: o.Spec.PerformanceHints,
			}
			l.calicoNP(set, d, KindStagedNetworkPolicy, &o.ObjectMeta, &spec, string(o.Spec.StagedAction))
		}
	case apiv3.KindGlobalNetworkPolicy:
		var o apiv3.GlobalNetworkPolicy
		if decodeStrict(d, js, &o) {
			l.calicoGNP(set, d, KindGlobalNetworkPolicy, &o.ObjectMeta, &o.Spec, "")
		}
	case apiv3.KindStagedGlobalNetworkPolicy:
		var o apiv3.StagedGlobalNetworkPolicy
		if decodeStrict(d, js, &o) {
			spec := apiv3.GlobalNetworkPolicySpec{
				Tier: o.Spec.Tier, Order: o.Spec.Order, Ingress: o.Spec.Ingress, Egress: o.Spec.Egress,
				Selector: o.Spec.Selector, Types: o.Spec.Types, DoNotTrack: o.Spec.DoNotTrack,
				PreDNAT: o.Spec.PreDNAT, ApplyOnForward: o.Spec.ApplyOnForward,
				ServiceAccountSelector: o.Spec.ServiceAccountSelector, NamespaceSelector: o.Spec.NamespaceSelector,
				PerformanceHints: o.Spec.PerformanceHints,
			}
			l.calicoGNP(set, d, KindStagedGlobalNetworkPolicy, &o.ObjectMeta, &spec, string(o.Spec.StagedAction))
		}
	case apiv3.KindStagedKubernetesNetworkPolicy:
		var o apiv3.StagedKubernetesNetworkPolicy
		if decodeStrict(d, js, &o) {
			np := networkingv1.NetworkPolicy{ObjectMeta: o.ObjectMeta}
			np.Spec = networkingv1.NetworkPolicySpec{
				PodSelector: o.Spec.PodSelector, Ingress: o.Spec.Ingress, Egress: o.Spec.Egress, PolicyTypes: o.Spec.PolicyTypes,
			}
			l.stagedK8sPolicy(set, d, &np, string(o.Spec.StagedAction))
		}
	case apiv3.KindTier:
		var o apiv3.Tier
		if decodeStrict(d, js, &o) {
			l.tier(set, d, &o)
		}
	case apiv3.KindNetworkSet:
		var o apiv3.NetworkSet
		if decodeStrict(d, js, &o) {
			l.networkSet(set, d, false, &o.ObjectMeta, o.Spec.Nets)
		}
	case apiv3.KindGlobalNetworkSet:
		var o apiv3.GlobalNetworkSet
		if decodeStrict(d, js, &o) {
			l.networkSet(set, d, true, &o.ObjectMeta, o.Spec.Nets)
		}
	case apiv3.KindProfile:
		var o apiv3.Profile
		if decodeStrict(d, js, &o) {
			l.profile(set, d, &o)
		}
	default:
		set.Skipped["projectcalico.org/v3/"+kind]++
	}
}

// decodeStrict decodes js into out, reporting every unknown field with its
// path (an error: Calico's API server decodes strictly and rejects the
// object, but the rest still compiles) and any type error. It returns false
// when the object is unusable.
func decodeStrict(d *diag, js []byte, out any) bool {
	var generic any
	if err := json.Unmarshal(js, &generic); err != nil {
		d.fatalf("", "decoding: %v", err)
		return false
	}
	if m, ok := generic.(map[string]any); ok {
		if md, ok := m["metadata"].(map[string]any); ok {
			if n, ok := md["name"].(string); ok {
				d.name = n
				if ns, ok := md["namespace"].(string); ok && ns != "" {
					d.name = ns + "/" + n
				}
			}
		}
	}
	var unknown []string
	findUnknownFields(reflect.TypeOf(out), generic, "", &unknown)
	for _, f := range unknown {
		d.errf(f, "unknown field")
	}
	if err := json.Unmarshal(js, out); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			d.fatalf(te.Field, "cannot decode %s into %s", te.Value, te.Type)
		} else {
			d.fatalf("", "decoding: %v", err)
		}
		return false
	}
	return true
}

var jsonUnmarshaler = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()

// findUnknownFields walks a decoded JSON value alongside the Go type it will
// be decoded into and records the paths of object keys the type has no field
// for (what encoding/json's DisallowUnknownFields rejects, but with paths and
// all of them at once).
func findUnknownFields(t reflect.Type, v any, path string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) || t.Implements(jsonUnmarshaler) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		fields := map[string]reflect.Type{}
		collectJSONFields(t, fields)
		for k, val := range m {
			ft, ok := fields[k]
			if !ok {
				for name, typ := range fields {
					if strings.EqualFold(name, k) {
						ft, ok = typ, true
						break
					}
				}
			}
			if !ok {
				*out = append(*out, joinPath(path, k))
				continue
			}
			findUnknownFields(ft, val, joinPath(path, k), out)
		}
	case reflect.Slice, reflect.Array:
		if arr, ok := v.([]any); ok {
			for i, e := range arr {
				findUnknownFields(t.Elem(), e, fmt.Sprintf("%s[%d]", path, i), out)
			}
		}
	case reflect.Map:
		if m, ok := v.(map[string]any); ok {
			for k, e := range m {
				findUnknownFields(t.Elem(), e, joinPath(path, k), out)
			}
		}
	}
}

func collectJSONFields(t reflect.Type, fields map[string]reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			collectJSONFields(ft, fields)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
}

// checkDuplicates reports policies, tiers and network sets defined twice
// (same kind, namespace and name); the later definition is dropped.
func checkDuplicates(set *Set) []error {
	type key struct {
		kind      Kind
		namespace string
		name      string
	}
	seen := map[key]*Policy{}
	var errs []error
	kept := set.Policies[:0]
	for _, p := range set.Policies {
		k := key{p.Kind, p.Namespace, p.Name}
		if first, dup := seen[k]; dup {
			if first == p {
				continue
			}
			errs = append(errs, &Error{File: p.Source.File, Doc: p.Source.Doc, Kind: p.Kind.String(), Name: refName(p.Namespace, p.Name),
				Field: joinPath(p.Source.Path, "metadata.name"),
				Msg:   fmt.Sprintf("duplicate of %s doc %d; this definition is ignored", first.Source.File, first.Source.Doc)})
			continue
		}
		seen[k] = p
		kept = append(kept, p)
	}
	set.Policies = kept
	seenTier := map[string]*Tier{}
	keptTiers := set.Tiers[:0]
	for _, t := range set.Tiers {
		if first, dup := seenTier[t.Name]; dup {
			errs = append(errs, &Error{File: t.Source.File, Doc: t.Source.Doc, Kind: "Tier", Name: t.Name,
				Field: joinPath(t.Source.Path, "metadata.name"),
				Msg:   fmt.Sprintf("duplicate of %s doc %d; this definition is ignored", first.Source.File, first.Source.Doc)})
			continue
		}
		seenTier[t.Name] = t
		keptTiers = append(keptTiers, t)
	}
	set.Tiers = keptTiers
	seenSet := map[string]*NetworkSet{}
	keptSets := set.NetworkSets[:0]
	for _, ns := range set.NetworkSets {
		k := fmt.Sprintf("%v/%s/%s", ns.Global, ns.Namespace, ns.Name)
		if first, dup := seenSet[k]; dup {
			kind := "NetworkSet"
			if ns.Global {
				kind = "GlobalNetworkSet"
			}
			errs = append(errs, &Error{File: ns.Source.File, Doc: ns.Source.Doc, Kind: kind, Name: refName(ns.Namespace, ns.Name),
				Field: joinPath(ns.Source.Path, "metadata.name"),
				Msg:   fmt.Sprintf("duplicate of %s doc %d; this definition is ignored", first.Source.File, first.Source.Doc)})
			continue
		}
		seenSet[k] = ns
		keptSets = append(keptSets, ns)
	}
	set.NetworkSets = keptSets
	return errs
}

func refName(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}
