package config

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"
)

// minimalYAML sets only the keys that have no default.
const minimalYAML = `
targets:
  - name: ai-inference
    namespace: default
    hpa: inference-hpa
    queries:
      demand: sum(rate(ai_requests_total[1m])) * 60
    replicaCapacity: 120
`

// isolateEnv blanks every PRESCALER_* override for the test, so that the
// environment the tests run in cannot change their results. Empty values
// are ignored by Parse.
func isolateEnv(t testing.TB) {
	t.Helper()
	for _, path := range scalarPaths(reflect.TypeFor[Config](), nil, false) {
		for _, name := range envNames(path) {
			t.Setenv(name, "")
		}
	}
}

func mustParse(t *testing.T, yaml string) *Config {
	t.Helper()
	cfg, err := Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}

func TestParseAppliesDefaults(t *testing.T) {
	isolateEnv(t)
	got := mustParse(t, minimalYAML)

	want := Default()
	target := DefaultTarget()
	target.Name, target.Namespace, target.HPA = "ai-inference", "default", "inference-hpa"
	target.Queries.Demand = "sum(rate(ai_requests_total[1m])) * 60"
	target.ReplicaCapacity = ReplicaCapacity{Value: 120}
	want.Targets = []Target{target}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse(minimal) =\n%+v\nwant\n%+v", got, want)
	}
}

func TestDefaults(t *testing.T) {
	cfg := Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"interval", cfg.Interval, Duration(15 * time.Second)},
		{"prometheus.url", cfg.Prometheus.URL, "http://prometheus-operated.monitoring.svc:9090"},
		{"prometheus.timeout", cfg.Prometheus.Timeout, Duration(10 * time.Second)},
		{"leaderElection.enabled", cfg.LeaderElection.Enabled, true},
		{"leaderElection.namespace", cfg.LeaderElection.Namespace, ""},
		{"leaderElection.leaseName", cfg.LeaderElection.LeaseName, "prescaler"},
		{"leaderElection.leaseDuration", cfg.LeaderElection.LeaseDuration, Duration(15 * time.Second)},
		{"leaderElection.renewDeadline", cfg.LeaderElection.RenewDeadline, Duration(10 * time.Second)},
		{"leaderElection.retryPeriod", cfg.LeaderElection.RetryPeriod, Duration(2 * time.Second)},
		{"server.address", cfg.Server.Address, ":8080"},
		{"targets", len(cfg.Targets), 0},
	}
	target := DefaultTarget()
	checks = append(checks, []struct {
		name      string
		got, want any
	}{
		{"mode", target.Mode, ModeActive},
		{"slo.latency", target.SLO.Latency, Duration(0)},
		{"slo.gpuUtilizationCeiling", target.SLO.GPUUtilizationCeiling, 0.9},
		{"forecast.step", target.Forecast.Step, Duration(time.Minute)},
		{"forecast.season", target.Forecast.Season, Duration(day)},
		{"forecast.season2", target.Forecast.Season2, Duration(0)},
		{"forecast.history", target.Forecast.History, Duration(14 * day)},
		{"forecast.refit", target.Forecast.Refit, Duration(day)},
		{"forecast.quantile", target.Forecast.Quantile, 0.9},
		{"forecast.interval", target.Forecast.Interval, 0.8},
		{"leadTime", target.LeadTime, LeadTime{Auto: true}},
		{"bounds", target.Bounds, Bounds{}},
		{"scaleDown.stabilization", target.ScaleDown.Stabilization, Duration(5 * time.Minute)},
		{"scaleDown.maxStepPercent", target.ScaleDown.MaxStepPercent, int32(20)},
	}...)
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("default %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if err := Default().Validate(); err == nil || !strings.Contains(err.Error(), "targets: at least one target is required") {
		t.Errorf("Default().Validate() = %v, want only the missing targets", err)
	}
}

func TestParseKeepsExplicitZeros(t *testing.T) {
	isolateEnv(t)
	cfg := mustParse(t, minimalYAML+`
    forecast: {season: 0, quantile: 0.95}
    scaleDown: {stabilization: 0s}
`)
	f := cfg.Targets[0].Forecast
	if f.Season != 0 {
		t.Errorf("season = %v, want the explicit 0", f.Season)
	}
	if f.Quantile != 0.95 || f.Step != Duration(time.Minute) || f.History != Duration(14*day) {
		t.Errorf("forecast = %+v, want quantile 0.95 and the other defaults", f)
	}
	if s := cfg.Targets[0].ScaleDown; s.Stabilization != 0 || s.MaxStepPercent != 20 {
		t.Errorf("scaleDown = %+v, want stabilization 0 and maxStepPercent 20", s)
	}
}

