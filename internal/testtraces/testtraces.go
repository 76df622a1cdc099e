// Package testtraces locates the real production traces that tests and
// benchmarks read. They live outside the repository (../shared/traces beside
// the checkout, or $PRESCALER_TRACES) and are never copied into it.
package testtraces

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/prescaler/prescaler/trace"
)

// EnvVar names the folder holding the traces.
const EnvVar = "PRESCALER_TRACES"

// Well-known trace files (see shared/traces/README.md).
const (
	NASA      = "nasa_http_1995.per_minute.csv"
	ServeGen  = "servegen_m-small.per_minute.csv"
	AzureConv = "AzureLLMInferenceTrace_conv.per_minute.csv"
)

// Dir returns the traces folder: $PRESCALER_TRACES, else the first
// shared/traces found beside the working directory or one of its parents.
func Dir() (string, error) {
	if dir := os.Getenv(EnvVar); dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvVar, dir, err)
		}
		return dir, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		candidate := filepath.Join(dir, "..", "shared", "traces")
		if st, err := os.Stat(candidate); err == nil && st.IsDir() {
			return filepath.Clean(candidate), nil
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	return "", fmt.Errorf("real traces not found: set %s or place shared/traces beside the repository", EnvVar)
}

// Path returns the path of a trace file, failing the test when it is absent.
func Path(tb testing.TB, name string) string {
	tb.Helper()
	dir, err := Dir()
	if err != nil {
		tb.Fatalf("%v", err)
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		tb.Fatalf("trace %s: %v", name, err)
	}
	return path
}

// Load reads a trace and sums it into steps of stepMinutes.
func Load(tb testing.TB, name string, stepMinutes int) trace.Series {
	tb.Helper()
	s, err := trace.ReadFile(Path(tb, name))
	if err != nil {
		tb.Fatalf("%v", err)
	}
	agg, err := s.Aggregate(stepMinutes)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	return agg
}
