// Command calico-plan locks pod egress down with Calico without an outage:
// observe real traffic from Calico flow logs, keep a per-namespace egress
// allowlist with evidence in git, render staged and then enforced
// default-deny policies, wave by wave, and check every change in CI.
package main

import (
	"errors"
	"fmt"
	"os"
)

// Exit codes.
const (
	exitOK       = 0
	exitError    = 1
	exitChanges  = 2 // diff: there are changes
	exitProblems = 3 // check: observed traffic would be denied, or a probe got through
)

// exitError carries a specific exit code out of a command.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

func (e *codeError) Unwrap() error { return e.err }

func main() {
	cmd := newRootCmd()
	err := cmd.Execute()
	if err == nil {
		os.Exit(exitOK)
	}
	var ce *codeError
	if errors.As(err, &ce) {
		if ce.err != nil {
			fmt.Fprintln(os.Stderr, "calico-plan:", ce.err)
		}
		os.Exit(ce.code)
	}
	fmt.Fprintln(os.Stderr, "calico-plan:", err)
	os.Exit(exitError)
}