func TestParseEachTargetGetsItsOwnDefaults(t *testing.T) {
	isolateEnv(t)
	cfg := mustParse(t, minimalYAML+`
    mode: shadow
  - name: second
    namespace: default
    scaledObject: second
    queries: {demand: x}
    replicaCapacity: auto
    fallbackReplicaCapacity: 50
    leadTime: 3m
`)
	first, second := cfg.Targets[0], cfg.Targets[1]
	if first.Mode != ModeShadow || second.Mode != ModeActive {
		t.Errorf("modes = %q, %q; want shadow, active", first.Mode, second.Mode)
	}
	if !first.LeadTime.Auto || second.LeadTime != (LeadTime{Duration: 3 * time.Minute}) {
		t.Errorf("lead times = %v, %v; want auto, 3m", first.LeadTime, second.LeadTime)
	}
	if !second.ReplicaCapacity.Auto || second.FallbackReplicaCapacity != 50 {
		t.Errorf("second capacity = %v fallback %v, want auto fallback 50", second.ReplicaCapacity, second.FallbackReplicaCapacity)
	}
}

func TestParseEnvOverrides(t *testing.T) {
	isolateEnv(t)
	t.Setenv("PRESCALER_INTERVAL", "30s")
	t.Setenv("PRESCALER_PROMETHEUS_URL", "https://thanos.example.com")
	t.Setenv("PRESCALER_PROMETHEUS_BEARER_TOKEN_FILE", "/var/run/token")
	t.Setenv("PRESCALER_PROMETHEUS_TLS_INSECURESKIPVERIFY", "true") // the upper-cased spelling works too
	t.Setenv("PRESCALER_LEADER_ELECTION_ENABLED", "false")
	t.Setenv("PRESCALER_LEADER_ELECTION_LEASE_DURATION", "1m")
	t.Setenv("PRESCALER_SERVER_ADDRESS", ":9090")

	cfg := mustParse(t, "interval: 15s\nprometheus: {url: http://file:9090, timeout: 5s}\n"+minimalYAML)
	checks := []struct {
		name      string
		got, want any
	}{
		{"interval", cfg.Interval, Duration(30 * time.Second)},
		{"prometheus.url", cfg.Prometheus.URL, "https://thanos.example.com"},
		{"prometheus.timeout (file, not overridden)", cfg.Prometheus.Timeout, Duration(5 * time.Second)},
		{"prometheus.bearerTokenFile", cfg.Prometheus.BearerTokenFile, "/var/run/token"},
		{"prometheus.tls.insecureSkipVerify", cfg.Prometheus.TLS.InsecureSkipVerify, true},
		{"leaderElection.enabled", cfg.LeaderElection.Enabled, false},
		{"leaderElection.leaseDuration", cfg.LeaderElection.LeaseDuration, Duration(time.Minute)},
		{"leaderElection.leaseName (default)", cfg.LeaderElection.LeaseName, "prescaler"},
		{"server.address", cfg.Server.Address, ":9090"},
		{"targets[0].name (no override for lists)", cfg.Targets[0].Name, "ai-inference"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestParseEnvSplitSpellingWins(t *testing.T) {
	isolateEnv(t)
	t.Setenv("PRESCALER_LEADERELECTION_LEASENAME", "flat")
	t.Setenv("PRESCALER_LEADER_ELECTION_LEASE_NAME", "split")
	if got := mustParse(t, minimalYAML).LeaderElection.LeaseName; got != "split" {
		t.Errorf("leaseName = %q, want the PRESCALER_LEADER_ELECTION_LEASE_NAME value", got)
	}
}

func TestParseEnvProblemsNameTheVariable(t *testing.T) {
	tests := []struct {
		name, env, value, want string
	}{
		{"bad duration", "PRESCALER_INTERVAL", "abc", `interval: invalid duration "abc" (set by PRESCALER_INTERVAL)`},
		{"invalid value", "PRESCALER_INTERVAL", "0s", `interval: "0s" must be > 0 (set by PRESCALER_INTERVAL)`},
		{"bad boolean", "PRESCALER_LEADER_ELECTION_ENABLED", "maybe",
			`leaderElection.enabled: "maybe" is not a boolean (set by PRESCALER_LEADER_ELECTION_ENABLED)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateEnv(t)
			t.Setenv(tt.env, tt.value)
			_, err := Parse([]byte(minimalYAML))
			if err == nil || err.Error() != tt.want {
				t.Errorf("Parse() error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParseRejectsUnknownKeys(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"top level typo", "intervall: 15s\n" + minimalYAML, `intervall: unknown key (did you mean "interval"?)`},
		{"nested typo", "prometheus: {timout: 5s}\n" + minimalYAML, `prometheus.timout: unknown key (did you mean "timeout"?)`},
		{"key of a section below", minimalYAML + "    minReplica: 3\n", `targets[0].minReplica: unknown key (did you mean "bounds.minReplicas"?)`},
		{"unrelated target key", minimalYAML + "    replicas: 3\n", `targets[0].replicas: unknown key; known keys here: name, namespace, hpa`},
		{"bounds typo", minimalYAML + "    bounds: {minReplica: 3}\n", `targets[0].bounds.minReplica: unknown key (did you mean "minReplicas"?)`},
		{"wrong case", minimalYAML + "    bounds: {MinReplicas: 3}\n", `targets[0].bounds.MinReplicas: unknown key (did you mean "minReplicas"?)`},
		{"snake case", minimalYAML + "    scale_down: {}\n", `targets[0].scale_down: unknown key (did you mean "scaleDown"?)`},
		{"unrelated key", "color: blue\n" + minimalYAML, `color: unknown key; known keys here: interval, prometheus, leaderElection, server, targets`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateEnv(t)
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Parse() error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParseRejectsBadValues(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"duration without unit", "interval: 15\n" + minimalYAML, `interval: 15 has no unit`},
		{"bad duration", minimalYAML + "    forecast: {season: daily}\n", `targets[0].forecast.season: invalid duration "daily"`},
		{"bad lead time", minimalYAML + "    leadTime: soon\n", `targets[0].leadTime: "soon" is neither "auto" nor a duration`},
		{"bad capacity", strings.Replace(minimalYAML, "120", "fast", 1), `targets[0].replicaCapacity: "fast" is neither "auto" nor a number`},
		{"text for a number", minimalYAML + "    forecast: {quantile: high}\n", `targets[0].forecast.quantile: "high" is not a number`},
		{"fractional replicas", minimalYAML + "    bounds: {minReplicas: 2.5}\n", `targets[0].bounds.minReplicas: 2.5 is not a whole number`},
		{"bad boolean", "leaderElection: {enabled: maybe}\n" + minimalYAML, `leaderElection.enabled: "maybe" is not a boolean`},
		{"list for a string", minimalYAML + "    mode: [active]\n", `targets[0].mode: expected a string, got a list`},
		{"scalar for a section", "prometheus: http://prom:9090\n" + minimalYAML, `prometheus: expected a mapping, got a string`},
		{"scalar for the targets list", "targets: ai-inference\n", `targets: expected a list, got a string`},
		{"scalar target", minimalYAML + "  - 17\n", `targets[1]: expected a mapping, got an integer`},
		{"document is a list", "- a\n", `parse config: the document must be a mapping`},
		{"yaml syntax", "targets: [\n", `parse config: yaml: `},
		{"duplicate key", "interval: 15s\ninterval: 30s\n", `parse config: yaml: `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateEnv(t)
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Parse() error = %v, want one starting with %q", err, tt.want)
			}
		})
	}
}

func TestParseNumbersForTextValues(t *testing.T) {
	isolateEnv(t)
	cfg := mustParse(t, minimalYAML+"    forecast: {season2: 0}\n")
	if got := cfg.Targets[0].ReplicaCapacity; got != (ReplicaCapacity{Value: 120}) {
		t.Errorf("replicaCapacity: 120 decoded as %+v", got)
	}
	if got := cfg.Targets[0].Forecast.Season2; got != 0 {
		t.Errorf("season2: 0 decoded as %v", got)
	}
}

func TestParseValidates(t *testing.T) {
	isolateEnv(t)
	_, err := Parse([]byte(minimalYAML + "    forecast: {step: 7m, season: 25h}\n"))
	var fieldErr *FieldError
	if !errors.As(err, &fieldErr) || fieldErr.Field != "targets[0].forecast.season" {
		t.Fatalf("Parse() error = %v, want a FieldError for targets[0].forecast.season", err)
	}
	if want := `"1d1h" is not a multiple of step "7m"`; fieldErr.Detail != want {
		t.Errorf("detail = %q, want %q", fieldErr.Detail, want)
	}
}

func TestParseEmptyDocument(t *testing.T) {
	isolateEnv(t)
	_, err := Parse(nil)
	if err == nil || err.Error() != "targets: at least one target is required (or discovery.enabled)" {
		t.Errorf("Parse(nil) error = %v, want only the missing targets", err)
	}
}

func TestLoad(t *testing.T) {
	isolateEnv(t)
	cfg, err := Load("testdata/minimal.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(cfg.Targets) != 1 || cfg.Targets[0].Object().String() != "HorizontalPodAutoscaler default/inference-hpa" {
		t.Errorf("Load(minimal) targets = %+v", cfg.Targets)
	}
	if _, err := Load("testdata/missing.yaml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) error = %v, want fs.ErrNotExist", err)
	}
}

func TestLoadInvalidFileReportsEveryProblem(t *testing.T) {
	isolateEnv(t)
	_, err := Load("testdata/invalid.yaml")
	if err == nil {
		t.Fatal("Load(invalid) succeeded")
	}
	want := []string{
		`interval: "0s" must be > 0`,
		`prometheus.url: "prometheus:9090" must start with http:// or https://`,
		`leaderElection.renewDeadline: "20s" must be shorter than leaseDuration "15s"`,
		`targets[0].hpa: must be set unless scaledObject is set`,
		`targets[0].forecast.season: "1d1h" is not a multiple of step "7m"`,
		`targets[0].forecast.quantile: 1.3 must be in (0, 1)`,
		`targets[1].name: "ai-inference" is already used by targets[0]`,
		`targets[1].mode: "dry-run" must be one of active, shadow`,
		`targets[1].fallbackReplicaCapacity: 0 must be > 0 when replicaCapacity is "auto" (it is used until capacity is learned)`,
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("Load(invalid) error =\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

func TestExampleLoadsAndValidates(t *testing.T) {
	isolateEnv(t)
	cfg, err := Parse(Example())
	if err != nil {
		t.Fatalf("Parse(Example()): %v", err)
	}
	if warnings := cfg.Warnings(); len(warnings) != 0 {
		t.Errorf("example warnings: %q", warnings)
	}
	if len(cfg.Targets) != 1 {
		t.Fatalf("example has %d targets, want 1", len(cfg.Targets))
	}
	target := cfg.Targets[0]
	if got, want := target.Object(), (ObjectRef{Kind: KindHPA, Namespace: "default", Name: "inference-hpa"}); got != want {
		t.Errorf("example object = %v, want %v", got, want)
	}
	// A first install writes nothing: the shipped target is in shadow mode.
	if target.Name != "ai-inference" || target.Mode != ModeShadow {
		t.Errorf("example target = %s in mode %s", target.Name, target.Mode)
	}
	for name, query := range map[string]string{
		"demand":         target.Queries.Demand,
		"queueDepth":     target.Queries.QueueDepth,
		"latency":        target.Queries.Latency,
		"gpuUtilization": target.Queries.GPUUtilization,
	} {
		if query == "" {
			t.Errorf("example query %s is empty", name)
		}
	}
	if !strings.Contains(target.Queries.QueueDepth, "ai_request_queue_depth") ||
		!strings.Contains(target.Queries.GPUUtilization, "DCGM_FI_DEV_GPU_UTIL") {
		t.Errorf("example queries do not read the seed world's metrics: %+v", target.Queries)
	}
}

func TestExampleReturnsACopy(t *testing.T) {
	first := Example()
	first[0] = 'X'
	if Example()[0] == 'X' {
		t.Error("Example() shares its bytes with the caller")
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	isolateEnv(t)
	for name, source := range map[string][]byte{
		"example": Example(),
		"fixed values": []byte(`
targets:
  - {name: a, namespace: ns, scaledObject: so, queries: {demand: x, latency: y}, replicaCapacity: 7.5,
     leadTime: 90s, slo: {latency: 1.5s}, forecast: {step: 30s, season: 1h, season2: 1d, history: 3d}}
`),
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := Parse(source)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			text, err := cfg.YAML()
			if err != nil {
				t.Fatalf("YAML: %v", err)
			}
			back, err := Parse(text)
			if err != nil {
				t.Fatalf("Parse(YAML()): %v\n%s", err, text)
			}
			if !reflect.DeepEqual(back, cfg) {
				t.Errorf("round trip changed the config:\n%s", text)
			}
		})
	}
}
