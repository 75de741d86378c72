package diff

// The sentences the text and Markdown reports use, for other reports
// (calico-plan report) that present a diff beside other results: one
// wording everywhere.

// Headline is the report's one-line summary ("2 namespaces changed: ...").
func (r *Report) Headline() string { return r.headline() }

// Note is the traffic behind a change: for a removal what it would cut
// ("412 flows, last seen 2026-11-27, 14 days — this change would cut
// them"), for an addition what justifies it; "" for a non-Allow rule.
func (c *Change) Note(removed bool) string {
	if removed {
		return removedNote(c, false)
	}
	return addedNote(c)
}

// RemovedNote is the note of the namespace's i-th removal, with the
// namespace's weighting (a namespace whose new stage enforces nothing cuts
// no traffic).
func (d *NamespaceDiff) RemovedNote(i int) string { return removedNote(&d.Removed[i], d.DropsNothing) }

// StageNote describes the namespace's stage change ("" when none).
func (d *NamespaceDiff) StageNote() string {
	if d.Stage == nil {
		return ""
	}
	return d.Stage.From + " -> " + d.Stage.To + ": " + stageNote(d.Stage)
}

// NamespaceName is how the reports name a namespace diff's namespace
// ("(cluster-scoped)" for cluster-scoped objects).
func NamespaceName(ns string) string { return nsName(ns) }
