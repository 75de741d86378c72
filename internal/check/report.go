package check

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/calico-plan/calico-plan/internal/output"
	"io"
	"strings"
	"time"

	"github.com/calico-plan/calico-plan/internal/policy"
)

// maxGroups bounds the groups a text or Markdown section lists.
const maxGroups = 100

// --- JSON -------------------------------------------------------------------

type jsonDecision struct {
	Action     string `json:"action"`
	Tier       string `json:"tier"`
	Policy     string `json:"policy"`
	Rule       int    `json:"rule"`
	RuleAction string `json:"ruleAction,omitempty"`
	Logged     bool   `json:"logged,omitempty"`
	Incomplete bool   `json:"incomplete"`
	Certain    bool   `json:"certain"`
	Missing    string `json:"missing,omitempty"`
	Unknown    string `json:"unknown,omitempty"`
}

type jsonFlow struct {
	Index   int           `json:"index"`
	Verdict string        `json:"verdict"`
	Egress  *jsonDecision `json:"egress"`
	Ingress *jsonDecision `json:"ingress"`
	Policy  *string       `json:"policy"`
	Tier    *string       `json:"tier"`
	Rule    *int          `json:"rule"`
}

type jsonSource struct {
	Workload string            `json:"workload"`
	Labels   map[string]string `json:"labels"`
}

type jsonProbe struct {
	Namespace   string        `json:"namespace"`
	Kind        string        `json:"kind"`
	Destination string        `json:"destination"`
	Source      jsonSource    `json:"source"`
	Why         []string      `json:"why"`
	Verdict     string        `json:"verdict"`
	Egress      *jsonDecision `json:"egress"`
	Policy      *string       `json:"policy"`
	Tier        *string       `json:"tier"`
	Rule        *int          `json:"rule"`
	Reason      string        `json:"reason,omitempty"`
	Hint        string        `json:"hint,omitempty"`
}

type jsonProblem struct {
	File     string `json:"file"`
	Doc      int    `json:"doc"`
	Line     int    `json:"line,omitempty"`
	Resource string `json:"resource,omitempty"`
	Kind     string `json:"kind,omitempty"`
	Name     string `json:"name,omitempty"`
	Field    string `json:"field,omitempty"`
	Message  string `json:"message"`
	Warning  bool   `json:"warning,omitempty"`
}

type jsonSummary struct {
	Summary
	WouldDenyIndex    []int         `json:"wouldDenyIndex"`
	NewlyAllowedIndex []int         `json:"newlyAllowedIndex"`
	UnknownIndex      []int         `json:"unknownIndex"`
	DNSAssumedIndex   []int         `json:"dnsAssumedIndex"`
	ProbedNamespaces  []string      `json:"probedNamespaces"`
	Assumptions       []string      `json:"assumptions"`
	PolicyProblems    []jsonProblem `json:"policyProblems"`
}

func decisionJSON(d *policy.Decision, egress bool) *jsonDecision {
	if !d.Evaluated {
		return nil
	}
	j := &jsonDecision{Action: d.Action.String(), Tier: d.Tier, Rule: d.RuleIndex, Logged: d.Logged,
		Incomplete: d.Incomplete, Certain: d.Certain()}
	if d.Policy != nil {
		j.Policy = d.Policy.Ref()
		j.RuleAction = d.Policy.RuleAction(egress, d.RuleIndex)
	} else {
		j.Policy = "Profile " + d.Profile
	}
	if d.Incomplete {
		j.Missing = d.Missing.String()
		if !d.Certain() {
			j.Unknown = Unknown(d, egress)
		}
	}
	return j
}

// deciding returns the top-level policy, tier and rule of a decision (nil
// when none).
func deciding(d *policy.Decision) (*string, *string, *int) {
	if d == nil || !d.Evaluated {
		return nil, nil, nil
	}
	pol := "Profile " + d.Profile
	if d.Policy != nil {
		pol = d.Policy.Ref()
	}
	tier, rule := d.Tier, d.RuleIndex
	return &pol, &tier, &rule
}

