package allowlist

import (
	"net/netip"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/profile"
)

// Class separates what a flow says about a namespace's egress.
type Class uint8

const (
	// ClassEgress is allowed egress: it goes into the allowlist.
	ClassEgress Class = iota
	// ClassDenied is egress the dataplane denied: reported, never allowlisted.
	ClassDenied
	// ClassWouldDeny is egress the namespace's own staged allowlist policy
	// would deny (from the flow's pending trace): the breakage signal.
	ClassWouldDeny
	numClasses
)

// key identifies one (namespace, class, peer, port) accumulator. For
// network peers with addresses, the addresses are kept in the accumulator,
// not in the key (HasNets separates them from address-less peers).
type key struct {
	ns       string
	class    Class
	kind     string
	peerNS   string
	peerName string
	labels   string // canonical "k=v,k=v" (sorted, noise removed)
	hasNets  bool
	// origin separates packet-log evidence from flow-log evidence: the two
	// describe the same traffic and are never summed.
	origin flows.Origin
	proto  flows.Protocol
	port   uint16
}

// Skip reasons counted by the classifier.
const (
	SkipDstReported     = "dst-reported copy (ingress side)"
	SkipSourceNotPod    = "source is not a pod (host endpoint, network or network set)"
	SkipNoSourceNS      = "no source namespace"
	SkipInvalidSourceNS = "source namespace is not a valid Kubernetes name"
	SkipInvalidPeer     = "destination namespace or name is not a valid Kubernetes name"
	SkipUnknownAction   = "action is neither allow nor deny"
	SkipUnknownPeer     = "destination type or network name unknown"
	SkipReporterUnknown = "reporter unknown"
	SkipUnknownProtocol = "protocol unknown (no rule can be written for it)"
)

// Classifier maps flows to allowlist keys using the cluster profile. It
// caches validation and label canonicalization; it is not safe for
// concurrent use (give each worker its own).
type Classifier struct {
	prof        *profile.Profile
	validNS     map[string]bool
	validName   map[string]bool
	labelCache  map[string]labelResult
	labelKeyBuf strings.Builder
}

type labelResult struct {
	canon   string
	dropped int
}

// NewClassifier returns a classifier for a profile.
func NewClassifier(p *profile.Profile) *Classifier {
	return &Classifier{
		prof:       p,
		validNS:    map[string]bool{},
		validName:  map[string]bool{},
		labelCache: map[string]labelResult{},
	}
}

// Profile returns the classifier's profile.
func (c *Classifier) Profile() *profile.Profile { return c.prof }

func (c *Classifier) nsValid(ns string) bool {
	v, ok := c.validNS[ns]
	if !ok {
		v = len(validation.IsDNS1123Label(ns)) == 0
		if len(c.validNS) < 1<<16 {
			c.validNS[ns] = v
		}
	}
	return v
}

func (c *Classifier) nameValid(n string) bool {
	v, ok := c.validName[n]
	if !ok {
		v = len(validation.IsDNS1123Subdomain(n)) == 0
		if len(c.validName) < 1<<16 {
			c.validName[n] = v
		}
	}
	return v
}

// classify returns the keys a flow contributes to (an allowed flow that the
// staged policy would deny contributes to two classes) or a skip reason.
// labelsDropped counts invalid labels left out of a selector.
func (c *Classifier) classify(f *flows.Flow, out *[2]key) (n int, skip string, labelsDropped int) {
	switch f.Reporter {
	case flows.ReporterSrc:
	case flows.ReporterDst:
		return 0, SkipDstReported, 0
	default:
		return 0, SkipReporterUnknown, 0
	}
	if f.Source.Type != flows.EndpointWorkload {
		return 0, SkipSourceNotPod, 0
	}
	ns := f.Source.Namespace
	if ns == "" {
		return 0, SkipNoSourceNS, 0
	}
	if !c.nsValid(ns) {
		return 0, SkipInvalidSourceNS, 0
	}
	var class Class
	switch f.Action {
	case flows.ActionAllow:
		class = ClassEgress
	case flows.ActionDeny:
		class = ClassDenied
	default:
		return 0, SkipUnknownAction, 0
	}
	if f.Proto == 0 {
		// A record without a protocol ("-", null or 0) cannot become a port
		// spec of the store ("0" does not parse back) nor a rule.
		return 0, SkipUnknownProtocol, 0
	}
	k := key{ns: ns, class: class, proto: f.Proto, origin: f.Origin}
	if f.Proto.HasPorts() {
		k.port = f.Dest.Port
	}
	if skip, dropped := c.peer(f, &k); skip != "" {
		return 0, skip, 0
	} else {
		labelsDropped = dropped
	}
	out[0] = k
	n = 1
	if class == ClassEgress && c.wouldDeny(f) {
		k.class = ClassWouldDeny
		out[1] = k
		n = 2
	}
	return n, "", labelsDropped
}

