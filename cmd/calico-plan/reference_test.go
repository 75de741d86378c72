package main

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const referencePath = "../../docs/commands.md"

// commandReference is docs/commands.md: every command's --help, as the
// commands print it.
func commandReference(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(`# calico-plan command reference

<!-- Generated from the commands' own --help by 'make docs'. Do not edit:
     TestCommandReference fails when this file differs from what the commands
     print, and TestEveryExampleRuns runs every example below. -->

Every command's ` + "`--help`" + `, as printed by the commands themselves. The
[README](../README.md#commands) shows the workflow; this page is the reference.

`)
	cmds := commands()
	for _, c := range cmds {
		anchor := strings.ReplaceAll(c.CommandPath(), " ", "-")
		b.WriteString("- [`" + c.CommandPath() + "`](#" + anchor + ") — " + c.Short + "\n")
	}
	for _, c := range cmds {
		args := append(strings.Fields(c.CommandPath())[1:], "--help")
		out, _ := mustRun(t, args...)
		b.WriteString("\n## " + c.CommandPath() + "\n\n```text\n" + out + "```\n")
	}
	return b.String()
}

// The committed reference is what the commands print: regenerate it with
// 'make docs' when a command's help changes.
func TestCommandReference(t *testing.T) {
	got := commandReference(t)
	if *update {
		require.NoError(t, os.MkdirAll("../../docs", 0o755))
		require.NoError(t, os.WriteFile(referencePath, []byte(got), 0o644))
	}
	want, err := os.ReadFile(referencePath)
	require.NoError(t, err, "run 'make docs'")
	require.Equal(t, string(want), got, "docs/commands.md is out of date: run 'make docs'")
}
