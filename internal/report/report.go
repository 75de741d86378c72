// Package report is the pull-request report: the semantic diff of the
// egress policies, the check of the proposed policies against recorded
// traffic, the egress graph of what changes and the wave plan, in one
// document. One model (Build) is written as Markdown (a forge comment, the
// graph as a mermaid block) and as a self-contained HTML page (inline CSS,
// the graph as inline SVG and a table; no script, no external URL).
//
// Every value that comes from a store, a flow log or a policy file is
// escaped by the writer: Markdown with output.MDEscape and the graph's
// Mermaid escapes, HTML with html/template.
package report

import (
	"fmt"
	"strings"

	"github.com/calico-plan/calico-plan/internal/check"
	"github.com/calico-plan/calico-plan/internal/diff"
	"github.com/calico-plan/calico-plan/internal/graph"
	"github.com/calico-plan/calico-plan/internal/output"
	"github.com/calico-plan/calico-plan/internal/rollout"
)

// Exit codes of a report: the worst of its parts.
const (
	ExitOK       = 0 // no changes, no problems
	ExitError    = 1 // diff or check error (the report is still written)
	ExitChanges  = 2 // changes, and check found no problems (or did not run)
	ExitProblems = 3 // check found problems, whatever the diff
)

// Input is what a report is built from. Diff is required; the rest may be
// nil, with the reason in the matching Note.
type Input struct {
	// Title names the change ("allowlists at origin/main → now").
	Title string
	Diff  *diff.Report
	Check *check.Report
	// CheckNote says what the check replayed (or why it did not run).
	CheckNote string
	Plan      *rollout.Plan
	PlanNote  string
	// Graph is the egress of the namespaces the change touches, edges
	// marked with ChangeGraph's kinds when both sides were known.
	Graph     *graph.Graph
	GraphNote string
}

// Report is the model both writers present.
type Report struct {
	Title    string
	Result   string
	ExitCode int
	// Summary is one row per part, linking to its section.
	Summary []SummaryRow
	Diff    DiffSection
	Check   CheckSection
	Graph   GraphSection
	Waves   WavesSection
}

// Status of a summary row.
const (
	StatusOK      = "ok"
	StatusChanges = "changes"
	StatusProblem = "problem"
	StatusSkipped = "skipped"
)

// SummaryRow is one part of the report in the summary table.
type SummaryRow struct {
	Part, Status, Text, Anchor string
}

// DiffSection is the semantic diff.
type DiffSection struct {
	Headline, Old, New, Flavor, Result string
	ExitCode                           int
	Namespaces                         []DiffNamespace
	Errors, Notes                      []string
}

// DiffNamespace is the diff of one namespace.
type DiffNamespace struct {
	Name, Anchor    string
	Added, Removed  int
	FlowsCut        int64
	Policies, Title string
	Lines           []DiffLine
}

// Line kinds of a namespace diff.
const (
	LinePolicy  = "policy"
	LineRemoved = "removed"
	LineAdded   = "added"
)

// DiffLine is a policy change, a removal or an addition.
type DiffLine struct {
	Kind, Text, Note string
}

// CheckSection is the replay of recorded traffic.
type CheckSection struct {
	Ran bool
	// Note says what was replayed, or why the check did not run.
	Note, Headline, Intro string
	ExitCode              int
	Counts                []Count
	PolicyProblems        []string
	// Tables are the flow groups: would-deny first (open), then unknown
	// and newly allowed (collapsed).
	Tables        []FlowTable
	ProbesAllowed []ProbeRow
	Hints         []string
	Probes        []ProbeNamespace
	Assumptions   []string
}

// Count is one line of the check's counts.
type Count struct {
	Label   string
	Value   string
	Problem bool
}

// FlowTable is the groups of one status.
type FlowTable struct {
	Title, Anchor string
	Open          bool
	Records       int
	Rows          []FlowRow
	// More counts the groups left out (see check -o json).
	More int
}

// FlowRow is one group of flow records.
type FlowRow struct {
	Source, Dest, Port string
	Records            int
	Flows              int64
	LastSeen, Verdict  string
}

// ProbeRow is probes of one namespace that got through.
type ProbeRow struct {
	Namespace, Probes, From, By string
}

// ProbeNamespace is the probes of one namespace.
type ProbeNamespace struct {
	Namespace, Public, Private, Pod, Why string
}

