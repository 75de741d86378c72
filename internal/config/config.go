// Package config is the module's name for the cluster profile, which lives
// in the public package profile (so that code outside the module can build
// one). Every name here is an alias of profile's: the two are the same
// types, and code may use either.
package config

import (
	"net/netip"
	"time"

	"github.com/calico-plan/calico-plan/profile"
)

// The profile's types.
type (
	Profile       = profile.Profile
	Terraform     = profile.Terraform
	Tiers         = profile.Tiers
	NameRule      = profile.NameRule
	DNS           = profile.DNS
	Networks      = profile.Networks
	Labels        = profile.Labels
	Aggregation   = profile.Aggregation
	Stability     = profile.Stability
	Policy        = profile.Policy
	Rollout       = profile.Rollout
	ObservePolicy = profile.ObservePolicy
	PacketLogs    = profile.PacketLogs
	Duration      = profile.Duration
	Prefix        = profile.Prefix
)

// Version is the profile format version this build reads.
const Version = profile.Version

// Observe-policy management modes (rollout.observePolicy.manage).
const (
	ObserveManageExisting = profile.ObserveManageExisting
	ObserveManageAlways   = profile.ObserveManageAlways
	ObserveManageNever    = profile.ObserveManageNever
)

// DNS forms.
const (
	DNSFormNets     = profile.DNSFormNets
	DNSFormSelector = profile.DNSFormSelector
)

// DefaultYAML returns the embedded default profile, comments included.
func DefaultYAML() []byte { return profile.DefaultYAML() }

// Default returns the embedded default profile.
func Default() *Profile { return profile.Default() }

// Load reads a profile file; an empty path returns the default.
func Load(path string) (*Profile, error) { return profile.Load(path) }

// Parse decodes a profile over the defaults and validates it.
func Parse(b []byte, name string) (*Profile, error) { return profile.Parse(b, name) }

// AtFile puts "file:line: " in front of an error message.
func AtFile(name, msg string) string { return profile.AtFile(name, msg) }

// YAMLError turns a yaml.v3 decoding error into one line per problem.
func YAMLError(err error) string { return profile.YAMLError(err) }

// ParseDuration parses Go durations plus whole or fractional days ("7d", "1.5d").
func ParseDuration(s string) (time.Duration, error) { return profile.ParseDuration(s) }

// FormatDuration prints whole days as "Nd" and anything else as Go does.
func FormatDuration(d time.Duration) string { return profile.FormatDuration(d) }

// ParsePrefix parses a CIDR or a bare address and masks it.
func ParsePrefix(s string) (netip.Prefix, error) { return profile.ParsePrefix(s) }

// Prefixes returns the prefixes of a profile list.
func Prefixes(ps []Prefix) []netip.Prefix { return profile.Prefixes(ps) }
