package yamldoc

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStartLines(t *testing.T) {
	for src, want := range map[string][]int{
		"":                             nil,
		"a: 1\n":                       {1},
		"---\na: 1\n":                  {2},
		"a: 1\n---\nb: 2\n":            {1, 3},
		"a: 1\n--- # c\n\nb: 2\n":      {1, 3},
		"a: 1\n---\n---\nb: 2":         {1, 4},
		"a: '---'\n----x: 1\n":         {1},
		"\n\na: 1\n---\n  \n---\nc: 3": {1, 5, 7},
	} {
		require.Equal(t, want, StartLines([]byte(src)), "%q", src)
	}
}

func TestLocate(t *testing.T) {
	line, msg := Locate(10, "parsing YAML: yaml: line 3: did not find expected key")
	require.Equal(t, 12, line)
	require.Equal(t, "parsing YAML: did not find expected key", msg)
	line, msg = Locate(10, "spec.selector: invalid selector")
	require.Equal(t, 10, line)
	require.Equal(t, "spec.selector: invalid selector", msg)
}
