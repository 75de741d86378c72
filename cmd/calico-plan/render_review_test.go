package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// render --rollout --out DIR is the desired state: after a rollback to
// observe, the namespace's policy file must leave the directory, or
// applying it (kubectl apply -f DIR, Terraform) keeps the namespace
// locked down. Files calico-plan's rollout did not write stay.
func TestRolloutOutDropsPolicyOfRolledBackNamespace(t *testing.T) {
	for _, tc := range []struct {
		name, format, layout, file string
	}{
		{"yaml flat", "yaml", "flat", "proxy.yaml"},
		{"hcl stacks", "hcl", "stacks", filepath.Join("proxy", "egress_allowlist.tf")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, snap := rolloutDemo(t)
			out := filepath.Join(t.TempDir(), "policies") + string(filepath.Separator)
			render := func() string {
				_, errs := rolloutCLIOK(t, "render", "--store", store, "--cluster", snap, "--rollout", "--out", out, "-o", tc.format, "--layout", tc.layout)
				return errs
			}
			rolloutCLIOK(t, "promote", "--store", store, "--cluster", snap, "--namespace", "proxy", "--to", "staged", "--now", "2026-11-28T08:00:00Z")
			render()
			policy := filepath.Join(out, tc.file)
			require.FileExists(t, policy)
			mine := filepath.Join(out, "mine"+filepath.Ext(tc.file))
			require.NoError(t, os.WriteFile(mine, []byte("# my own file\n"), 0o644))

			rolloutCLIOK(t, "rollback", "--store", store, "--namespace", "proxy", "--to", "observe", "--now", "2026-11-29T08:00:00Z")
			errs := render()
			require.NoFileExists(t, policy)
			require.Contains(t, errs, "removed "+policy)
			require.FileExists(t, mine, "files the rollout did not write stay")
			render()
			require.FileExists(t, mine)
		})
	}
}
