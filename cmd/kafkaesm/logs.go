package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/kafkaesm/kafkaesm/internal/invoke"
)

// newLogsCmd prints a function's logs (START/END/REPORT lines and its output) from the data
// dir, like `aws logs tail /aws/lambda/FUNCTION [--follow]`.
func newLogsCmd() *cobra.Command {
	var (
		dataDir string
		follow  bool
		lines   int
	)
	cmd := &cobra.Command{
		Use:   "logs FUNCTION",
		Short: "Print a function's logs; -f follows new lines",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, _ := invoke.ParseFunctionName(args[0])
			out := cmd.OutOrStdout()
			tail, err := invoke.TailLogs(dataDir, name, lines)
			if err != nil && !follow {
				return logsHint(err, cmd.Flags().Changed("data-dir"), name)
			}
			for _, l := range tail {
				if _, err := fmt.Fprintln(out, l); err != nil {
					return err
				}
			}
			if !follow {
				return nil
			}
			return invoke.FollowLogs(cmd.Context(), dataDir, name, out, 0)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "./kafkaesm-data", "the server's data directory (serve's --data-dir; kafkaesm dev uses ./kafkaesm-dev)")
	f.BoolVarP(&follow, "follow", "f", false, "keep printing new lines until interrupted")
	f.IntVarP(&lines, "lines", "n", 100, "how many of the last lines to print first (0 = all)")
	return cmd
}

// logsHint adds to a missing-logs error where the logs probably are: logs reads the server's
// data directory from disk, and kafkaesm dev keeps its own in ./kafkaesm-dev.
func logsHint(err error, dataDirGiven bool, name string) error {
	if dataDirGiven {
		return fmt.Errorf("%w (is --data-dir the server's data directory?)", err)
	}
	if _, statErr := os.Stat(invoke.LogDir(devDataDir, name)); statErr == nil {
		return fmt.Errorf("%w; the logs of kafkaesm dev are in %s: %s logs %s --data-dir %s", err, devDataDir, selfCommand(), name, devDataDir)
	}
	return fmt.Errorf("%w (logs reads the server's data directory: --data-dir, %s for kafkaesm dev)", err, devDataDir)
}
