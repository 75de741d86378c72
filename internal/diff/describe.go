package diff

import (
	"regexp"
	"strings"
)

var (
	canonEq   = regexp.MustCompile(`^([A-Za-z0-9./_-]+) == "([^"]*)"$`)
	nameLabel = regexp.MustCompile(`^(?:kubernetes\.io/metadata\.name|projectcalico\.org/name) == "([^"]*)"$`)
)

// labelsText renders a canonical selector that is a conjunction of
// equalities as "{k=v, k2=v2}", anything else as "{selector}".
func labelsText(sel string) string {
	parts := strings.Split(sel, " && ")
	var kv []string
	for _, p := range parts {
		m := canonEq.FindStringSubmatch(p)
		if m == nil {
			return "{" + sel + "}"
		}
		kv = append(kv, m[1]+"="+m[2])
	}
	return "{" + strings.Join(kv, ", ") + "}"
}

// peerText renders a group's peer with the region's addresses.
func peerText(g Group, r rect, ns string) string {
	pk := g.Peer
	var parts []string
	if pk.Services != "" {
		parts = append(parts, "service "+pk.Services)
	}
	if pk.Selector != "" || pk.NamespaceSelector != "" {
		var nsText string
		switch pk.NamespaceSelector {
		case "":
			nsText = "any namespace"
		case Own:
			nsText = ns
			if ns == "" {
				nsText = "own namespace"
			}
		case "global()":
			nsText = "global sets and host endpoints"
		case "all()":
			nsText = "all namespaces"
		default:
			if m := nameLabel.FindStringSubmatch(pk.NamespaceSelector); m != nil {
				nsText = m[1]
			} else {
				nsText = "namespaces " + labelsText(pk.NamespaceSelector)
			}
		}
		if pk.Selector == "" || pk.Selector == "all()" {
			parts = append(parts, nsText+" (all pods)")
		} else {
			parts = append(parts, nsText+" "+labelsText(pk.Selector))
		}
	}
	if pk.NotSelector != "" {
		parts = append(parts, "not "+labelsText(pk.NotSelector))
	}
	if pk.ServiceAccounts != "" {
		parts = append(parts, "service accounts "+pk.ServiceAccounts)
	}
	if r.nets != nil {
		parts = append(parts, netsString(r.nets))
	}
	if pk.NotNets != "" {
		parts = append(parts, "except "+pk.NotNets)
	}
	if len(parts) == 0 || (r.nets == nil && len(parts) == 1 && pk.NotNets != "") {
		parts = append([]string{"anywhere"}, parts...)
	}
	s := strings.Join(parts, " ")
	if pk.Extra != "" {
		s += " [" + pk.Extra + "]"
	}
	return s
}

// describe renders a region: "TCP/5432 to dbaas {app=pg}".
func describe(g Group, r rect, ns string) string {
	var b strings.Builder
	if g.Action != "Allow" {
		b.WriteString(strings.ToLower(g.Action) + " ")
	}
	switch {
	case g.Protocol == "any":
		b.WriteString("any protocol")
	case hasPorts(g.Protocol) && r.anyPort():
		b.WriteString(g.Protocol + " (any port)")
	case hasPorts(g.Protocol):
		b.WriteString(g.Protocol + "/" + portsString(r))
	default:
		b.WriteString(g.Protocol)
	}
	b.WriteString(" to ")
	b.WriteString(peerText(g, r, ns))
	if g.Subject != "all()" {
		b.WriteString(" (from " + g.Subject + ")")
	}
	return b.String()
}