// GraphSection is the egress graph of what changes.
type GraphSection struct {
	Note  string
	Graph *graph.Graph
	// Edges are the graph's edges for the table, with names resolved.
	Edges []GraphEdge
	// Legend lists the edge kinds present.
	Legend []string
}

// GraphEdge is an edge with its end points' labels.
type GraphEdge struct {
	From, To, Kind, Ports, Detail string
	Flows                         int64
}

// WavesSection is the rollout plan, with the waves the change touches
// first in the summary.
type WavesSection struct {
	Ran     bool
	Note    string
	Intro   string
	Touched []int // wave numbers holding a namespace the diff changes
	Waves   []WaveView
	Outside []ListedView
	Notes   []string
	Changed map[string]bool
}

// WaveView is one wave.
type WaveView struct {
	Number     int
	Anchor     string
	Tier       string
	Pinned     bool
	Touched    bool
	Namespaces []WaveNamespace
}

// WaveNamespace is one namespace of a wave.
type WaveNamespace struct {
	Name, Stage, State string
	Peers              int
	Gates              []string
	Next               string
	Changed            bool
}

// ListedView is a namespace outside the waves.
type ListedView struct {
	Section, Name, Tier, Stage, Reason string
	Changed                            bool
}

// Build makes the model. It does not change the inputs.
func Build(in Input) *Report {
	r := &Report{Title: in.Title}
	changed := map[string]bool{}
	if in.Diff != nil {
		r.Diff = diffSection(in.Diff)
		for _, d := range in.Diff.Namespaces {
			if d.Namespace != "" {
				changed[d.Namespace] = true
			}
		}
	}
	r.Check = checkSection(in.Check, in.CheckNote)
	r.Graph = graphSection(in.Graph, in.GraphNote)
	r.Waves = wavesSection(in.Plan, in.PlanNote, changed)

	// The result: the worst part.
	diffCode, checkCode := r.Diff.ExitCode, r.Check.ExitCode
	switch {
	case diffCode == diff.ExitError || checkCode == check.ExitError:
		r.ExitCode, r.Result = ExitError, "error"
	case checkCode == check.ExitProblems:
		r.ExitCode, r.Result = ExitProblems, "problems"
	case diffCode == diff.ExitChanges:
		r.ExitCode, r.Result = ExitChanges, "changes"
	default:
		r.ExitCode, r.Result = ExitOK, "no changes"
	}
	if !r.Check.Ran && r.ExitCode != ExitError {
		r.Result += " (not checked)"
	} else if r.Check.Ran && r.ExitCode == ExitChanges {
		r.Result += ", no problems"
	}

	st := StatusOK
	switch r.Diff.ExitCode {
	case diff.ExitError:
		st = StatusProblem
	case diff.ExitChanges:
		st = StatusChanges
	}
	r.Summary = append(r.Summary, SummaryRow{Part: "diff", Status: st, Text: r.Diff.Headline, Anchor: "diff"})
	st = StatusOK
	switch {
	case !r.Check.Ran:
		st = StatusSkipped
	case r.Check.ExitCode != 0:
		st = StatusProblem
	}
	text := r.Check.Headline
	if !r.Check.Ran {
		text = r.Check.Note
	}
	r.Summary = append(r.Summary, SummaryRow{Part: "check", Status: st, Text: text, Anchor: "check"})
	gtext := fmt.Sprintf("%s, %s", output.Plural(countNS(r.Graph.Graph), "namespace"), output.Plural(len(r.Graph.Edges), "edge"))
	st = StatusOK
	if r.Graph.Graph == nil {
		st, gtext = StatusSkipped, r.Graph.Note
	}
	r.Summary = append(r.Summary, SummaryRow{Part: "graph", Status: st, Text: gtext, Anchor: "graph"})
	st, wtext := StatusOK, r.Waves.Note
	if !r.Waves.Ran {
		st = StatusSkipped
	} else {
		wtext = output.Plural(len(r.Waves.Waves), "wave")
		if len(r.Waves.Touched) > 0 {
			nums := make([]string, len(r.Waves.Touched))
			for i, n := range r.Waves.Touched {
				nums[i] = fmt.Sprint(n)
			}
			wtext += "; the change touches wave " + strings.Join(nums, ", ")
		} else {
			wtext += "; the change touches no scheduled wave"
		}
	}
	r.Summary = append(r.Summary, SummaryRow{Part: "waves", Status: st, Text: wtext, Anchor: "waves"})
	return r
}

