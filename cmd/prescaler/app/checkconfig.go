package app

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/prescaler/prescaler/config"
)

// stdinPath is the --config value that reads the configuration from standard input.
const stdinPath = "-"

// newCheckConfigCommand returns `prescaler check-config`: it loads and
// validates a configuration exactly as the daemon would, environment
// overrides included, without contacting Prometheus or Kubernetes.
func newCheckConfigCommand() *cobra.Command {
	var path string
	var printEffective bool
	cmd := &cobra.Command{
		Use:   "check-config --config FILE",
		Short: "Validate a configuration file and summarize its targets",
		Long: "check-config loads a configuration file, applies defaults and PRESCALER_* environment overrides, " +
			"and validates it. It prints every problem on its own line and exits non-zero, or prints a summary " +
			"(or, with --print, the effective configuration) and exits 0.",
		Example: "  prescaler check-config --config /etc/prescaler/config.yaml\n" +
			"  kubectl get configmap prescaler -o jsonpath='{.data.config\\.yaml}' | prescaler check-config --config - --print",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCheckConfig(cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), path, printEffective)
		},
	}
	cmd.Flags().StringVar(&path, "config", "", `configuration file ("-" reads standard input)`)
	cmd.Flags().BoolVar(&printEffective, "print", false, "print the effective configuration (defaults and overrides applied) as YAML")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

func runCheckConfig(in io.Reader, out, errOut io.Writer, path string, printEffective bool) error {
	cfg, err := loadConfig(in, path)
	if err != nil {
		return reportProblems(errOut, displayName(path), err)
	}
	for _, warning := range cfg.Warnings() {
		if _, err := fmt.Fprintln(errOut, "warning: "+warning); err != nil {
			return err
		}
	}
	if printEffective {
		return printYAML(out, cfg)
	}
	return writeSummary(out, displayName(path), cfg)
}

func loadConfig(in io.Reader, path string) (*config.Config, error) {
	if path != stdinPath {
		return config.Load(path)
	}
	data, err := io.ReadAll(in)
	if err != nil {
		return nil, fmt.Errorf("read standard input: %w", err)
	}
	return config.Parse(data)
}

func displayName(path string) string {
	if path == stdinPath {
		return "standard input"
	}
	return path
}

// reportProblems prints each problem on its own line and returns the error
// that makes the command exit non-zero. An error that is not about the
// content (an unreadable file) is returned as it is.
func reportProblems(w io.Writer, name string, err error) error {
	var fieldErr *config.FieldError
	if !errors.As(err, &fieldErr) {
		return err
	}
	problems := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		problems = joined.Unwrap()
	}
	for _, problem := range problems {
		if _, werr := fmt.Fprintln(w, problem); werr != nil {
			return werr
		}
	}
	return fmt.Errorf("%s is not a valid configuration: %s", name, countOf(len(problems), "problem"))
}

// printYAML prints the effective configuration with the password of the
// Prometheus URL, if any, redacted: the output goes to terminals and CI logs.
func printYAML(w io.Writer, cfg *config.Config) error {
	shown := *cfg
	shown.Prometheus.URL = config.RedactURL(cfg.Prometheus.URL)
	data, err := shown.YAML()
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// writeSummary prints one line about the daemon settings and a table of targets.
func writeSummary(w io.Writer, name string, cfg *config.Config) error {
	leader := "off"
	if cfg.LeaderElection.Enabled {
		leader = "on (Lease " + cfg.LeaderElection.LeaseName + ")"
	}
	if _, err := fmt.Fprintf(w, "%s is valid: %s, loop every %s, Prometheus %s, leader election %s\n",
		name, countOf(len(cfg.Targets), "target"), cfg.Interval, config.RedactURL(cfg.Prometheus.URL), leader); err != nil {
		return err
	}
	table := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(table, "TARGET\tMODE\tWRITES TO\tCAPACITY\tLEAD TIME\tFORECAST")
	for i := range cfg.Targets {
		t := &cfg.Targets[i]
		fmt.Fprintf(table, "%s\t%s\t%s\t%s\t%s\tstep %s, season %s, q%g\n",
			t.Name, t.Mode, t.Object(), capacityText(t), t.LeadTime,
			t.Forecast.Step, t.Forecast.Season, t.Forecast.Quantile)
	}
	return table.Flush()
}

func capacityText(t *config.Target) string {
	if t.ReplicaCapacity.Auto {
		return fmt.Sprintf("auto (fallback %g)", t.FallbackReplicaCapacity)
	}
	return t.ReplicaCapacity.String()
}

func countOf(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
