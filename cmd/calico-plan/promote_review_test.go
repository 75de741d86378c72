package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The follow-up commands promote and rollback print must work as printed:
// with a store other than ./allowlists they carry --store.
func TestPromoteHintsCarryTheStore(t *testing.T) {
	store, snap := rolloutDemo(t)
	out, _ := rolloutCLIOK(t, "promote", "--store", store, "--cluster", snap, "--namespace", "proxy", "--to", "staged", "--now", "2026-11-28T08:00:00Z")
	require.Contains(t, out, "calico-plan render --rollout --store "+store+" --cluster "+snap+" --out policies/")
	require.Contains(t, out, "calico-plan promote --store "+store+" --cluster "+snap+" --namespace proxy --to enforced")
	out, _ = rolloutCLIOK(t, "rollback", "--store", store, "--namespace", "proxy", "--now", "2026-11-29T08:00:00Z")
	require.Contains(t, out, "calico-plan render --rollout --store "+store+" --out policies/")
}

// The next command waves prints is runnable as printed: it judges the
// gates with the same cluster facts (without them cronjob-facts is unmet
// and the promotion is refused) on the same store.
func TestWavesNextCommandRunsAsPrinted(t *testing.T) {
	store, snap := rolloutDemo(t)
	out, _ := rolloutCLIOK(t, "waves", "--store", store, "--cluster", snap, "-o", "json")
	var plan struct {
		Waves []struct {
			Namespaces []struct{ Name, Next string } `json:"namespaces"`
		} `json:"waves"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &plan))
	var next string
	for _, w := range plan.Waves {
		for _, n := range w.Namespaces {
			if n.Name == "proxy" {
				next = n.Next
			}
		}
	}
	want := "calico-plan promote --store " + store + " --cluster " + snap + " --namespace proxy --to staged"
	require.Equal(t, want, next)
	args := strings.Fields(strings.TrimPrefix(next, "calico-plan "))
	rolloutCLIOK(t, append(args, "--now", "2026-11-28T08:00:00Z")...)
}
