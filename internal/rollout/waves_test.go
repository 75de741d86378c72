package rollout

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/internal/config"
)

func TestGoldenWavesMarkdown(t *testing.T) {
	p := config.Default()
	st := demoStore(t, p)
	plan := MakePlan(st, NewEnv(st, demoFacts(), 0), PlanOptions{})
	var buf bytes.Buffer
	require.NoError(t, plan.WriteMarkdown(&buf))
	golden := filepath.Join("testdata", "waves.md")
	if *update {
		require.NoError(t, os.WriteFile(golden, buf.Bytes(), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test ./internal/rollout -update")
	require.Equal(t, string(want), buf.String(), "golden %s differs; run go test ./internal/rollout -update and review the diff", golden)
}
