package pods

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// FelixConfiguration settings that change what packet logs hold
// (oss-external-destinations.md 1.2).
type felixConfig struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		LogPrefix               string `json:"logPrefix"`
		LogActionRateLimit      string `json:"logActionRateLimit"`
		LogActionRateLimitBurst *int   `json:"logActionRateLimitBurst"`
		BPFEnabled              *bool  `json:"bpfEnabled"`
	} `json:"spec"`
	Items []felixConfig `json:"items"`
}

// FelixWarnings reads FelixConfiguration objects ('kubectl get
// felixconfigurations -o yaml': a List or one object) and returns what
// they mean for packet logs: a rate limit makes the lines a sample, the
// eBPF dataplane writes none, a logPrefix other than prefix (the profile's
// packetLogs.prefix) means the lines are not recognised.
func FelixWarnings(path, prefix string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("felix configuration: %w", err)
	}
	var top felixConfig
	if err := yaml.Unmarshal(b, &top); err != nil {
		return nil, fmt.Errorf("%s: not a FelixConfiguration or a list of them: %v", path, err)
	}
	items := []felixConfig{top}
	switch top.Kind {
	case "List", "FelixConfigurationList":
		items = top.Items
	case "FelixConfiguration":
	default:
		return nil, fmt.Errorf("%s: kind %q is not FelixConfiguration (want 'kubectl get felixconfigurations -o yaml' output)", path, top.Kind)
	}
	var out []string
	for i, fc := range items {
		if fc.Kind != "" && fc.Kind != "FelixConfiguration" {
			return nil, fmt.Errorf("%s: items[%d]: kind %q is not FelixConfiguration", path, i, fc.Kind)
		}
		name := fc.Metadata.Name
		if r := strings.TrimSpace(fc.Spec.LogActionRateLimit); r != "" {
			burst := 5
			if fc.Spec.LogActionRateLimitBurst != nil {
				burst = *fc.Spec.LogActionRateLimitBurst
			}
			out = append(out, fmt.Sprintf("FelixConfiguration %s sets logActionRateLimit %s (burst %d): packet-log lines are a sample, a short or rare connection can be missing from them; its addresses then only appear as any public address", name, r, burst))
		}
		if fc.Spec.BPFEnabled != nil && *fc.Spec.BPFEnabled {
			out = append(out, fmt.Sprintf("FelixConfiguration %s enables the eBPF dataplane, which writes no kernel LOG lines (only the BPF trace pipe): packet logs from its nodes hold nothing", name))
		}
		if p := fc.Spec.LogPrefix; p != "" && p != prefix {
			out = append(out, fmt.Sprintf("FelixConfiguration %s sets logPrefix %q but the profile's packetLogs.prefix is %q: its lines are not read; set packetLogs.prefix", name, p, prefix))
		}
	}
	sort.Strings(out)
	return out, nil
}
