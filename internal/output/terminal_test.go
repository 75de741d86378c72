package output

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestColorOnlyOnATerminalAndNeverWithNoColor(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	require.True(t, ColorEnabled(true, env(nil)))
	require.False(t, ColorEnabled(false, env(nil)), "not a terminal")
	require.False(t, ColorEnabled(true, env(map[string]string{"NO_COLOR": "1"})))
	require.False(t, ColorEnabled(true, env(map[string]string{"TERM": "dumb"})))
	got := Paint("a  Stable  Learning  Unstable", map[string]string{"Stable": Green, "Learning": Yellow})
	require.Equal(t, "a  "+Green+"Stable"+reset+"  "+Yellow+"Learning"+reset+"  Unstable", got)
}

func TestAgoAndWrap(t *testing.T) {
	ref := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	require.Equal(t, "3d ago", Ago(ref.Add(-72*time.Hour), ref))
	require.Equal(t, "5h ago", Ago(ref.Add(-5*time.Hour), ref))
	require.Equal(t, "in 2d", Ago(ref.Add(48*time.Hour), ref))
	require.Equal(t, "now", Ago(ref, ref))
	for _, l := range strings.Split(Wrap(strings.Repeat("word ", 50), 20, "  "), "\n") {
		require.LessOrEqual(t, len(l), 20)
	}
	tab := &Tab{Headers: []string{"A", "B"}}
	tab.Add("x", "one, two, three, four")
	tab.WrapColumns(12, []int{1}, []int{6})
	require.Equal(t, [][]string{{"x", "one, two,"}, {"", "three,"}, {"", "four"}}, tab.Rows)
}

func TestPlural(t *testing.T) {
	for want, got := range map[string]string{
		"1 source":       Plural(1, "source"),
		"0 sources":      Plural(0, "source"),
		"2 policies":     Plural(2, "policy"),
		"1 policy":       Plural(1, "policy"),
		"3 days":         Plural(3, "day"),
		"2 entries":      Plural(2, "entry"),
		"2 flow records": Plural(2, "flow record"),
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}
