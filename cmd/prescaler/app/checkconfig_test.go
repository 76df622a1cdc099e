package app_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/prescaler/prescaler/config"
)

// examplePath is the shipped example configuration, from this package's folder.
const examplePath = "../../../config/example.yaml"

// validTarget is a complete target entry; cases below add a mistake to it.
const validTarget = `targets:
  - name: ai-inference
    namespace: default
    hpa: inference-hpa
    queries:
      demand: sum(rate(ai_requests_total[1m])) * 60
    replicaCapacity: 120
`

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheckConfigExample(t *testing.T) {
	isolateConfigEnv(t)
	stdout, stderr := mustRun(t, "check-config", "--config", examplePath)
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	wantFirst := examplePath + " is valid: 1 target, loop every 15s, Prometheus http://prometheus-operated.monitoring.svc:9090, leader election on (Lease prescaler)"
	if lines[0] != wantFirst {
		t.Errorf("first line\n got %q\nwant %q", lines[0], wantFirst)
	}
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "TARGET") || !strings.HasPrefix(lines[2], "ai-inference") {
		t.Fatalf("want a header line and one target row:\n%s", stdout)
	}
	for _, want := range []string{"shadow", "HorizontalPodAutoscaler default/inference-hpa", "auto (fallback 120)", "step 1m, season 1d, q0.9"} {
		if !strings.Contains(lines[2], want) {
			t.Errorf("target row %q does not contain %q", lines[2], want)
		}
	}
	if stderr != "" {
		t.Errorf("the example gives warnings or errors:\n%s", stderr)
	}
}

