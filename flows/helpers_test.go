package flows

import (
	"bytes"
	"context"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/internal/sharedtest"
)

// samplePath returns a real Calico record file shared by the project
// (../shared/samples from the module root, or CALICO_PLAN_SAMPLES); tests
// that need it skip when it is absent, and fail under CI=true.
func samplePath(t testing.TB, name string) string {
	t.Helper()
	return sharedtest.Dir(t, sharedtest.Samples, name)
}

func sampleBytes(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(samplePath(t, name))
	require.NoError(t, err)
	return b
}

type decoded struct {
	flows []Flow
	st    Stats
	err   error
	// workers records which worker emitted each flow.
	workers map[int]int
}

// decodeReader runs Decode and copies every emitted flow.
func decodeReader(t testing.TB, r io.Reader, name string, opt Options) decoded {
	t.Helper()
	var mu sync.Mutex
	d := decoded{workers: map[int]int{}}
	d.st, d.err = Decode(context.Background(), r, name, opt, func(w int, f *Flow) error {
		mu.Lock()
		d.flows = append(d.flows, *f)
		d.workers[w]++
		mu.Unlock()
		return nil
	})
	return d
}

func decodeBytes(t testing.TB, data []byte, opt Options) decoded {
	t.Helper()
	return decodeReader(t, bytes.NewReader(data), "test", opt)
}

func decodeString(t testing.TB, s string, opt Options) decoded {
	t.Helper()
	return decodeBytes(t, []byte(s), opt)
}

// one decodes s, which must hold exactly one good record.
func one(t testing.TB, s string) Flow {
	t.Helper()
	d := decodeString(t, s, Options{})
	require.NoError(t, d.err)
	require.Zero(t, d.st.Bad, "problems: %v", d.st.Examples)
	require.Len(t, d.flows, 1)
	return d.flows[0]
}

// onlyProblem decodes s, which must hold exactly one bad record, and
// returns its problem.
func onlyProblem(t testing.TB, s string, opt Options) Problem {
	t.Helper()
	d := decodeString(t, s, opt)
	require.NoError(t, d.err)
	require.Empty(t, d.flows)
	require.EqualValues(t, 1, d.st.Bad)
	require.Len(t, d.st.Examples, 1)
	return d.st.Examples[0]
}

// sortedFlowKeys renders flows canonically for multiset comparison.
func sortedFlowKeys(fs []Flow) []string {
	out := make([]string, len(fs))
	for i := range fs {
		b, err := AppendEnterpriseJSON(nil, &fs[i])
		if err != nil {
			panic(err)
		}
		out[i] = string(b)
	}
	sort.Strings(out)
	return out
}

func hit(s string) PolicyHit {
	h, err := ParsePolicyHit(s)
	if err != nil {
		panic(err)
	}
	return h
}

func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }
