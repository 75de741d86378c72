// Package profile loads the cluster profile: the facts about a cluster that
// calico-plan cannot learn from flow logs (tier label, DNS topology, CIDRs,
// noise labels, stability windows, policy naming). It is public so that code
// outside this module can call the public packages that take a profile
// (allowlist.Open, allowlist.NewClassifier, render.Options); the module's
// own code reaches it through internal/config, whose names are aliases of
// these.
package profile

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/calico-plan/calico-plan/internal/policy/selector"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the embedded default profile, comments included.
func DefaultYAML() []byte { return append([]byte(nil), defaultYAML...) }

// Version is the profile format version this build reads.
const Version = 1

// Profile is the cluster profile.
type Profile struct {
	Version            int         `yaml:"version"`
	Tiers              Tiers       `yaml:"tiers"`
	ExcludedNamespaces []string    `yaml:"excludedNamespaces"`
	DNS                DNS         `yaml:"dns"`
	Networks           Networks    `yaml:"networks"`
	Labels             Labels      `yaml:"labels"`
	Aggregation        Aggregation `yaml:"aggregation"`
	PacketLogs         PacketLogs  `yaml:"packetLogs"`
	Stability          Stability   `yaml:"stability"`
	Policy             Policy      `yaml:"policy"`
	Rollout            Rollout     `yaml:"rollout"`
	Terraform          Terraform   `yaml:"terraform"`
}

// Terraform configures `render -o hcl`.
type Terraform struct {
	// Resource for Calico objects: kubectl_manifest (yaml_body =
	// yamlencode(...)) or kubernetes_manifest.
	Resource string `yaml:"resource"`
	// StackDirs maps a namespace to its stack directory for --layout
	// stacks (default: the namespace name).
	StackDirs map[string]string `yaml:"stackDirs"`
	// SharedStack is the stack directory that gets the Tier and the observe
	// policy in --layout stacks.
	SharedStack string `yaml:"sharedStack"`
	// RequiredProviders: whether render -o hcl --out writes a terraform
	// block with required_providers: auto (a flat directory, not stacks),
	// always, never.
	RequiredProviders string `yaml:"requiredProviders"`
	// StageLabels: how render -o hcl writes the stage labels:
	// kubernetes_labels resources, or none (label with kubectl instead).
	StageLabels string `yaml:"stageLabels"`
}

// StackDir returns the stack directory for a namespace.
func (t Terraform) StackDir(ns string) string {
	if d := t.StackDirs[ns]; d != "" {
		return d
	}
	return ns
}

// Tiers says how namespaces map to rollout tiers.
type Tiers struct {
	LabelKey  string     `yaml:"labelKey"`
	Order     []string   `yaml:"order"`
	Deferred  []string   `yaml:"deferred"`
	NameRules []NameRule `yaml:"nameRules"`
}

// NameRule assigns a tier to namespaces whose name starts with Prefix.
type NameRule struct {
	Prefix string `yaml:"prefix"`
	Tier   string `yaml:"tier"`
}

// DNS describes the cluster's DNS topology.
type DNS struct {
	Form                     string   `yaml:"form"`
	Addresses                []Prefix `yaml:"addresses"`
	Namespace                string   `yaml:"namespace"`
	Selector                 string   `yaml:"selector"`
	Port                     uint16   `yaml:"port"`
	AssumeNetworkPort53IsDNS bool     `yaml:"assumeNetworkPort53IsDNS"`
}

// DNS forms.
const (
	DNSFormNets     = "nets"
	DNSFormSelector = "selector"
)

// Networks lists the cluster's address ranges.
type Networks struct {
	Pods     []Prefix `yaml:"pods"`
	Services []Prefix `yaml:"services"`
	Nodes    []Prefix `yaml:"nodes"`
	Private  []Prefix `yaml:"private"`
}

// Labels configures label handling.
type Labels struct {
	Noise []string `yaml:"noise"`
}

// Aggregation bounds how flows are folded into entries.
type Aggregation struct {
	MaxCIDRs        int `yaml:"maxCIDRs"`
	MinPrefixV4     int `yaml:"minPrefixV4"`
	MinPrefixV6     int `yaml:"minPrefixV6"`
	MaxAddresses    int `yaml:"maxAddresses"`
	WorkloadSamples int `yaml:"workloadSamples"`
}

// Stability holds the windows that decide Learning/Stabilizing/Stable.
type Stability struct {
	MinimumWindow       Duration `yaml:"minimumWindow"`
	StabilizationPeriod Duration `yaml:"stabilizationPeriod"`
	StaleAfter          Duration `yaml:"staleAfter"`
}

// Policy configures rendered policy names and ordering.
type Policy struct {
	Tier      string  `yaml:"tier"`
	TierOrder float64 `yaml:"tierOrder"`
	Order     float64 `yaml:"order"`
	K8sName   string  `yaml:"k8sName"`
	LogDenied bool    `yaml:"logDenied"`
}

// Rollout configures the wave plan.
type Rollout struct {
	PerWave       int           `yaml:"perWave"`
	Pinned        []string      `yaml:"pinned"`
	StagedDays    int           `yaml:"stagedDays"`
	StageLabel    string        `yaml:"stageLabel"`
	ObservePolicy ObservePolicy `yaml:"observePolicy"`
}

// ObservePolicy describes the cluster's allow-all observe GlobalNetworkPolicy.
type ObservePolicy struct {
	// Manage says whether render --rollout writes the policy: existing
	// (only when the cluster facts show it exists: a cluster that lacks
	// one never gets an allow-all policy silently), always, or never.
	Manage string  `yaml:"manage"`
	Name   string  `yaml:"name"`
	Order  float64 `yaml:"order"`
	// Selector selects the pods (default all()).
	Selector string `yaml:"selector"`
	// Log puts a Log rule before the Allow (the packet logs that carry
	// the addresses Goldmane lacks).
	Log   bool     `yaml:"log"`
	Tiers []string `yaml:"tiers"`
}

// Observe-policy management modes (rollout.observePolicy.manage).
const (
	ObserveManageExisting = "existing"
	ObserveManageAlways   = "always"
	ObserveManageNever    = "never"
)

// PacketLogs describes the kernel LOG lines Calico's Log rule writes
// (observe --from kern.log, observe --loki) and how render and promote use
// the addresses they carry.
type PacketLogs struct {
	// Prefix is Felix's logPrefix (FelixConfiguration; default
	// calico-packet).
	Prefix string `yaml:"prefix"`
	// InterfacePrefix is Calico's pod interface prefix
	// (FELIX_INTERFACEPREFIX; default cali).
	InterfacePrefix string `yaml:"interfacePrefix"`
	// DedupWindow: a 5-tuple logged again within it counts once.
	DedupWindow Duration `yaml:"dedupWindow"`
	// RequireAddresses makes promote's address-evidence gate hold a
	// namespace whose public egress has no packet-log addresses.
	RequireAddresses bool `yaml:"requireAddresses"`
	// LokiSelector is the LogQL stream selector and line filter observe
	// --loki reads with.
	LokiSelector string `yaml:"lokiSelector"`
}