func TestCheckConfigStandardInput(t *testing.T) {
	isolateConfigEnv(t)
	example, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := runCLIWithInput(t, string(example), "check-config", "--config", "-")
	if err != nil || !strings.HasPrefix(stdout, "standard input is valid: 1 target") {
		t.Errorf("check-config --config - on the example: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	_, stderr, err = runCLIWithInput(t, "interval: 0s\n"+validTarget, "check-config", "--config", "-")
	if err == nil || !strings.Contains(err.Error(), "standard input is not a valid configuration") || !strings.Contains(stderr, "interval: ") {
		t.Errorf("invalid standard input: error %v, stderr:\n%s", err, stderr)
	}
}

// TestCheckConfigPrint: --print writes the effective configuration, which
// loads back to the same Config and prints back to the same bytes.
func TestCheckConfigPrint(t *testing.T) {
	isolateConfigEnv(t)
	printed, stderr := mustRun(t, "check-config", "--config", examplePath, "--print")
	if stderr != "" {
		t.Errorf("stderr:\n%s", stderr)
	}
	want, err := config.Load(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	got, err := config.Parse([]byte(printed))
	if err != nil {
		t.Fatalf("printed configuration does not parse: %v\n%s", err, printed)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("printed configuration loads as\n%+v\nwant\n%+v", got, want)
	}
	again, _, err := runCLIWithInput(t, printed, "check-config", "--config", "-", "--print")
	if err != nil || again != printed {
		t.Errorf("printing the printed configuration: err %v, same bytes %v", err, again == printed)
	}
}

func TestCheckConfigWarnings(t *testing.T) {
	isolateConfigEnv(t)
	path := writeConfig(t, "prometheus:\n  tls:\n    insecureSkipVerify: true\n"+validTarget)
	stdout, stderr := mustRun(t, "check-config", "--config", path)
	if !strings.Contains(stderr, "warning: prometheus.tls.insecureSkipVerify") || !strings.Contains(stdout, " is valid: ") {
		t.Errorf("want a warning naming prometheus.tls.insecureSkipVerify and a valid summary:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
}

// TestCheckConfigInvalid: a bad file fails, and every problem is printed on
// its own line starting with the key path.
func TestCheckConfigInvalid(t *testing.T) {
	isolateConfigEnv(t)
	cases := []struct {
		name     string
		content  string
		problems []string // line prefixes expected on stderr
	}{
		{"season not a multiple of step", strings.Replace(validTarget, "    replicaCapacity: 120\n",
			"    replicaCapacity: 120\n    forecast: {step: 7m, season: 25h}\n", 1),
			[]string{"targets[0].forecast.season: "}},
		{"quantile out of range", validTarget + "    forecast:\n      quantile: 1.3\n",
			[]string{"targets[0].forecast.quantile: 1.3"}},
		{"zero interval", "interval: 0s\n" + validTarget, []string{`interval: "0s"`}},
		{"two problems", "interval: 0s\nprometheus:\n  url: prometheus:9090\n" + validTarget,
			[]string{`interval: "0s"`, `prometheus.url: "prometheus:9090"`}},
		{"misspelt key", validTarget + "    bounds:\n      minReplica: 2\n",
			[]string{`targets[0].bounds.minReplica: unknown key (did you mean "minReplicas"?)`}},
		{"wrong type", strings.Replace(validTarget, "replicaCapacity: 120", "replicaCapacity: lots", 1),
			[]string{`targets[0].replicaCapacity: "lots"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeConfig(t, c.content)
			stdout, stderr, err := runCLI(t, "check-config", "--config", path)
			if err == nil {
				t.Fatalf("check-config succeeded on\n%s", c.content)
			}
			noun := "problems"
			if len(c.problems) == 1 {
				noun = "problem"
			}
			wantErr := path + " is not a valid configuration: " + strconv.Itoa(len(c.problems)) + " " + noun
			if err.Error() != wantErr {
				t.Errorf("error %q, want %q", err, wantErr)
			}
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if len(lines) != len(c.problems)+1 {
				t.Errorf("want %d problem lines and the error line, stderr:\n%s", len(c.problems), stderr)
			}
			for i, want := range c.problems {
				if i >= len(lines) || !strings.HasPrefix(lines[i], want) {
					t.Errorf("problem %d: want a line starting %q, stderr:\n%s", i, want, stderr)
				}
			}
			if stdout != "" {
				t.Errorf("stdout:\n%s", stdout)
			}
		})
	}
}

// TestCheckConfigInvalidFixture runs the fixture that docs/config.md shows
// check-config's output for: every field path in it is reported.
func TestCheckConfigInvalidFixture(t *testing.T) {
	isolateConfigEnv(t)
	const path = "../../../config/testdata/invalid.yaml"
	_, stderr, err := runCLI(t, "check-config", "--config", path)
	if err == nil || !strings.Contains(err.Error(), path+" is not a valid configuration: ") {
		t.Fatalf("error %v", err)
	}
	for _, field := range []string{
		"interval: ", "prometheus.url: ", "leaderElection.renewDeadline: ", "targets[0].hpa: ",
		"targets[0].forecast.season: ", "targets[0].forecast.quantile: ", "targets[1].name: ",
		"targets[1].mode: ", "targets[1].fallbackReplicaCapacity: ",
	} {
		if !strings.Contains(stderr, "\n"+field) && !strings.HasPrefix(stderr, field) {
			t.Errorf("no line for %s in\n%s", strings.TrimSuffix(field, ": "), stderr)
		}
	}
}

func TestCheckConfigCannotLoad(t *testing.T) {
	isolateConfigEnv(t)
	t.Run("missing file", func(t *testing.T) {
		_, _, err := runCLI(t, "check-config", "--config", filepath.Join(t.TempDir(), "absent.yaml"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("error %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("not YAML", func(t *testing.T) {
		_, _, err := runCLI(t, "check-config", "--config", writeConfig(t, "targets: [\n"))
		if err == nil || !strings.Contains(err.Error(), "parse config") {
			t.Errorf("error %v, want a parse error", err)
		}
	})
	t.Run("no --config", func(t *testing.T) {
		_, _, err := runCLI(t, "check-config")
		if err == nil || !strings.Contains(err.Error(), `"config"`) {
			t.Errorf("error %v, want one naming the required flag", err)
		}
	})
}