// WriteJSON writes the report as one JSON document: {"flows": [...],
// "probes": [...], "summary": {...}}. flows holds every record kept
// (Config.KeepFlows), flows[i] being the record with index i; it is
// written one record at a time.
func WriteJSON(w io.Writer, r *Report) error {
	nonNil := func(x []int) []int {
		if x == nil {
			return []int{}
		}
		return x
	}
	s := jsonSummary{Summary: r.Summary, WouldDenyIndex: nonNil(r.indexes[StatusWouldDeny]), NewlyAllowedIndex: nonNil(r.indexes[StatusNewlyAllowed]),
		UnknownIndex: nonNil(r.indexes[StatusUnknown]), DNSAssumedIndex: nonNil(r.indexes["dns"]), ProbedNamespaces: []string{},
		Assumptions: append([]string{}, r.Assumptions...), PolicyProblems: []jsonProblem{}}
	probes := make([]jsonProbe, len(r.Probes))
	for i := range r.Probes {
		p := &r.Probes[i]
		jp := jsonProbe{Namespace: p.Namespace, Kind: p.Kind, Destination: p.Destination,
			Source: jsonSource{Workload: p.Workload, Labels: p.Labels}, Why: p.Why, Verdict: p.Verdict,
			Egress: decisionJSON(&p.Egress, true), Reason: p.Reason, Hint: p.Hint}
		jp.Policy, jp.Tier, jp.Rule = deciding(&p.Egress)
		if jp.Source.Labels == nil {
			jp.Source.Labels = map[string]string{}
		}
		probes[i] = jp
		if n := len(s.ProbedNamespaces); n == 0 || s.ProbedNamespaces[n-1] != p.Namespace {
			s.ProbedNamespaces = append(s.ProbedNamespaces, p.Namespace)
		}
	}
	for _, p := range r.Problems {
		s.PolicyProblems = append(s.PolicyProblems, jsonProblem{File: p.File, Doc: p.Doc, Line: p.Line, Resource: p.Resource,
			Kind: p.Kind, Name: p.Name, Field: p.Field, Message: p.Msg, Warning: p.Warning})
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	indent := func(v any, prefix string) ([]byte, error) {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetIndent(prefix, "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return nil, err
		}
		return bytes.TrimRight(b.Bytes(), "\n"), nil
	}
	bw.WriteString("{\n  \"flows\": [")
	for i := range r.Flows {
		f := &r.Flows[i]
		jf := jsonFlow{Index: f.Index, Verdict: f.Verdict, Egress: decisionJSON(&f.Egress, true), Ingress: decisionJSON(&f.Ingress, false)}
		jf.Policy, jf.Tier, jf.Rule = deciding(f.Decision())
		b, err := indent(jf, "    ")
		if err != nil {
			return err
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n    ")
		bw.Write(b)
	}
	if len(r.Flows) > 0 {
		bw.WriteString("\n  ")
	}
	bw.WriteString("],\n  \"probes\": ")
	b, err := indent(probes, "  ")
	if err != nil {
		return err
	}
	bw.Write(b)
	bw.WriteString(",\n  \"summary\": ")
	if b, err = indent(s, "  "); err != nil {
		return err
	}
	bw.Write(b)
	bw.WriteString("\n}\n")
	return bw.Flush()
}

// --- text -------------------------------------------------------------------

func when(unix int64) string {
	if unix == 0 {
		return "-"
	}
	return time.Unix(unix, 0).UTC().Format(time.RFC3339)
}

func (g *Group) decisionLine() string {
	switch g.Status {
	case StatusUnknown:
		return "unknown: " + g.Why
	}
	d := &g.Decision
	verb := "allowed"
	if g.Verdict == VerdictDeny {
		verb = "denied"
	}
	if g.Deciding == "" {
		return verb + ": neither side is a workload or host endpoint"
	}
	return fmt.Sprintf("%s (%s) by %s", verb, g.Deciding, decisionText(d, g.Deciding == "egress"))
}

func (g *Group) dnsNote() string {
	if !g.DNS {
		return ""
	}
	var a []string
	for _, x := range g.DNSAddrs {
		a = append(a, x.String())
	}
	return "evaluated as DNS to " + strings.Join(a, ", ") + " (dns.assumeNetworkPort53IsDNS)"
}

func indexes(ix []int, total int) string {
	parts := make([]string, len(ix))
	for i, x := range ix {
		parts[i] = fmt.Sprintf("#%d", x)
	}
	s := strings.Join(parts, ", ")
	if total > len(ix) {
		s += ", ..."
	}
	return s
}

func (r *Report) groupsWith(status string) ([]*Group, int) {
	var out []*Group
	n := 0
	for _, g := range r.Groups {
		if g.Status == status {
			out = append(out, g)
			n += g.Records
		}
	}
	return out, n
}

// WriteText writes a readable report: policy-file errors, then the
// problems (would-deny flows, probes that got through), unknown verdicts,
// newly allowed flows, the probes, the assumptions and the counts.
func WriteText(w io.Writer, r *Report) error {
	var b strings.Builder
	s := &r.Summary
	fmt.Fprintf(&b, "calico-plan check: %s against %s from %s; %s in %s\n",
		output.Plural(s.Flows, "flow record"), output.Plural(s.Policies, "policy"), output.Plural(s.PolicyFiles, "file"), output.Plural(s.Probes, "probe"), output.Plural(probedNamespaces(r), "namespace"))
	if s.PolicyErrors+s.PolicyWarnings > 0 {
		fmt.Fprintf(&b, "\nPOLICY FILES: %s, %s (objects with errors are left out; the rest is evaluated)\n", output.Plural(s.PolicyErrors, "error"), output.Plural(s.PolicyWarnings, "warning"))
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "  %s\n", p.String())
		}
	}
	section := func(title, status string) {
		gs, n := r.groupsWith(status)
		if len(gs) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n%s (%s in %s)\n", title, output.Plural(n, "record"), output.Plural(len(gs), "group"))
		for i, g := range gs {
			if i == maxGroups {
				fmt.Fprintf(&b, "  ... %d more groups (see -o json)\n", len(gs)-maxGroups)
				break
			}
			fmt.Fprintf(&b, "  %s -> %s %s: %d records (%d flows), last seen %s\n", g.Source, g.Dest, g.Port, g.Records, g.Flows, when(g.LastSeen))
			fmt.Fprintf(&b, "      %s\n", g.decisionLine())
			if note := g.dnsNote(); note != "" {
				fmt.Fprintf(&b, "      %s\n", note)
			}
			fmt.Fprintf(&b, "      records %s\n", indexes(g.Indexes, g.Records))
		}
	}
	section("WOULD DENY: observed allowed traffic the policies deny", StatusWouldDeny)
	if allowed := r.allowedProbes(); len(allowed) > 0 {
		fmt.Fprintf(&b, "\nPROBES ALLOWED: egress the policies should deny gets through (%d probes)\n", s.ProbesAllowed)
		for _, pg := range allowed {
			fmt.Fprintf(&b, "  %s: %s from %s\n      %s\n", pg.namespace, strings.Join(pg.probes, ", "), pg.workload, pg.by)
			if pg.hint != "" {
				fmt.Fprintf(&b, "      hint: %s\n", pg.hint)
			}
		}
	}
	section("UNKNOWN: the policies' verdict cannot be decided from the flow", StatusUnknown)
	if s.AllowAll > 0 {
		fmt.Fprintf(&b, "\nALLOW-ALL: traffic denied today that an allow-all rule would let through (%s)\n", output.Plural(s.AllowAll, "record"))
		for _, g := range r.Groups {
			if g.Status == StatusNewlyAllowed && g.AllowAll() {
				fmt.Fprintf(&b, "  %s -> %s %s: %d records (%d flows), last seen %s\n      %s\n", g.Source, g.Dest, g.Port, g.Records, g.Flows, when(g.LastSeen), g.decisionLine())
			}
		}
		b.WriteString("      an allow-all policy (an observe policy's Log+Allow) selects these namespaces, and the policy that denies this today is not in the set: check with the cluster's existing policies (check --cluster FILE --existing), or narrow the allow-all policy\n")
	}
	section("NEWLY ALLOWED (informational): observed denied traffic the policies allow", StatusNewlyAllowed)
	if len(r.Probes) > 0 {
		fmt.Fprintf(&b, "\nPROBES: unobserved egress from every namespace the policies lock down must be denied\n")
		for _, ns := range probeNamespaces(r) {
			var parts []string
			var why []string
			for i := range r.Probes {
				p := &r.Probes[i]
				if p.Namespace != ns {
					continue
				}
				why = p.Why
				parts = append(parts, fmt.Sprintf("%s %s", p.Kind, probeWord(p)))
			}
			fmt.Fprintf(&b, "  %s: %s (%s)\n", ns, strings.Join(parts, ", "), strings.Join(why, "; "))
		}
	} else {
		fmt.Fprintf(&b, "\nPROBES: no namespace is locked down by these policies (no policy that can deny selects a namespace's pods for egress)\n")
	}
	if len(r.Assumptions) > 0 {
		fmt.Fprintf(&b, "\nASSUMPTIONS\n")
		for _, a := range r.Assumptions {
			fmt.Fprintf(&b, "  - %s\n", a)
		}
	}
	if s.BadRecords > 0 {
		fmt.Fprintf(&b, "\n%d bad flow records were skipped (not valid records, not indexed)\n", s.BadRecords)
	}
	fmt.Fprintf(&b, "\nSUMMARY: %d records (%d observed allowed, %d denied): %d would-deny, %d unknown, %d newly allowed; probes: %d denied, %d allowed, %d unknown; %d problems: %s (exit %d)\n",
		s.Flows, s.ObservedAllowed, s.ObservedDenied, s.WouldDeny, s.Unknown, s.NewlyAllowed,
		s.Probes-s.ProbesAllowed-s.ProbesUnknown, s.ProbesAllowed, s.ProbesUnknown, s.Problems, s.Result, s.ExitCode)
	_, err := io.WriteString(w, b.String())
	return err
}

