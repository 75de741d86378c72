package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/output"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			calicoAPI := "unknown"
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, d := range bi.Deps {
					if d.Path == "github.com/projectcalico/api" {
						calicoAPI = d.Version
					}
				}
			}
			fmt.Fprintf(g.stdout, "calico-plan %s (%s, projectcalico/api %s)\n", version, runtime.Version(), calicoAPI)
			return nil
		},
	}
}

func newProfileCmd(g *globals) *cobra.Command {
	var effective bool
	cmd := &cobra.Command{
		Use:   "profile [--effective]",
		Short: "Print the cluster profile (the built-in default, with comments)",
		Long: `profile prints the built-in cluster profile with comments explaining each key:
tier label and order, excluded namespaces, DNS addresses, cluster CIDRs, noise
labels, stability windows, policy tier and naming, rollout settings. Save it,
edit it and pass it to every command with --config. With --effective it prints
the profile in use (the default merged with --config), without comments.
Unknown keys in a profile are an error naming the key.`,
		Example: `  calico-plan profile > profile.yaml
  calico-plan --config profile.yaml profile --effective`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !effective {
				_, err := g.stdout.Write(config.DefaultYAML())
				return err
			}
			p, err := g.profile()
			if err != nil {
				return err
			}
			return output.WriteYAML(g.stdout, p)
		},
	}
	cmd.Flags().BoolVar(&effective, "effective", false, "print the profile in use instead of the commented default")
	return cmd
}
