// Package cluster holds cluster facts calico-plan needs beyond flow logs:
// namespaces and their labels (from a file, a snapshot or the live
// cluster), and the helpers that read them.
package cluster

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/calico-plan/calico-plan/internal/yamldoc"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// NamespaceLabels maps a namespace name to its labels.
type NamespaceLabels map[string]map[string]string

// Names returns the namespaces, sorted.
func (n NamespaceLabels) Names() []string {
	out := make([]string, 0, len(n))
	for k := range n {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// LoadNamespacesFile reads a v1 NamespaceList (YAML or JSON, as `kubectl get
// ns -o yaml` prints it) or a multi-document YAML of Namespace objects.
func LoadNamespacesFile(path string) (NamespaceLabels, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseNamespaces(f, path)
}

// ParseNamespaces is LoadNamespacesFile on a reader. Errors name the file and
// the document (0-based) and field.
func ParseNamespaces(r io.Reader, name string) (NamespaceLabels, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	starts := yamldoc.StartLines(src)
	// at is "file:line: document N" for a document; bad says what is wrong
	// with one, at the parser's line when it names one.
	at := func(doc int) string {
		if doc < len(starts) {
			return fmt.Sprintf("%s:%d: document %d", name, starts[doc], doc)
		}
		return fmt.Sprintf("%s: document %d", name, doc)
	}
	bad := func(doc int, err error) error {
		if doc >= len(starts) {
			return fmt.Errorf("%s: %w", at(doc), err)
		}
		line, msg := yamldoc.Locate(starts[doc], err.Error())
		return fmt.Errorf("%s:%d: document %d: %s", name, line, doc, msg)
	}
	out := NamespaceLabels{}
	rd := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(src)))
	for doc := 0; ; doc++ {
		b, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, bad(doc, err)
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(b, &head); err != nil {
			return nil, bad(doc, err)
		}
		switch head.Kind {
		case "Namespace":
			var ns corev1.Namespace
			if err := yaml.UnmarshalStrict(b, &ns); err != nil {
				return nil, bad(doc, err)
			}
			if err := add(out, &ns, at(doc)); err != nil {
				return nil, err
			}
		case "NamespaceList", "List":
			var list corev1.NamespaceList
			if err := yaml.Unmarshal(b, &list); err != nil {
				return nil, bad(doc, err)
			}
			for i := range list.Items {
				if k := list.Items[i].Kind; k != "" && k != "Namespace" {
					return nil, fmt.Errorf("%s: items[%d]: kind %q is not Namespace", at(doc), i, k)
				}
				if err := add(out, &list.Items[i], fmt.Sprintf("%s: items[%d]", at(doc), i)); err != nil {
					return nil, err
				}
			}
		default:
			return nil, fmt.Errorf("%s: kind %q is not Namespace or NamespaceList", at(doc), head.Kind)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no namespaces found", name)
	}
	return out, nil
}

func add(out NamespaceLabels, ns *corev1.Namespace, where string) error {
	if msgs := validation.IsDNS1123Label(ns.Name); len(msgs) > 0 {
		return fmt.Errorf("%s: metadata.name: %q is not a valid namespace name", where, ns.Name)
	}
	for k, v := range ns.Labels {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			return fmt.Errorf("%s: metadata.labels: key %q is not a valid label key", where, k)
		}
		if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
			return fmt.Errorf("%s: metadata.labels[%s]: %q is not a valid label value", where, k, v)
		}
	}
	l := map[string]string{}
	for k, v := range ns.Labels {
		l[k] = v
	}
	l["kubernetes.io/metadata.name"] = ns.Name
	out[ns.Name] = l
	return nil
}
