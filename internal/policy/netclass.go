package policy

import (
	"github.com/calico-plan/calico-plan/internal/netset"
	"net/netip"
	"strings"
)

// NetClass is an address class an Endpoint can carry instead of an IP.
// Goldmane and aggregated flow logs name external peers only "pub" or
// "pvt", and pods and nodes often come without addresses; a class says which
// range the unknown address lies in. A nets/notNets match (and the CIDRs of
// NetworkSets a selector selects) is then decided for the whole class:
// certain when the rule's address set contains all of the class or none of
// it, and Incomplete (not matching, never guessed) when it contains part.
// The ranges come from Config; a class whose ranges are not configured
// leaves every address match Incomplete.
type NetClass uint8

const (
	NetClassNone    NetClass = iota // no class: the address is unknown
	NetClassPublic                  // "pub": outside Config.PrivateNets
	NetClassPrivate                 // "pvt": inside Config.PrivateNets
	NetClassPod                     // a pod address: inside Config.PodNets
	NetClassNode                    // a node address: inside Config.NodeNets
	numNetClasses
)

// String returns pub, pvt, pod, node or "-".
func (c NetClass) String() string {
	switch c {
	case NetClassPublic:
		return "pub"
	case NetClassPrivate:
		return "pvt"
	case NetClassPod:
		return "pod"
	case NetClassNode:
		return "node"
	}
	return "-"
}

// DefaultPrivateNets are the ranges Calico's flow logs call private (pvt)
// when Config.PrivateNets is empty: RFC 1918.
var DefaultPrivateNets = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
}

// Missing says what data the rules a Decision could not decide lacked.
type Missing uint16

const (
	MissingProtocol   Missing = 1 << iota // the flow's protocol is unknown
	MissingIPVersion                      // no address gives the IP version a rule requires
	MissingICMP                           // the ICMP type or code is unknown
	MissingPort                           // a port a rule matches is unknown
	MissingNamedPorts                     // the workload's named ports are unknown
	MissingAddress                        // an address a nets/notNets match needs is unknown
	MissingClassPart                      // the address class lies partly inside the rule's nets
	MissingSetMember                      // the address class overlaps a NetworkSet the rule selects
	MissingService                        // the Service the connection was addressed to is unknown
	MissingHTTP                           // an application-layer (http) match was treated as matching
)

var missingNames = []string{
	"protocol unknown",
	"IP version unknown",
	"ICMP type unknown",
	"port unknown",
	"named ports unknown",
	"address unknown",
	"address class only partly inside the rule's nets",
	"address class overlaps a NetworkSet the rule selects",
	"destination Service unknown",
	"http match not checked",
}

// String lists the reasons, joined by "; ".
func (m Missing) String() string {
	var parts []string
	for i, n := range missingNames {
		if m&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, "; ")
}

// rel is how an address class relates to a set of prefixes.
type rel = netset.Rel

const (
	relNone      = netset.None    // no address of the class is in the set
	relAll       = netset.All     // every address of the class is in the set
	relPartial   = netset.Partial // some are
	relEmpty     = netset.Empty   // internal: the region is empty
	relUndefined = rel(100)       // the class's ranges are not configured
)

// classDef is a class's address region per family index (0: both, 1: IPv4,
// 2: IPv6): the union of inc minus the union of exc.
type classDef struct {
	defined bool
	inc     [3][]netip.Prefix
	exc     [3][]netip.Prefix
}

// familyIndex maps an evaluation family (0, 4, 6) to a classDef index.
func familyIndex(family uint8) int {
	switch family {
	case 4:
		return 1
	case 6:
		return 2
	}
	return 0
}

func splitFamilies(ps []netip.Prefix) (all, v4, v6 []netip.Prefix) {
	for _, p := range ps {
		p = p.Masked()
		all = append(all, p)
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	return all, v4, v6
}

func makeClass(inc, exc []netip.Prefix) classDef {
	var d classDef
	d.defined = len(inc) > 0
	d.inc[0], d.inc[1], d.inc[2] = splitFamilies(inc)
	d.exc[0], d.exc[1], d.exc[2] = splitFamilies(exc)
	return d
}

// buildClasses derives the class regions from the configuration.
func buildClasses(cfg *Config) [numNetClasses]classDef {
	private := cfg.PrivateNets
	if len(private) == 0 {
		private = DefaultPrivateNets
	}
	var c [numNetClasses]classDef
	c[NetClassPublic] = makeClass([]netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}, append(append([]netip.Prefix(nil), private...), cfg.PublicExcept...))
	c[NetClassPrivate] = makeClass(private, nil)
	c[NetClassPod] = makeClass(cfg.PodNets, nil)
	c[NetClassNode] = makeClass(cfg.NodeNets, nil)
	return c
}

// classRels is a prefix set's relation to every class in every family.
type classRels [numNetClasses][3]rel

func relateClasses(classes *[numNetClasses]classDef, set []netip.Prefix) classRels {
	var out classRels
	for c := NetClassPublic; c < numNetClasses; c++ {
		for f := 0; f < 3; f++ {
			out[c][f] = relateClass(&classes[c], f, set)
		}
	}
	return out
}

func relateClass(d *classDef, fam int, set []netip.Prefix) rel {
	if !d.defined {
		return relUndefined
	}
	r := relEmpty
	for _, p := range d.inc[fam] {
		r = netset.Combine(r, netset.Relate(p, d.exc[fam], set))
	}
	if r == relEmpty {
		// The class has no address in this family (IPv4-only pod ranges
		// and an IPv6 flow): nothing can match.
		return relNone
	}
	return r
}
