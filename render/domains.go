package render

import (
	"fmt"
	"strings"

	v3 "github.com/projectcalico/api/pkg/apis/projectcalico/v3"
	"github.com/projectcalico/api/pkg/lib/numorstring"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
)

// Domain rules (render --domains, Calico Enterprise only).
//
// Calico Enterprise flow logs carry dest_domains: the names Felix's DNS
// cache tied to the destination address. Calico Enterprise policies accept
// destination.domains in egress Allow rules (its own policy recommender
// uses them for public egress). With --domains a public entry that has
// domains renders as one rule per protocol and port set with those domains
// and no nets; the observed addresses stay in the allowlist as evidence and
// are named in the rule's annotation. The OSS projectcalico/api types have
// no domains field, so the rule is written into the policy's generic form.

// DomainsAnnotation lists, on a domain rule, the addresses observed for it.
const DomainsAnnotation = "calico-plan.io/observed-nets"

// domainRule is the rule of one port group of an entry with domains; its
// destination gets the domains in withDomains.
func domainRule(i int, e allowlist.Entry, proto flows.Protocol, ports []uint16, specs []string) (v3.Rule, RuleSource) {
	r := v3.Rule{Action: v3.Allow}
	pr := calicoProtocol(proto)
	r.Protocol = &pr
	for _, p := range ports {
		r.Destination.Ports = append(r.Destination.Ports, numorstring.SinglePort(p))
	}
	ann := map[string]string{EntryAnnotation: "domains " + strings.Join(e.Domains, ",")}
	if len(e.Peer.Nets) > 0 {
		ann[DomainsAnnotation] = e.Peer.Summary(peerNetsShown)
	}
	r.Metadata = &v3.RuleMetadata{Annotations: ann}
	return r, RuleSource{Kind: "entry", Entry: i, Peer: "domains " + strings.Join(e.Domains, ","), Ports: specs}
}

func domainWarning(e allowlist.Entry) string {
	return fmt.Sprintf("%s: rendered as destination.domains %s (--domains): this needs Calico Enterprise with DNS policy (the OSS API has no domains and rejects such a rule; pods must resolve names through the cluster DNS Felix watches, which this policy's DNS rule allows); dest_domains are names Felix's DNS cache tied to the addresses, a hint rather than proof, so review them; the observed addresses stay in the allowlist as evidence",
		entryLabel(e), strings.Join(e.Domains, ", "))
}

// withDomains turns the policy into its generic form and puts the domains
// into the destinations of the given rules.
func withDomains(obj any, rules map[int][]string) (map[string]any, error) {
	m, err := ToMap(obj)
	if err != nil {
		return nil, err
	}
	spec, _ := m["spec"].(map[string]any)
	egress, _ := spec["egress"].([]any)
	for idx, doms := range rules {
		if idx >= len(egress) {
			return nil, fmt.Errorf("domain rule %d: the policy has %d rules", idx, len(egress))
		}
		rm, _ := egress[idx].(map[string]any)
		dest, _ := rm["destination"].(map[string]any)
		if dest == nil {
			dest = map[string]any{}
			rm["destination"] = dest
		}
		list := make([]any, len(doms))
		for i, d := range doms {
			list[i] = d
		}
		dest["domains"] = list
	}
	return m, nil
}
