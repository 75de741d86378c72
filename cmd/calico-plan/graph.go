package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/graph"
	"github.com/calico-plan/calico-plan/internal/output"
)

// Graph output formats besides json.
const (
	formatMermaid output.Format = "mermaid"
	formatDot     output.Format = "dot"
)

func newGraphCmd(g *globals) *cobra.Command {
	var namespaces, tiers []string
	var out *outputFlag
	var denied, wouldDeny bool
	cmd := &cobra.Command{
		Use:   "graph [-n NS]... [--tier T]... [-o mermaid|md|dot|json]",
		Short: "Draw the egress the store holds: namespaces, peers, ports, traffic, stages",
		Long: `graph draws the egress of one namespace, a tier, or the whole store: each
namespace (coloured by its rollout stage: observe grey, staged amber, enforced
green) with an arrow to every peer it reaches, labelled with the ports, the
addresses or pod labels where they narrow the peer, and the flows seen.
Denied egress (the dataplane denied it) is dashed red, would-deny egress (the
staged policy would deny it) dashed orange; --denied=false and
--would-deny=false leave them out.

Formats:
  mermaid  a Mermaid flowchart (default)
  md       the same inside a mermaid code block: paste it into a pull-request
           comment or a README and the forge draws it
  dot      Graphviz (dot -Tsvg graph.dot > graph.svg)
  json     the nodes and edges

Without -n or --tier, every namespace of the store is drawn.`,
		Example: `  calico-plan graph -n recruiter-responder
  calico-plan graph --tier 4-aux -o md > aux-egress.md
  calico-plan graph -o dot | dot -Tsvg > egress.svg`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := out.format()
			if err != nil {
				return err
			}
			var about []string
			if len(tiers) == 0 {
				about = namespaces // a tier needs every namespace's tier
			}
			st, err := g.openStoreFor(about)
			if err != nil {
				return err
			}
			sel, err := selectNamespaces(st, namespaces, tiers)
			if err != nil {
				return err
			}
			gr := graph.Build(sel, st.Namespace, graph.Options{Denied: denied, WouldDeny: wouldDeny})
			switch f {
			case formatDot:
				return graph.WriteDot(g.stdout, gr)
			case output.JSON:
				return output.WriteJSON(g.stdout, gr)
			case output.MD:
				fmt.Fprintln(g.stdout, "```mermaid")
				if err := graph.WriteMermaid(g.stdout, gr); err != nil {
					return err
				}
				_, err := fmt.Fprintln(g.stdout, "```")
				return err
			}
			return graph.WriteMermaid(g.stdout, gr)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&namespaces, "namespace", "n", nil, "namespace to draw (repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("namespace", completeNamespaces(g))
	fl.StringArrayVar(&tiers, "tier", nil, "draw every namespace of this tier (repeatable)")
	out = addOutputFlag(cmd, formatMermaid, output.MD, formatDot, output.JSON)
	fl.BoolVar(&denied, "denied", true, "draw denied egress (dashed red)")
	fl.BoolVar(&wouldDeny, "would-deny", true, "draw would-deny egress (dashed orange)")
	return cmd
}

// selectNamespaces returns the store's namespaces named or in the tiers
// (all of them when neither is given), in store order. An unknown name or
// a tier without namespaces is an error that lists what exists.
func selectNamespaces(st *allowlist.Store, names, tiers []string) ([]*allowlist.Namespace, error) {
	all := st.Namespaces()
	if len(names) == 0 && len(tiers) == 0 {
		return all, nil
	}
	for _, n := range names {
		if st.Namespace(n) == nil {
			return nil, unknownNamespace(st, n, "is not in the store")
		}
	}
	var known []string
	for _, n := range all {
		if !slices.Contains(known, n.Tier) {
			known = append(known, n.Tier)
		}
	}
	for _, t := range tiers {
		if !slices.Contains(known, t) {
			slices.Sort(known)
			return nil, fmt.Errorf("no namespace of the store %s has tier %q (tiers: %s)", st.Dir, t, strings.Join(known, ", "))
		}
	}
	var out []*allowlist.Namespace
	for _, n := range all {
		if slices.Contains(names, n.Namespace) || slices.Contains(tiers, n.Tier) {
			out = append(out, n)
		}
	}
	return out, nil
}