type probeGroup struct {
	namespace, workload, by, hint string
	probes                        []string
}

// allowedProbes groups the probes that got through by namespace and what
// let them through.
func (r *Report) allowedProbes() []*probeGroup {
	var out []*probeGroup
	for i := range r.Probes {
		p := &r.Probes[i]
		if p.Verdict != VerdictAllow {
			continue
		}
		by := probeSummary(p)
		if n := len(out); n > 0 && out[n-1].namespace == p.Namespace && out[n-1].by == by {
			out[n-1].probes = append(out[n-1].probes, p.Kind+" "+p.Destination)
			continue
		}
		out = append(out, &probeGroup{namespace: p.Namespace, workload: workloadName(p), by: by, hint: p.Hint, probes: []string{p.Kind + " " + p.Destination}})
	}
	return out
}

func probeWord(p *ProbeResult) string {
	switch p.Verdict {
	case VerdictAllow:
		return "ALLOWED"
	case VerdictUnknown:
		return "unknown"
	}
	return "denied"
}

func workloadName(p *ProbeResult) string {
	if p.Workload == "" {
		return "a pod without labels"
	}
	return p.Workload
}

func probeNamespaces(r *Report) []string {
	var out []string
	for _, p := range r.Probes {
		if n := len(out); n == 0 || out[n-1] != p.Namespace {
			out = append(out, p.Namespace)
		}
	}
	return out
}

