package check

// The sentences the text and Markdown reports use, for other reports
// (calico-plan report) that present a check beside other results: one
// wording everywhere.

// VerdictLine states the group's verdict and what decided it ("denied
// (egress) by the end of tier ..."), with the DNS assumption when one was
// made.
func (g *Group) VerdictLine() string {
	line := g.decisionLine()
	if note := g.dnsNote(); note != "" {
		line += "; " + note
	}
	return line
}

// GroupsWith returns the groups of a status and the records they hold.
func (r *Report) GroupsWith(status string) ([]*Group, int) { return r.groupsWith(status) }

// Outcome is the probe's verdict as the reports show it: "ALLOWED",
// "denied" or "unknown".
func (p *ProbeResult) Outcome() string { return probeWord(p) }

// OutcomeLine states the probe's verdict and what decided it ("ALLOWED by
// ... rule 0 (Allow) in tier ...").
func (p *ProbeResult) OutcomeLine() string { return probeSummary(p) }

// From names the probe's representative pod.
func (p *ProbeResult) From() string { return workloadName(p) }

// ProbedNamespaces lists the namespaces probed, in probe order.
func (r *Report) ProbedNamespaces() []string { return probeNamespaces(r) }

// MaxGroups bounds the groups a report section lists.
const MaxGroups = maxGroups
