package config

import (
	"strings"
	"testing"
)

// Numbers and durations too large for their field are errors naming the
// field, from the file and from the environment: they used to wrap around
// (minReplicas 4294967298 became 2, maxReplicas 4294967306 became 10,
// interval 15250w106751d71h34m34s became 290ms, history 300000d negative).
func TestParseRejectsOutOfRangeValues(t *testing.T) {
	tests := []struct {
		name, yaml, env, value, want string
	}{
		{name: "minReplicas beyond int32", yaml: minimalYAML + "    bounds: {minReplicas: 4294967298}\n",
			want: `targets[0].bounds.minReplicas: 4294967298 is out of range: at most 2147483647`},
		{name: "maxReplicas beyond int32", yaml: minimalYAML + "    bounds: {maxReplicas: 4294967306}\n",
			want: `targets[0].bounds.maxReplicas: 4294967306 is out of range: at most 2147483647`},
		{name: "below int32", yaml: minimalYAML + "    bounds: {minReplicas: -4294967295}\n",
			want: `targets[0].bounds.minReplicas: -4294967295 is out of range: at least -2147483648`},
		{name: "beyond int64", yaml: minimalYAML + "    bounds: {maxReplicas: 18446744073709551617}\n",
			want: `targets[0].bounds.maxReplicas: `},
		{name: "whole float beyond int32", yaml: minimalYAML + "    bounds: {maxReplicas: 1e12}\n",
			want: `targets[0].bounds.maxReplicas: 1000000000000 is out of range: at most 2147483647`},
		{name: "interval", yaml: "interval: 15250w106751d71h34m34s\n" + minimalYAML,
			want: `interval: duration "15250w106751d71h34m34s" is out of range`},
		{name: "history", yaml: minimalYAML + "    forecast: {history: 300000d}\n",
			want: `targets[0].forecast.history: duration "300000d" is out of range`},
		{name: "interval from the environment", yaml: minimalYAML, env: "PRESCALER_INTERVAL", value: "15250w106751d71h34m34s",
			want: `interval: duration "15250w106751d71h34m34s" is out of range: the longest is 106751d23h47m16s (set by PRESCALER_INTERVAL)`},
		{name: "lease duration from the environment", yaml: minimalYAML, env: "PRESCALER_LEADER_ELECTION_LEASE_DURATION", value: "9999999w",
			want: `leaderElection.leaseDuration: duration "9999999w" is out of range`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateEnv(t)
			if tt.env != "" {
				t.Setenv(tt.env, tt.value)
			}
			cfg, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("Parse() = %+v, %v; want an error starting with %q", cfg, err, tt.want)
			}
		})
	}
	// The largest values that fit still parse (and the validation judges them).
	isolateEnv(t)
	cfg := mustParse(t, minimalYAML+"    bounds: {minReplicas: 2147483647, maxReplicas: 2147483647}\n")
	if b := cfg.Targets[0].Bounds; b.MinReplicas != 2147483647 || b.MaxReplicas != 2147483647 {
		t.Errorf("bounds %+v, want the int32 maximum kept", b)
	}
}

// A PRESCALER_* variable that overrides no key is an error naming it; the
// documentation promises that nothing is silently ignored. The variables of
// prescaler's own test tooling are not config and pass.
func TestParseRejectsUnknownEnvironment(t *testing.T) {
	tests := []struct {
		env, want string
	}{
		{"PRESCALER_INTERVALL", `PRESCALER_INTERVALL: environment variable overrides no key (did you mean PRESCALER_INTERVAL?)`},
		{"PRESCALER_PROMETHEUS_TIMOUT", `PRESCALER_PROMETHEUS_TIMOUT: environment variable overrides no key (did you mean PRESCALER_PROMETHEUS_TIMEOUT?)`},
		{"PRESCALER_TARGETS_0_MODE", `PRESCALER_TARGETS_0_MODE: environment variable overrides no key; only keys outside targets have one`},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv(tt.env, "30s")
			if _, err := Parse([]byte(minimalYAML)); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Parse() error = %v, want one starting with %q", err, tt.want)
			}
		})
	}
	isolateEnv(t)
	t.Setenv("PRESCALER_UNKNOWN", "") // empty: ignored, like an empty override
	for _, tooling := range []string{"PRESCALER_TRACES", "PRESCALER_BIN", "PRESCALER_TESTBED_KEEP", "PRESCALER_TEST_FAKE_NVML"} {
		t.Setenv(tooling, "1")
	}
	mustParse(t, minimalYAML)
}

// A second YAML document in the file is an error giving its line: the
// decoder would read the first one only.
func TestParseRejectsExtraDocuments(t *testing.T) {
	isolateEnv(t)
	_, err := Parse([]byte(minimalYAML + "---\ninterval: 5s\n"))
	if err == nil || !strings.Contains(err.Error(), "a second YAML document starts at line 9") {
		t.Errorf("Parse() error = %v, want the second document named with its line", err)
	}
	for _, ok := range []string{"---\n" + minimalYAML, minimalYAML + "...\n", ""} {
		if _, err := Parse([]byte(ok)); err != nil && strings.Contains(err.Error(), "document") {
			t.Errorf("Parse(%q): %v", ok, err)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://prometheus:9090":                 "http://prometheus:9090",
		"http://":                                "http://",
		"https://reader@prom.example.com/api":    "https://reader@prom.example.com/api",
		"https://reader:s3cr3t@prom.example.com": "https://reader:xxxxx@prom.example.com",
		"http://reader:s3cr3t@[::1":              "http://xxxxx@[::1",
		"http://a:b@c:d@[::1/x@y":                "http://xxxxx@[::1/x@y",
		"prometheus:9090":                        "prometheus:9090",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