func diffSection(d *diff.Report) DiffSection {
	s := DiffSection{Headline: d.Headline(), Old: d.Old, New: d.New, Flavor: d.Flavor, Result: d.Summary.Result,
		ExitCode: d.Summary.ExitCode, Errors: d.Errors, Notes: d.Notes}
	for i := range d.Namespaces {
		n := &d.Namespaces[i]
		v := DiffNamespace{Name: diff.NamespaceName(n.Namespace), Anchor: fmt.Sprintf("diff-%d", i+1),
			Added: len(n.Added), Removed: len(n.Removed), FlowsCut: n.FlowsCut}
		v.Title = fmt.Sprintf("%s: +%d −%d", v.Name, v.Added, v.Removed)
		if n.FlowsCut > 0 {
			v.Title += fmt.Sprintf(", removals affect %d flows", n.FlowsCut)
		}
		for _, p := range n.Policies {
			v.Lines = append(v.Lines, DiffLine{Kind: LinePolicy, Text: "policy " + p.Policy + ": " + p.Change})
		}
		for j := range n.Removed {
			v.Lines = append(v.Lines, DiffLine{Kind: LineRemoved, Text: n.Removed[j].Text, Note: n.RemovedNote(j)})
		}
		for j := range n.Added {
			v.Lines = append(v.Lines, DiffLine{Kind: LineAdded, Text: n.Added[j].Text, Note: n.AddedNote(j)})
		}
		for _, e := range n.Errors {
			v.Lines = append(v.Lines, DiffLine{Kind: LinePolicy, Text: "error: " + e})
		}
		s.Namespaces = append(s.Namespaces, v)
	}
	return s
}

func checkSection(r *check.Report, note string) CheckSection {
	s := CheckSection{Note: note}
	if r == nil {
		return s
	}
	s.Ran = true
	sum := &r.Summary
	s.ExitCode = sum.ExitCode
	switch sum.ExitCode {
	case check.ExitOK:
		s.Headline = "no problems"
	case check.ExitProblems:
		s.Headline = output.Plural(sum.Problems, "problem")
	default:
		s.Headline = fmt.Sprintf("error (%s)", output.Plural(sum.PolicyErrors, "policy file error"))
	}
	s.Intro = fmt.Sprintf("%s replayed against %s from %s; %s in %s.", output.Plural(sum.Flows, "flow record"), output.Plural(sum.Policies, "policy"),
		output.Plural(sum.PolicyFiles, "file"), output.Plural(sum.Probes, "probe"), output.Plural(len(r.ProbedNamespaces()), "namespace"))
	s.Counts = []Count{
		{"observed allowed traffic the policies deny", fmt.Sprint(sum.WouldDeny), sum.WouldDeny > 0},
		{"probes that got through", fmt.Sprint(sum.ProbesAllowed), sum.ProbesAllowed > 0},
		{"unknown verdicts", fmt.Sprint(sum.Unknown + sum.ProbesUnknown), false},
		{"observed denied traffic the policies allow", fmt.Sprint(sum.NewlyAllowed), false},
		{"policy file errors / warnings", fmt.Sprintf("%d / %d", sum.PolicyErrors, sum.PolicyWarnings), sum.PolicyErrors > 0},
	}
	if sum.BadRecords > 0 {
		s.Counts = append(s.Counts, Count{"bad flow records skipped", fmt.Sprint(sum.BadRecords), false})
	}
	for _, p := range r.Problems {
		s.PolicyProblems = append(s.PolicyProblems, p.String())
	}
	for _, t := range []struct {
		title, status, anchor string
		open                  bool
	}{
		{"Observed allowed traffic the policies would deny", check.StatusWouldDeny, "check-would-deny", true},
		{"Unknown verdicts", check.StatusUnknown, "check-unknown", false},
		{"Observed denied traffic the policies would allow", check.StatusNewlyAllowed, "check-newly-allowed", false},
	} {
		gs, n := r.GroupsWith(t.status)
		if len(gs) == 0 {
			continue
		}
		ft := FlowTable{Title: t.title, Anchor: t.anchor, Open: t.open, Records: n}
		for i, g := range gs {
			if i == check.MaxGroups {
				ft.More = len(gs) - i
				break
			}
			ft.Rows = append(ft.Rows, FlowRow{Source: g.Source, Dest: g.Dest, Port: g.Port, Records: g.Records, Flows: g.Flows,
				LastSeen: when(g.LastSeen), Verdict: g.VerdictLine()})
		}
		s.Tables = append(s.Tables, ft)
	}
	for i := range r.Probes {
		p := &r.Probes[i]
		if p.Verdict != check.VerdictAllow {
			continue
		}
		by := p.OutcomeLine()
		probe := p.Kind + " " + p.Destination
		if n := len(s.ProbesAllowed); n > 0 && s.ProbesAllowed[n-1].Namespace == p.Namespace && s.ProbesAllowed[n-1].By == by {
			s.ProbesAllowed[n-1].Probes += ", " + probe
		} else {
			s.ProbesAllowed = append(s.ProbesAllowed, ProbeRow{Namespace: p.Namespace, Probes: probe, From: p.From(), By: by})
		}
		if p.Hint != "" && (len(s.Hints) == 0 || s.Hints[len(s.Hints)-1] != p.Hint) {
			s.Hints = append(s.Hints, p.Hint)
		}
	}
	for _, ns := range r.ProbedNamespaces() {
		pn := ProbeNamespace{Namespace: ns}
		for i := range r.Probes {
			p := &r.Probes[i]
			if p.Namespace != ns {
				continue
			}
			switch p.Kind {
			case check.ProbePublic:
				pn.Public = p.Outcome()
			case check.ProbePrivate:
				pn.Private = p.Outcome()
			case check.ProbePod:
				pn.Pod = p.Outcome()
			}
			pn.Why = strings.Join(p.Why, "; ")
		}
		s.Probes = append(s.Probes, pn)
	}
	s.Assumptions = r.Assumptions
	return s
}

