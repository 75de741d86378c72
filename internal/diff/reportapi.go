package diff

// The sentences the text and Markdown reports use, for other reports
// (calico-plan report) that present a diff beside other results: one
// wording everywhere.

// Headline is the report's one-line summary ("2 namespaces changed: ...").
func (r *Report) Headline() string { return r.headline() }

// RemovedNote is the traffic the i-th removal would cut ("412 flows, last
// seen 2026-11-27, 14 days — this change would cut them"), with the
// namespace's weighting (a namespace whose new stage enforces nothing cuts
// no traffic); "" for a non-Allow rule.
func (n *NamespaceDiff) RemovedNote(i int) string { return removedNote(&n.Removed[i], n.DropsNothing) }

// AddedNote is the traffic that justifies the i-th addition; "" for a
// non-Allow rule.
func (n *NamespaceDiff) AddedNote(i int) string { return addedNote(&n.Added[i]) }

// StageNote describes the namespace's stage change ("" when none).
func (n *NamespaceDiff) StageNote() string {
	if n.Stage == nil {
		return ""
	}
	return n.Stage.From + " -> " + n.Stage.To + ": " + stageNote(n.Stage)
}

// NamespaceName is how the reports name a namespace diff's namespace
// ("(cluster-scoped)" for cluster-scoped objects).
func NamespaceName(ns string) string { return nsName(ns) }
