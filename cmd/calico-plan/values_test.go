package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A record starting at -1 and one to TCP port 0 are bad records, reported
// with file, line and field, never evidence. Before, the first gave its
// namespace a day range from 1969 (the store could not even be read back)
// and the second became a TCP/* rule: every port.
func TestObserveImpossibleValuesAreBadRecords(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "generate", "--out", dir, "--gzip=false", "--days", "1")
	data, err := os.ReadFile(filepath.Join(dir, "flows.log"))
	require.NoError(t, err)
	ls := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var src string
	for _, l := range ls {
		if strings.Contains(l, `"reporter":"src"`) && strings.Contains(l, `"dest_port":443`) && strings.Contains(l, `"proto":"tcp"`) {
			src = l
			break
		}
	}
	require.NotEmpty(t, src)
	negative := regexp.MustCompile(`"start_time":\d+`).ReplaceAllString(src, `"start_time":-1`)
	port0 := strings.Replace(src, `"dest_port":443`, `"dest_port":0`, 1)
	bad := filepath.Join(dir, "bad.log")
	require.NoError(t, os.WriteFile(bad, []byte(strings.Join(append(ls, negative, port0), "\n")+"\n"), 0o644))

	strict := filepath.Join(dir, "strict")
	_, _, err = run(t, "", "observe", "--store", strict, "--from", bad, "--strict")
	require.ErrorContains(t, err, fmt.Sprintf("%s:%d:15: start_time: -1 is negative", bad, len(ls)+1))
	yamls, _ := filepath.Glob(filepath.Join(strict, "*.yaml"))
	require.Empty(t, yamls, "--strict leaves the store untouched")

	store := filepath.Join(dir, "allowlists")
	_, errs := mustRun(t, "observe", "--store", store, "--from", bad)
	require.Contains(t, errs, fmt.Sprintf("(enterprise, %d records", len(ls)))
	require.Contains(t, errs, "2 bad records skipped (bad value: 2)")
	require.Contains(t, errs, fmt.Sprintf("bad.log:%d:15: start_time: -1 is negative", len(ls)+1))
	require.Contains(t, errs, fmt.Sprintf("bad.log:%d:", len(ls)+2))
	require.Contains(t, errs, "dest_port: 0 on tcp")

	// The store reads back, holds no day before the data and no TCP/*.
	out, _ := mustRun(t, "status", "--store", store, "-o", "json")
	require.NotContains(t, out, "1969")
	require.NotContains(t, out, `"Stable"`)
	for name, content := range readDir(t, store) {
		require.NotContains(t, content, "1969", name)
		require.NotContains(t, content, "TCP/*", name)
	}

	// Same store as observing the clean file.
	clean := filepath.Join(dir, "clean")
	mustRun(t, "observe", "--store", clean, "--from", filepath.Join(dir, "flows.log"))
	a, b := readDir(t, store), readDir(t, clean)
	for name := range b {
		if name != "_store.yaml" {
			require.Equal(t, b[name], a[name], name)
		}
	}
}

// generate refuses to write records observe would reject.
func TestGenerateRefusesImpossibleRecords(t *testing.T) {
	_, _, err := run(t, "", "generate", "--out", t.TempDir(), "--start", "2010-01-01")
	require.ErrorContains(t, err, "--start 2010-01-01: flow logs lie between 2015-01-01 and 2100-01-01")
	_, _, err = run(t, "", "generate", "--out", t.TempDir(), "--interval", "3d")
	require.ErrorContains(t, err, "one flow-log record covers at most 2 days")
}
