package allowlist

import (
	"net/netip"
	"strings"
)

// Special address classes: ranges that are neither the profile's private
// ranges nor public. Egress to them is kept as its own peer kind
// (PeerSpecial, the class in Peer.Name), never as public, every rule for
// them is rendered with a warning, and the "any public address" rule of an
// address-less public peer leaves them out.
const (
	SpecialLoopback      = "loopback"
	SpecialLinkLocal     = "link-local"
	SpecialCGNAT         = "cgnat"
	SpecialDocumentation = "documentation"
	SpecialBroadcast     = "broadcast"
	SpecialMulticast     = "multicast"
	SpecialUniqueLocal   = "unique-local"
)

// SpecialRange is one range of a special class.
type SpecialRange struct {
	Class  string
	Prefix netip.Prefix
}

// specialRanges is ordered most specific first where ranges nest (the
// IPv4 broadcast address lies in no other listed range).
var specialRanges = []SpecialRange{
	{SpecialLoopback, netip.MustParsePrefix("127.0.0.0/8")},
	{SpecialLoopback, netip.MustParsePrefix("::1/128")},
	{SpecialLinkLocal, netip.MustParsePrefix("169.254.0.0/16")},
	{SpecialLinkLocal, netip.MustParsePrefix("fe80::/10")},
	{SpecialCGNAT, netip.MustParsePrefix("100.64.0.0/10")},
	{SpecialDocumentation, netip.MustParsePrefix("192.0.2.0/24")},
	{SpecialDocumentation, netip.MustParsePrefix("198.51.100.0/24")},
	{SpecialDocumentation, netip.MustParsePrefix("203.0.113.0/24")},
	{SpecialDocumentation, netip.MustParsePrefix("2001:db8::/32")},
	{SpecialDocumentation, netip.MustParsePrefix("3fff::/20")},
	{SpecialBroadcast, netip.MustParsePrefix("255.255.255.255/32")},
	{SpecialMulticast, netip.MustParsePrefix("224.0.0.0/4")},
	{SpecialMulticast, netip.MustParsePrefix("ff00::/8")},
	{SpecialUniqueLocal, netip.MustParsePrefix("fc00::/7")},
}

// specialNotes say why a class matters, for render warnings.
var specialNotes = map[string]string{
	SpecialLoopback:      "the pod's own loopback, which policy does not need to allow",
	SpecialLinkLocal:     "169.254.169.254 is the cloud metadata service, which hands out node credentials",
	SpecialCGNAT:         "carrier-grade NAT space (RFC 6598), often a VPN or overlay network",
	SpecialDocumentation: "documentation ranges, never routed: a flow log naming them is suspect",
	SpecialBroadcast:     "the limited broadcast address",
	SpecialMulticast:     "multicast groups",
	SpecialUniqueLocal:   "IPv6 unique-local addresses (fc00::/7), a private network",
}

// SpecialRanges returns every special range, grouped by class.
func SpecialRanges() []SpecialRange { return append([]SpecialRange(nil), specialRanges...) }

// SpecialPrefixes returns every special range as prefixes.
func SpecialPrefixes() []netip.Prefix {
	out := make([]netip.Prefix, len(specialRanges))
	for i, r := range specialRanges {
		out[i] = r.Prefix
	}
	return out
}

// SpecialClassPrefixes returns the ranges of one class.
func SpecialClassPrefixes(class string) []netip.Prefix {
	var out []netip.Prefix
	for _, r := range specialRanges {
		if r.Class == class {
			out = append(out, r.Prefix)
		}
	}
	return out
}

// ValidSpecialClass reports whether c names a special class.
func ValidSpecialClass(c string) bool { return len(SpecialClassPrefixes(c)) > 0 }

// SpecialClasses lists the class names in a fixed order.
func SpecialClasses() []string {
	var out []string
	for _, r := range specialRanges {
		if len(out) == 0 || out[len(out)-1] != r.Class {
			out = append(out, r.Class)
		}
	}
	return out
}

// SpecialClassOf returns the special class of an address, if any. IPv6
// zones ("fe80::1%eth0") and IPv4-mapped forms are ignored.
func SpecialClassOf(a netip.Addr) (string, bool) {
	a = a.Unmap().WithZone("")
	for _, r := range specialRanges {
		if r.Prefix.Contains(a) {
			return r.Class, true
		}
	}
	return "", false
}

// SpecialDescription is a one-line description of a class: its ranges and
// why it matters.
func SpecialDescription(class string) string {
	ps := SpecialClassPrefixes(class)
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return class + " (" + strings.Join(s, ", ") + "): " + specialNotes[class]
}