// wouldDeny reports whether the flow's pending trace ends in a deny by the
// namespace's own staged allowlist policy (Calico flavor in the allowlist
// tier, or the staged Kubernetes policy of the k8s flavor).
func (c *Classifier) wouldDeny(f *flows.Flow) bool {
	h, ok := flows.Verdict(f.Policies.Pending)
	if !ok || h.Action != flows.ActionDeny || !h.Kind.Staged() {
		return false
	}
	switch h.Kind {
	case flows.KindStagedKubernetesNetworkPolicy:
		return h.Name == c.prof.Policy.K8sName && h.Namespace == f.Source.Namespace
	default:
		return h.Tier == c.prof.Policy.Tier
	}
}

func (c *Classifier) isDNS(f *flows.Flow) bool {
	d := &c.prof.DNS
	if f.Dest.Port != d.Port || (f.Proto != flows.ProtoUDP && f.Proto != flows.ProtoTCP) {
		return false
	}
	if f.Dest.IP.IsValid() {
		return c.prof.IsDNSAddress(addrOf(f))
	}
	switch f.Dest.Type {
	case flows.EndpointWorkload:
		return f.Dest.Namespace == d.Namespace
	case flows.EndpointNetwork, flows.EndpointHost:
		return d.AssumeNetworkPort53IsDNS
	}
	return false
}

func (c *Classifier) peer(f *flows.Flow, k *key) (skip string, dropped int) {
	if c.isDNS(f) {
		k.kind = PeerDNS
		return "", 0
	}
	d := &f.Dest
	switch d.Type {
	case flows.EndpointWorkload:
		if d.Namespace == "" || !c.nsValid(d.Namespace) {
			return SkipInvalidPeer, 0
		}
		k.kind, k.peerNS = PeerNamespace, d.Namespace
		lr := c.canonicalLabels(d.Labels)
		k.labels = lr.canon
		return "", lr.dropped
	case flows.EndpointNetworkSet:
		name := d.NameAggr
		if name == "" {
			name = d.Name
		}
		if name == "" || !c.nameValid(name) {
			return SkipInvalidPeer, 0
		}
		k.peerName = name
		lr := c.canonicalLabels(d.Labels)
		k.labels, dropped = lr.canon, lr.dropped
		if d.Namespace != "" {
			if !c.nsValid(d.Namespace) {
				return SkipInvalidPeer, 0
			}
			k.kind, k.peerNS = PeerNetworkSet, d.Namespace
		} else {
			k.kind = PeerGlobalNetworkSet
		}
		return "", dropped
	case flows.EndpointHost:
		k.kind = PeerHost
		name := d.NameAggr
		if name == "" {
			name = d.Name
		}
		if name != "" && name != "-" {
			if !c.nameValid(name) {
				return SkipInvalidPeer, 0
			}
			k.peerName = name
		}
		k.hasNets = d.IP.IsValid()
		return "", 0
	case flows.EndpointNetwork:
		if d.IP.IsValid() {
			k.hasNets = true
			// The profile's private ranges first (a cluster may use CGNAT
			// space for its own networks), then the special classes;
			// everything else is public.
			if ip := addrOf(f); c.prof.IsPrivate(ip) {
				k.kind = PeerPrivate
			} else if class, ok := SpecialClassOf(ip); ok {
				k.kind, k.peerName = PeerSpecial, class
			} else {
				k.kind = PeerPublic
			}
			return "", 0
		}
		switch d.NameAggr {
		case "pvt":
			k.kind = PeerPrivate
		case "pub":
			k.kind = PeerPublic
		default:
			return SkipUnknownPeer, 0
		}
		return "", 0
	}
	return SkipUnknownPeer, 0
}

// canonicalLabels turns reported labels into the stable selector labels:
// noise keys removed, invalid keys/values dropped (counted), sorted.
func (c *Classifier) canonicalLabels(labels []string) labelResult {
	if len(labels) == 0 {
		return labelResult{}
	}
	b := &c.labelKeyBuf
	b.Reset()
	for _, l := range labels {
		b.WriteString(l)
		b.WriteByte(0)
	}
	if r, ok := c.labelCache[b.String()]; ok {
		return r
	}
	raw := b.String()
	keep := make([]string, 0, len(labels))
	dropped := 0
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			dropped++
			continue
		}
		if c.prof.IsNoiseLabel(k) {
			continue
		}
		if len(validation.IsQualifiedName(k)) > 0 || len(validation.IsValidLabelValue(v)) > 0 {
			dropped++
			continue
		}
		keep = append(keep, k+"="+v)
	}
	sort.Strings(keep)
	keep = dedupeSorted(keep)
	r := labelResult{canon: strings.Join(keep, ","), dropped: dropped}
	if len(c.labelCache) < 1<<16 {
		c.labelCache[raw] = r
	}
	return r
}

func dedupeSorted(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// parseCanonLabels turns "k=v,k=v" back into a map.
func parseCanonLabels(s string) map[string]string {
	if s == "" {
		return nil
	}
	m := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// canonFromMap is the inverse of parseCanonLabels.
func canonFromMap(m map[string]string) string {
	keys := sortedKeys(m)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

// addrOf returns the destination address used for nets, if any: IPv4-mapped
// addresses as IPv4, and without an IPv6 zone ("fe80::1%eth0" is fe80::1: a
// zone names the sender's interface, and no prefix contains a zoned address).
func addrOf(f *flows.Flow) netip.Addr { return f.Dest.IP.Unmap().WithZone("") }
