// Package sharedtest locates the project's shared test data for tests: the
// folder `shared` next to the module root (`../shared` from the directory
// holding go.mod), with the real Calico records in `samples/` and the peer
// analyzers' truth tables in `peer-suites/`. Tests never name an absolute
// path. A folder that is absent makes the test skip, except under CI=true,
// where it fails the run: CI must not pass by skipping what it should test.
package sharedtest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Shared folders and the environment variables that override them.
const (
	Samples    = "samples"
	PeerSuites = "peer-suites"

	// SamplesEnv and PeerSuitesEnv name another folder to use instead, e.g.
	// the peer analyzers' full suites rather than the shared subset.
	SamplesEnv    = "CALICO_PLAN_SAMPLES"
	PeerSuitesEnv = "CALICO_PLAN_PEER_SUITES"
)

var envOf = map[string]string{Samples: SamplesEnv, PeerSuites: PeerSuitesEnv}

// ModuleRoot returns the directory holding go.mod, searched from the
// working directory upwards (go test runs in the package directory).
func ModuleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod in %s or any parent", wd)
		}
		dir = parent
	}
}

// Location returns where a shared folder (Samples, PeerSuites) is looked
// for: its environment override when set, else ../shared/<name> relative
// to the module root.
func Location(name string) (string, error) {
	if env := envOf[name]; env != "" {
		if d := os.Getenv(env); d != "" {
			return d, nil
		}
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(root), "shared", name), nil
}

// InCI reports whether the tests run in CI (CI=true, as CI systems set it).
func InCI() bool { return os.Getenv("CI") == "true" }

// Dir returns the shared folder name joined with more path elements. When
// that path does not exist the test is skipped, or failed under CI=true.
func Dir(tb testing.TB, name string, elem ...string) string {
	tb.Helper()
	p, ok := Lookup(tb, name, elem...)
	if !ok {
		tb.Skipf("shared test data %s is not available (set %s, or put the shared folder next to the module root); under CI=true this fails", p, envOf[name])
	}
	return p
}

// Lookup is Dir for optional data: it reports false instead of skipping
// when the path does not exist (and fails the test under CI=true).
func Lookup(tb testing.TB, name string, elem ...string) (string, bool) {
	tb.Helper()
	base, err := Location(name)
	if err != nil {
		tb.Fatalf("shared test data %s: %v", name, err)
		return "", false
	}
	p := filepath.Join(append([]string{base}, elem...)...)
	_, err = os.Stat(p)
	switch {
	case err == nil:
		return p, true
	case !errors.Is(err, fs.ErrNotExist):
		tb.Fatalf("shared test data: %v", err)
	case InCI():
		tb.Fatalf("shared test data %s is missing and CI=true: CI must run the tests that read it (set %s, or put the shared folder next to the module root)", p, envOf[name])
	}
	return p, false
}
