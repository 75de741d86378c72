package demo

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/flows"
)

func collect(t *testing.T, opt Options) []flows.Flow {
	t.Helper()
	var out []flows.Flow
	require.NoError(t, Generate(opt, func(f *flows.Flow) error { out = append(out, *f); return nil }))
	return out
}

func TestGenerateDeterministic(t *testing.T) {
	a := collect(t, DefaultOptions())
	b := collect(t, DefaultOptions())
	require.Equal(t, a, b)
	require.Greater(t, len(a), 1000)
}

func TestGenerateShape(t *testing.T) {
	fs := collect(t, DefaultOptions())
	var dst, deny, cron, wouldDeny, withIP int
	opt := DefaultOptions()
	for _, f := range fs {
		require.GreaterOrEqual(t, f.Start, opt.Start.Unix())
		require.Greater(t, f.End, f.Start)
		if f.Reporter == flows.ReporterDst {
			dst++
			require.Equal(t, flows.EndpointWorkload, f.Dest.Type, "only pod-to-pod flows have dst copies")
		}
		if f.Action == flows.ActionDeny {
			deny++
		}
		if f.Source.NameAggr == "nextcloud-backup-29391660-*" && f.Dest.Port == 443 {
			cron++
		}
		if v, ok := flows.Verdict(f.Policies.Pending); ok && v.Action == flows.ActionDeny && v.Kind.Staged() {
			wouldDeny++
		}
		if f.Dest.IP.IsValid() {
			withIP++
		}
	}
	require.Greater(t, dst, 100)
	require.Greater(t, deny, 10)
	require.Equal(t, 2, cron, "weekly backup runs on the two Sundays of the window")
	require.Greater(t, wouldDeny, 0)
	require.Greater(t, withIP, 100)
}

func TestReplicasScale(t *testing.T) {
	opt := DefaultOptions()
	opt.Days = 1
	one := len(collect(t, opt))
	opt.Replicas = 3
	require.Equal(t, 3*one, len(collect(t, opt)))
	require.Len(t, Namespaces(opt), 3*len(Namespaces(DefaultOptions())))
}

// Since emits exactly the later windows of the whole run.
func TestGenerateSinceContinuesTheRun(t *testing.T) {
	opt := DefaultOptions()
	opt.Days = 16
	since := opt.Start.AddDate(0, 0, 14)
	var whole, later []flows.Flow
	require.NoError(t, Generate(opt, func(f *flows.Flow) error {
		if f.Start >= since.Unix() {
			whole = append(whole, *f)
		}
		return nil
	}))
	opt.Since = since
	require.NoError(t, Generate(opt, func(f *flows.Flow) error { later = append(later, *f); return nil }))
	require.NotEmpty(t, later)
	require.Equal(t, whole, later)
}
