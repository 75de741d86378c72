package cluster

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/calico-plan/calico-plan/internal/config"
)

// snapshotHeader starts every snapshot file.
const snapshotHeader = `# calico-plan cluster snapshot: namespaces and labels, CronJobs, node
# addresses and existing policies, as 'calico-plan snapshot' read them.
# Commit it so that CI without cluster access can plan with --cluster.
`

// predictedHeader starts a snapshot 'calico-plan snapshot --apply' wrote.
const predictedHeader = `# calico-plan cluster snapshot, PREDICTED: a snapshot with policy files
# applied offline by 'calico-plan snapshot --apply' (see predicted:), not what
# a cluster reported. Once the files are applied, 'calico-plan snapshot' reads
# what the cluster really runs.
`

// MarshalSnapshot encodes facts as a snapshot: YAML with sorted keys and
// sorted lists, so the same cluster state gives the same bytes.
func MarshalSnapshot(f *Facts) ([]byte, error) {
	c := *f
	c.Kind, c.Version = SnapshotKind, FactsVersion
	c.Namespaces = append([]Namespace(nil), f.Namespaces...)
	c.CronJobs = append([]CronJob(nil), f.CronJobs...)
	c.Nodes = append([]Node(nil), f.Nodes...)
	c.NetworkPolicies = append([]NetworkPolicy(nil), f.NetworkPolicies...)
	c.CalicoObjects = append([]CalicoObject(nil), f.CalicoObjects...)
	c.Missing = append([]Missing(nil), f.Missing...)
	c.Normalize()
	b, err := yaml.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	header := snapshotHeader
	if f.Predicted != nil {
		header = predictedHeader
	}
	return append([]byte(header), b...), nil
}

// LoadSnapshot reads a snapshot file written by MarshalSnapshot.
func LoadSnapshot(path string) (*Facts, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cluster snapshot: %w", err)
	}
	return ParseSnapshot(b, path)
}

// ParseSnapshot decodes a snapshot. Unknown fields, another kind and a
// version newer than this build reads are errors that say so.
func ParseSnapshot(b []byte, name string) (*Facts, error) {
	var head struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
		Version    int    `json:"version"`
	}
	if err := yaml.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("%s: not a calico-plan snapshot: %v", name, err)
	}
	switch {
	case head.Kind == "NamespaceList" || head.Kind == "Namespace" || head.Kind == "List":
		return nil, fmt.Errorf("%s: kind %q is a Namespace list, not a calico-plan snapshot: pass it with --namespace-file, or take a snapshot with 'calico-plan snapshot --out FILE'", name, head.Kind)
	case head.Kind != SnapshotKind:
		return nil, fmt.Errorf("%s: kind %q is not %s: take a snapshot with 'calico-plan snapshot --out FILE'", name, head.Kind, SnapshotKind)
	case head.Version > FactsVersion:
		return nil, fmt.Errorf("%s: snapshot version %d was written by a newer calico-plan (this build reads version %d): upgrade calico-plan, or take the snapshot again with this version", name, head.Version, FactsVersion)
	case head.Version != FactsVersion:
		return nil, fmt.Errorf("%s: snapshot version %d is not supported (this build reads version %d)", name, head.Version, FactsVersion)
	}
	f := &Facts{}
	if err := yaml.UnmarshalStrict(b, f); err != nil {
		msg := err.Error()
		if strings.Contains(msg, "unknown field") {
			return nil, fmt.Errorf("%s (the file was edited by hand or written by another calico-plan version; take the snapshot again)", config.AtFile(name, cleanYAMLError(msg)))
		}
		return nil, errors.New(config.AtFile(name, cleanYAMLError(msg)))
	}
	for i, n := range f.Namespaces {
		if n.Name == "" {
			return nil, fmt.Errorf("%s: namespaces[%d]: name is required", name, i)
		}
	}
	for i, c := range f.CronJobs {
		if c.Namespace == "" || c.Name == "" {
			return nil, fmt.Errorf("%s: cronJobs[%d]: namespace and name are required", name, i)
		}
		if _, err := ParseSchedule(c.Schedule, c.TimeZone); err != nil {
			return nil, fmt.Errorf("%s: cronJobs[%d] (%s/%s): %v", name, i, c.Namespace, c.Name, err)
		}
	}
	f.Source = "snapshot " + name
	if f.Predicted != nil {
		f.Source = "predicted snapshot " + name
	}
	f.Normalize()
	return f, nil
}

func cleanYAMLError(s string) string {
	for _, p := range []string{"error unmarshaling JSON: ", "while decoding JSON: ", "json: "} {
		s = strings.ReplaceAll(s, p, "")
	}
	return s
}
