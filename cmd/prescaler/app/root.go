// Package app wires prescaler's subcommands. Each subcommand parses its flags,
// builds the pieces it needs in one place and runs them; the work itself lives
// in the packages named after it (predictor, trace, config, ...).
package app

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/prescaler/prescaler/internal/version"
)

// NewRootCommand returns the prescaler command tree writing to out and errOut.
func NewRootCommand(out, errOut io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "prescaler",
		Short:         "Predictive autoscaler for AI inference on Kubernetes",
		Long:          "prescaler forecasts demand for inference services and raises their HPA's minReplicas ahead of predicted spikes.",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.SetOut(out)
	root.SetErr(errOut)
	root.AddCommand(
		newVersionCommand(),
		newCheckConfigCommand(),
		newForecastCommand(),
		newBacktestCommand(),
		newRunCommand(),
		newRestoreCommand(),
		newStatusCommand(),
		newAgentCommand(),
	)
	return root
}

func newVersionCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version and build information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := version.Get()
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), info.String())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}
