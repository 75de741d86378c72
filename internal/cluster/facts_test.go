package cluster

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCronJobMatchesWorkload(t *testing.T) {
	c := CronJob{Name: "nextcloud-backup"}
	for w, want := range map[string]bool{
		"nextcloud-backup-29391660-*":      true, // Calico name_aggr of a Job's pod
		"nextcloud-backup-29391660-x7k2p":  true, // a full pod name
		"nextcloud-backup-29391660":        true,
		"nextcloud-backup-*":               false, // not a Job of this CronJob (a Deployment named like it)
		"nextcloud-backup-7d9c8f5b6-*":     false, // ReplicaSet hash, not Unix minutes
		"nextcloud-7c6d5-*":                false,
		"nextcloud-backup-full-29391660-*": false, // another CronJob's Jobs
	} {
		require.Equal(t, want, c.MatchesWorkload(w), w)
	}
}

func TestCronJobRuns(t *testing.T) {
	from := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) // a Monday
	to := from.Add(5 * 24 * time.Hour)
	for _, tc := range []struct {
		schedule  string
		max, want int
	}{
		{"0 3 * * 0", 0, 0},    // Sundays only: none from Monday to Saturday
		{"*/30 * * * *", 2, 2}, // bounded by max
		{"@weekly", 0, 0},      // Sunday midnight
		{"@daily", 0, 6},       // 23..28 Nov at 00:00, both ends included
	} {
		runs, err := CronJob{Schedule: tc.schedule}.Runs(from, to, tc.max)
		require.NoError(t, err)
		require.Len(t, runs, tc.want, tc.schedule)
	}
	// A time zone moves the runs: 03:00 in New York is 08:00 UTC (EST).
	runs, err := CronJob{Schedule: "0 3 * * *", TimeZone: "America/New_York"}.Runs(from, from.Add(24*time.Hour), 0)
	require.NoError(t, err)
	require.Equal(t, []time.Time{time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)}, runs)

	second, err := CronJob{Schedule: "0 3 * * 0"}.NthRunAfter(from, 2)
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC), second)
}

func TestParseScheduleErrors(t *testing.T) {
	_, err := ParseSchedule("0 3 * *", "")
	require.ErrorContains(t, err, `schedule "0 3 * *"`)
	_, err = ParseSchedule("0 3 * * *", "Mars/Olympus")
	require.ErrorContains(t, err, `timeZone "Mars/Olympus": unknown time zone`)
	_, err = ParseSchedule("CRON_TZ=UTC 0 3 * * *", "Europe/London")
	require.ErrorContains(t, err, "not allowed together with timeZone")
}

func TestFromNamespaceLabels(t *testing.T) {
	f := FromNamespaceLabels(NamespaceLabels{"b": {"tier": "4-aux"}, "a": {}}, "namespaces ns.yaml")
	require.Equal(t, []string{"a", "b"}, f.NamespaceLabels().Names())
	ok, reason := f.HasCronJobFacts()
	require.False(t, ok)
	require.Equal(t, NoCronJobFacts, reason)
	var nilFacts *Facts
	ok, reason = nilFacts.HasCronJobFacts()
	require.False(t, ok)
	require.Equal(t, "no CronJob facts: pass --cluster or a kubeconfig", reason)
}