func probedNamespaces(r *Report) int { return len(probeNamespaces(r)) }

// --- Markdown ---------------------------------------------------------------

// WriteMarkdown writes a pull-request comment: a verdict line, the counts,
// the problems, then the rest collapsed.
func WriteMarkdown(w io.Writer, r *Report) error {
	var b strings.Builder
	s := &r.Summary
	switch s.ExitCode {
	case ExitOK:
		b.WriteString("### calico-plan check: no problems\n\n")
	case ExitProblems:
		fmt.Fprintf(&b, "### calico-plan check: %d problems\n\n", s.Problems)
	default:
		fmt.Fprintf(&b, "### calico-plan check: error (%d policy file errors)\n\n", s.PolicyErrors)
	}
	fmt.Fprintf(&b, "%s replayed against %s from %s; %s in %s.\n\n",
		output.Plural(s.Flows, "flow record"), output.Plural(s.Policies, "policy"), output.Plural(s.PolicyFiles, "file"), output.Plural(s.Probes, "probe"), output.Plural(probedNamespaces(r), "namespace"))
	b.WriteString("| check | count |\n|---|---|\n")
	fmt.Fprintf(&b, "| observed allowed traffic the policies deny | %d |\n", s.WouldDeny)
	fmt.Fprintf(&b, "| probes that got through | %d |\n", s.ProbesAllowed)
	fmt.Fprintf(&b, "| unknown verdicts | %d |\n", s.Unknown+s.ProbesUnknown)
	fmt.Fprintf(&b, "| observed denied traffic the policies allow | %d |\n", s.NewlyAllowed)
	if s.AllowAll > 0 {
		fmt.Fprintf(&b, "| of which an allow-all rule lets through (a problem) | %d |\n", s.AllowAll)
	}
	fmt.Fprintf(&b, "| policy file errors / warnings | %d / %d |\n\n", s.PolicyErrors, s.PolicyWarnings)
	if len(r.Problems) > 0 {
		b.WriteString("#### Policy files\n\n")
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "- %s\n", output.MDEscape(p.String()))
		}
		b.WriteString("\n")
	}
	table := func(gs []*Group) {
		b.WriteString("| source | destination | port | records | flows | last seen | verdict |\n|---|---|---|---|---|---|---|\n")
		for i, g := range gs {
			if i == maxGroups {
				fmt.Fprintf(&b, "| … %d more groups (see `-o json`) | | | | | | |\n", len(gs)-maxGroups)
				break
			}
			line := g.decisionLine()
			if note := g.dnsNote(); note != "" {
				line += "; " + note
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %d | %s | %s |\n", output.MDEscape(g.Source), output.MDEscape(g.Dest), output.MDEscape(g.Port), g.Records, g.Flows, when(g.LastSeen), output.MDEscape(line))
		}
		b.WriteString("\n")
	}
	collapsed := func(title, status string) {
		gs, n := r.groupsWith(status)
		if len(gs) == 0 {
			return
		}
		fmt.Fprintf(&b, "<details><summary>%s: %s in %s</summary>\n\n", title, output.Plural(n, "record"), output.Plural(len(gs), "group"))
		table(gs)
		b.WriteString("</details>\n\n")
	}
	if gs, n := r.groupsWith(StatusWouldDeny); len(gs) > 0 {
		fmt.Fprintf(&b, "#### Observed allowed traffic the policies would deny (%d records)\n\n", n)
		table(gs)
	}
	if allowed := r.allowedProbes(); len(allowed) > 0 {
		b.WriteString("#### Probes that got through\n\nUnobserved egress from a namespace these policies lock down should be denied.\n\n")
		b.WriteString("| namespace | probes | from | allowed by |\n|---|---|---|---|\n")
		var hints []string
		for _, pg := range allowed {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", output.MDEscape(pg.namespace), output.MDEscape(strings.Join(pg.probes, ", ")), output.MDEscape(pg.workload), output.MDEscape(pg.by))
			if pg.hint != "" && (len(hints) == 0 || hints[len(hints)-1] != pg.hint) {
				hints = append(hints, pg.hint)
			}
		}
		b.WriteString("\n")
		for _, h := range hints {
			fmt.Fprintf(&b, "> %s\n\n", output.MDEscape(h))
		}
	}
	collapsed("Unknown verdicts", StatusUnknown)
	collapsed("Observed denied traffic the policies would allow", StatusNewlyAllowed)
	if len(r.Probes) > 0 {
		fmt.Fprintf(&b, "<details><summary>Probes: %d</summary>\n\n| namespace | public | private | pod | locked down by |\n|---|---|---|---|---|\n", len(r.Probes))
		for _, ns := range probeNamespaces(r) {
			cells := map[string]string{}
			var why []string
			for i := range r.Probes {
				p := &r.Probes[i]
				if p.Namespace == ns {
					cells[p.Kind] = probeWord(p)
					why = p.Why
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", output.MDEscape(ns), cells[ProbePublic], cells[ProbePrivate], cells[ProbePod], output.MDEscape(strings.Join(why, "; ")))
		}
		b.WriteString("\n</details>\n\n")
	}
	if len(r.Assumptions) > 0 {
		b.WriteString("<details><summary>Assumptions</summary>\n\n")
		for _, a := range r.Assumptions {
			fmt.Fprintf(&b, "- %s\n", output.MDEscape(a))
		}
		b.WriteString("\n</details>\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