func graphSection(g *graph.Graph, note string) GraphSection {
	s := GraphSection{Note: note, Graph: g}
	if g == nil {
		return s
	}
	labels := map[string]string{}
	for _, n := range g.Nodes {
		labels[n.ID] = n.Label
	}
	seen := map[string]bool{}
	for _, e := range g.Edges {
		s.Edges = append(s.Edges, GraphEdge{From: labels[e.From], To: labels[e.To], Kind: e.Kind, Ports: strings.Join(e.Ports, ", "),
			Detail: e.Detail, Flows: e.Flows})
		seen[e.Kind] = true
	}
	for _, k := range edgeKinds {
		if seen[k] {
			s.Legend = append(s.Legend, k)
		}
	}
	return s
}

func wavesSection(p *rollout.Plan, note string, changed map[string]bool) WavesSection {
	s := WavesSection{Note: note, Changed: changed}
	if p == nil {
		return s
	}
	s.Ran = true
	s.Intro = fmt.Sprintf("Judged at %s (the newest observed flow). Cluster facts: %s. At most %d namespaces per wave; tiers in rollout order: %s.",
		orDash(p.JudgedAt.String()), p.Facts, p.PerWave, orDash(strings.Join(p.Tiers, ", ")))
	for _, w := range p.Waves {
		v := WaveView{Number: w.Number, Anchor: fmt.Sprintf("wave-%d", w.Number), Tier: w.Tier, Pinned: w.Pinned}
		for _, n := range w.Namespaces {
			wn := WaveNamespace{Name: n.Name, Stage: n.Stage, State: n.State, Peers: n.Peers, Next: n.Next, Changed: changed[n.Name]}
			for _, g := range n.UnmetGates {
				wn.Gates = append(wn.Gates, g.ID+": "+g.Reason)
			}
			if wn.Changed {
				v.Touched = true
			}
			v.Namespaces = append(v.Namespaces, wn)
		}
		if v.Touched {
			s.Touched = append(s.Touched, w.Number)
		}
		s.Waves = append(s.Waves, v)
	}
	for _, sec := range []struct {
		name string
		l    []rollout.Listed
	}{{"deferred", p.Deferred}, {"excluded", p.Excluded}, {"unassigned", p.Unassigned}} {
		for _, l := range sec.l {
			s.Outside = append(s.Outside, ListedView{Section: sec.name, Name: l.Name, Tier: orDash(l.Tier), Stage: l.Stage, Reason: l.Reason, Changed: changed[l.Name]})
		}
	}
	s.Notes = p.Notes
	return s
}

func countNS(g *graph.Graph) int {
	if g == nil {
		return 0
	}
	n := 0
	for _, x := range g.Nodes {
		if x.Kind == graph.KindNamespace {
			n++
		}
	}
	return n
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