// Duration is a time.Duration that also accepts a day suffix ("7d").
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ParseDuration parses Go durations plus whole or fractional days ("7d", "1.5d").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "d") {
		n, err := strconv.ParseFloat(strings.TrimSuffix(s, "d"), 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(n * 24 * float64(time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (use e.g. 72h, 7d)", s)
	}
	return d, nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return FormatDuration(time.Duration(d)), nil }

// FormatDuration prints whole days as "Nd" and anything else as Go does.
func FormatDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// Prefix is a CIDR; a bare address means a /32 or /128.
type Prefix struct{ netip.Prefix }

// UnmarshalYAML implements yaml.Unmarshaler.
func (p *Prefix) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParsePrefix(n.Value)
	if err != nil {
		return err
	}
	p.Prefix = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (p Prefix) MarshalYAML() (any, error) { return p.String(), nil }

// ParsePrefix parses a CIDR or a bare address and masks it.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid address %q", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Default returns the embedded default profile.
func Default() *Profile {
	p, err := Parse(defaultYAML, "(embedded default profile)")
	if err != nil {
		panic(err)
	}
	return p
}

// Load reads a profile file; an empty path returns the default. Keys not set
// in the file keep their default values.
func Load(path string) (*Profile, error) {
	if path == "" {
		return Default(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading profile: %w", err)
	}
	return Parse(b, path)
}

// Parse decodes a profile over the defaults and validates it. Unknown keys
// are an error naming the key and its line.
func Parse(b []byte, name string) (*Profile, error) {
	p := &Profile{}
	if name != "(embedded default profile)" {
		p = Default()
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(p); err != nil && !errors.Is(err, io.EOF) {
		return nil, errors.New(AtFile(name, YAMLError(err)))
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

var unknownFieldRE = regexp.MustCompile(`field (\S+) not found in type \S+`)

// YAMLError turns a yaml.v3 decoding error into one line per problem,
// naming unknown keys as such: "line 2: unknown key "stabilty"".
func YAMLError(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			msgs[i] = unknownFieldRE.ReplaceAllString(m, `$1: unknown key`)
		}
		return strings.Join(msgs, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

var lineRE = regexp.MustCompile(`(?:yaml: )?line (\d+): `)

// AtFile puts a file name in front of an error message the way every
// calico-plan error names a place, "file:line: field: problem": a
// "line N: " in the message (yaml.v3's) becomes "file:N: ". Problems
// joined with "; " each get their own.
func AtFile(name, msg string) string {
	parts := strings.Split(msg, "; ")
	for i, p := range parts {
		if m := lineRE.FindStringSubmatchIndex(p); m != nil {
			parts[i] = name + ":" + p[m[2]:m[3]] + ": " + p[:m[0]] + p[m[1]:]
		} else {
			parts[i] = name + ": " + p
		}
	}
	return strings.Join(parts, "; ")
}

var tierNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Validate checks the profile for values that would make invalid policy.
func (p *Profile) Validate() error {
	var pr problems
	if p.Version != Version {
		pr.bad("version: %d is not supported (this build reads version %d)", p.Version, Version)
	}
	p.validateTiers(&pr)
	p.validateDNS(&pr)
	p.validateAggregation(&pr)
	p.validatePolicy(&pr)
	p.validateRollout(&pr)
	p.validatePacketLogs(&pr)
	p.validateTerraform(&pr)
	if len(pr) > 0 {
		return errors.New(strings.Join(pr, "\n"))
	}
	return nil
}

// problems collects what Validate finds, one line each.
type problems []string

func (pr *problems) bad(f string, a ...any) { *pr = append(*pr, fmt.Sprintf(f, a...)) }

// validateTiers checks the tiers and excluded namespaces.
func (p *Profile) validateTiers(pr *problems) {
	if msgs := validation.IsQualifiedName(p.Tiers.LabelKey); len(msgs) > 0 {
		pr.bad("tiers.labelKey: %q is not a valid label key: %s", p.Tiers.LabelKey, strings.Join(msgs, "; "))
	}
	for _, t := range append(append([]string{}, p.Tiers.Order...), p.Tiers.Deferred...) {
		if msgs := validation.IsValidLabelValue(t); len(msgs) > 0 || t == "" {
			pr.bad("tiers: %q is not a valid label value", t)
		}
	}
	for _, d := range p.Tiers.Deferred {
		if !contains(p.Tiers.Order, d) {
			pr.bad("tiers.deferred: %q is not in tiers.order", d)
		}
	}
	for i, r := range p.Tiers.NameRules {
		if r.Prefix == "" || r.Tier == "" {
			pr.bad("tiers.nameRules[%d]: prefix and tier are required", i)
		}
	}
	for _, ns := range p.ExcludedNamespaces {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			pr.bad("excludedNamespaces: %q is not a valid namespace name", ns)
		}
	}
}

// validateDNS checks how DNS is allowed.
func (p *Profile) validateDNS(pr *problems) {
	switch p.DNS.Form {
	case DNSFormNets:
		if len(p.DNS.Addresses) == 0 {
			pr.bad("dns.addresses: at least one address is required with form %q", DNSFormNets)
		}
	case DNSFormSelector:
		if p.DNS.Namespace == "" || p.DNS.Selector == "" {
			pr.bad("dns: namespace and selector are required with form %q", DNSFormSelector)
		}
	default:
		pr.bad("dns.form: %q is not %q or %q", p.DNS.Form, DNSFormNets, DNSFormSelector)
	}
	if p.DNS.Namespace != "" {
		if msgs := validation.IsDNS1123Label(p.DNS.Namespace); len(msgs) > 0 {
			pr.bad("dns.namespace: %q is not a valid namespace name", p.DNS.Namespace)
		}
	}
	if p.DNS.Selector != "" {
		// It goes into rendered policy as a rule selector.
		if sel, err := selector.Parse(p.DNS.Selector); err != nil {
			pr.bad("dns.selector: %v", err)
		} else if sel.UsesGlobal() {
			pr.bad("dns.selector: %q: global() is only valid in a namespaceSelector", p.DNS.Selector)
		}
	}
	if p.DNS.Port == 0 {
		pr.bad("dns.port: must be 1-65535")
	}
}

// validateAggregation checks aggregation and stability.
func (p *Profile) validateAggregation(pr *problems) {
	if p.Aggregation.MaxCIDRs < 1 {
		pr.bad("aggregation.maxCIDRs: must be at least 1")
	}
	if p.Aggregation.MinPrefixV4 < 0 || p.Aggregation.MinPrefixV4 > 32 {
		pr.bad("aggregation.minPrefixV4: must be 0-32")
	}
	if p.Aggregation.MinPrefixV6 < 0 || p.Aggregation.MinPrefixV6 > 128 {
		pr.bad("aggregation.minPrefixV6: must be 0-128")
	}
	if p.Aggregation.MaxAddresses < 1 {
		pr.bad("aggregation.maxAddresses: must be at least 1")
	}
	if p.Aggregation.WorkloadSamples < 0 {
		pr.bad("aggregation.workloadSamples: must not be negative")
	}
	if p.Stability.MinimumWindow <= 0 || p.Stability.StabilizationPeriod <= 0 {
		pr.bad("stability: minimumWindow and stabilizationPeriod must be positive")
	}
}

// validatePolicy checks the rendered policy's tier and name.
func (p *Profile) validatePolicy(pr *problems) {
	if !tierNameRE.MatchString(p.Policy.Tier) || len(p.Policy.Tier) > 63 || p.Policy.Tier == "default" {
		pr.bad("policy.tier: %q is not a valid non-default tier name (lower-case alphanumerics and '-', at most 63)", p.Policy.Tier)
	} else if p.Policy.Tier == "adminnetworkpolicy" || p.Policy.Tier == "baselineadminnetworkpolicy" {
		pr.bad("policy.tier: %q is a tier Calico reserves for (Baseline)AdminNetworkPolicy, with a fixed order and defaultAction Pass", p.Policy.Tier)
	}
	if p.Policy.TierOrder >= 1000000 {
		pr.bad("policy.tierOrder: %v must be below the default tier's 1000000, or an allow-all policy there could cancel the allowlist", p.Policy.TierOrder)
	}
	if msgs := validation.IsDNS1123Subdomain(p.Policy.K8sName); len(msgs) > 0 {
		pr.bad("policy.k8sName: %q is not a valid object name", p.Policy.K8sName)
	}
}

// validateRollout checks rollout.
func (p *Profile) validateRollout(pr *problems) {
	if p.Rollout.PerWave < 1 {
		pr.bad("rollout.perWave: must be at least 1")
	}
	if msgs := validation.IsQualifiedName(p.Rollout.StageLabel); len(msgs) > 0 {
		pr.bad("rollout.stageLabel: %q is not a valid label key", p.Rollout.StageLabel)
	}
	// The observe GlobalNetworkPolicy is rendered in the default tier: its
	// name is a DNS label, or "default.<label>" (Calico's tiered-name rule).
	if op := p.Rollout.ObservePolicy.Name; !observeNameRE.MatchString(op) || len(op) > 253 {
		pr.bad("rollout.observePolicy.name: %q is not a valid default-tier GlobalNetworkPolicy name (a DNS label, optionally prefixed \"default.\")", op)
	}
	switch p.Rollout.ObservePolicy.Manage {
	case ObserveManageExisting, ObserveManageAlways, ObserveManageNever:
	default:
		pr.bad("rollout.observePolicy.manage: %q: want existing, always or never", p.Rollout.ObservePolicy.Manage)
	}
	if sel := p.Rollout.ObservePolicy.Selector; strings.TrimSpace(sel) == "" {
		pr.bad("rollout.observePolicy.selector: empty (all() selects every pod)")
	}
	for _, t := range p.Rollout.ObservePolicy.Tiers {
		// They go into the observe policy's namespaceSelector.
		if msgs := validation.IsValidLabelValue(t); len(msgs) > 0 || t == "" {
			pr.bad("rollout.observePolicy.tiers: %q is not a valid label value", t)
		}
	}
}

// validatePacketLogs checks packet logs.
func (p *Profile) validatePacketLogs(pr *problems) {
	if !logPrefixRE.MatchString(p.PacketLogs.Prefix) || p.PacketLogs.Prefix == "" || len(p.PacketLogs.Prefix) > 127 {
		pr.bad("packetLogs.prefix: %q is not a Felix logPrefix (1-127 of letters, digits, '%%', ':', ' ', '/', '_', '-')", p.PacketLogs.Prefix)
	}
	if !ifacePrefixRE.MatchString(p.PacketLogs.InterfacePrefix) {
		pr.bad("packetLogs.interfacePrefix: %q is not an interface name prefix (1-4 letters or digits)", p.PacketLogs.InterfacePrefix)
	}
	if d := p.PacketLogs.DedupWindow.D(); d < time.Second || d > time.Hour {
		pr.bad("packetLogs.dedupWindow: %s is not between 1s and 1h", FormatDuration(d))
	}
	if strings.TrimSpace(p.PacketLogs.LokiSelector) == "" || !strings.HasPrefix(strings.TrimSpace(p.PacketLogs.LokiSelector), "{") {
		pr.bad("packetLogs.lokiSelector: %q is not a LogQL stream selector ({label=\"value\", ...} with optional line filters)", p.PacketLogs.LokiSelector)
	}
}

// validateTerraform checks the Terraform output.
func (p *Profile) validateTerraform(pr *problems) {
	switch p.Terraform.Resource {
	case "kubectl_manifest", "kubernetes_manifest":
	default:
		pr.bad("terraform.resource: %q is not kubectl_manifest or kubernetes_manifest", p.Terraform.Resource)
	}
	for ns, d := range p.Terraform.StackDirs {
		if !stackDirRE.MatchString(d) {
			pr.bad("terraform.stackDirs[%s]: %q is not a relative directory of letters, digits, '-', '_', '.' and '/'", ns, d)
		}
	}
	if !stackDirRE.MatchString(p.Terraform.SharedStack) {
		pr.bad("terraform.sharedStack: %q is not a relative directory name", p.Terraform.SharedStack)
	}
	switch p.Terraform.RequiredProviders {
	case "auto", "always", "never":
	default:
		pr.bad("terraform.requiredProviders: %q is not auto, always or never", p.Terraform.RequiredProviders)
	}
	switch p.Terraform.StageLabels {
	case "kubernetes_labels", "none":
	default:
		pr.bad("terraform.stageLabels: %q is not kubernetes_labels or none", p.Terraform.StageLabels)
	}
}

var (
	logPrefixRE   = regexp.MustCompile(`^[a-zA-Z0-9%: /_-]*$`)
	ifacePrefixRE = regexp.MustCompile(`^[a-zA-Z0-9]{1,4}$`)
)

var observeNameRE = regexp.MustCompile(`^(default\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

var stackDirRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$`)

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Excluded reports whether a namespace is on the exclusion list.
func (p *Profile) Excluded(ns string) bool { return contains(p.ExcludedNamespaces, ns) }

// TierFor resolves a namespace's tier: from its labels when known, else from
// the name rules. The second value says where it came from: "label",
// "name-rule" or "" (unassigned).
func (p *Profile) TierFor(ns string, labels map[string]string) (tier, from string) {
	if v, ok := labels[p.Tiers.LabelKey]; ok && v != "" {
		return v, "label"
	}
	for _, r := range p.Tiers.NameRules {
		if strings.HasPrefix(ns, r.Prefix) {
			return r.Tier, "name-rule"
		}
	}
	return "", ""
}

// IsNoiseLabel reports whether a label key is configured as noise.
func (p *Profile) IsNoiseLabel(key string) bool {
	for _, n := range p.Labels.Noise {
		if strings.HasSuffix(n, "*") {
			if strings.HasPrefix(key, strings.TrimSuffix(n, "*")) {
				return true
			}
		} else if n == key {
			return true
		}
	}
	return false
}

// IsPrivate reports whether an address is in the profile's private ranges.
func (p *Profile) IsPrivate(a netip.Addr) bool { return inAny(p.Networks.Private, a) }

// IsDNSAddress reports whether an address is one of the DNS listeners.
func (p *Profile) IsDNSAddress(a netip.Addr) bool { return inAny(p.DNS.Addresses, a) }

// IsNodeAddress reports whether an address is in the node ranges.
func (p *Profile) IsNodeAddress(a netip.Addr) bool { return inAny(p.Networks.Nodes, a) }

func inAny(ps []Prefix, a netip.Addr) bool {
	a = a.Unmap().WithZone("") // no prefix contains a zoned address

	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Prefixes returns the plain prefixes of a list.
func Prefixes(ps []Prefix) []netip.Prefix {
	out := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		out[i] = p.Prefix
	}
	return out
}
