package config

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// validConfig returns a configuration that passes Validate, for the cases
// below to break one rule at a time.
func validConfig() *Config {
	cfg := Default()
	target := DefaultTarget()
	target.Name = "ai-inference"
	target.Namespace = "default"
	target.HPA = "inference-hpa"
	target.Queries = Queries{
		Demand:  `sum(rate(ai_requests_total[1m])) * 60`,
		Latency: `histogram_quantile(0.95, sum by (le) (rate(ai_request_duration_seconds_bucket[5m])))`,
	}
	target.ReplicaCapacity = ReplicaCapacity{Value: 120}
	target.SLO.Latency = Duration(500 * time.Millisecond)
	cfg.Targets = []Target{target}
	return cfg
}

// secondTarget appends a valid target named name writing to HPA hpa.
func secondTarget(cfg *Config, name, hpa string) *Target {
	target := cfg.Targets[0]
	target.Name, target.HPA = name, hpa
	cfg.Targets = append(cfg.Targets, target)
	return &cfg.Targets[len(cfg.Targets)-1]
}

func dur(s string) Duration {
	v, err := ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return Duration(v)
}

func TestValidConfigPasses(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("validConfig().Validate() = %v", err)
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
	}{
		{"scaledObject instead of hpa", func(c *Config) { c.Targets[0].HPA, c.Targets[0].ScaledObject = "", "ai-inference" }},
		{"shadow mode", func(c *Config) { c.Targets[0].Mode = ModeShadow }},
		{"https url with path", func(c *Config) { c.Prometheus.URL = "https://thanos.example.com/prometheus" }},
		{"bearer token only", func(c *Config) { c.Prometheus.BearerTokenFile = "/var/run/secrets/token" }},
		{"basic auth pair", func(c *Config) {
			c.Prometheus.BasicAuth = BasicAuth{Username: "prescaler", PasswordFile: "/etc/prom/password"}
		}},
		{"client certificate pair", func(c *Config) { c.Prometheus.TLS.CertFile, c.Prometheus.TLS.KeyFile = "/tls/crt", "/tls/key" }},
		{"leader election off ignores its settings", func(c *Config) {
			c.LeaderElection = LeaderElection{Enabled: false, LeaseName: "Bad_Name", RenewDeadline: dur("1h")}
		}},
		{"leader election namespace", func(c *Config) { c.LeaderElection.Namespace = "prescaler-system" }},
		{"server on a host", func(c *Config) { c.Server.Address = "127.0.0.1:9090" }},
		{"auto capacity with fallback", func(c *Config) {
			c.Targets[0].ReplicaCapacity = ReplicaCapacity{Auto: true}
			c.Targets[0].FallbackReplicaCapacity = 100
		}},
		{"no latency objective", func(c *Config) { c.Targets[0].SLO.Latency = 0 }},
		{"gpu ceiling of 1", func(c *Config) { c.Targets[0].SLO.GPUUtilizationCeiling = 1 }},
		{"non-seasonal model", func(c *Config) { c.Targets[0].Forecast.Season = 0 }},
		{"weekly second season", func(c *Config) { c.Targets[0].Forecast.Season2 = dur("7d") }},
		{"step of 7m and season of 7h", func(c *Config) {
			c.Targets[0].Forecast.Step, c.Targets[0].Forecast.Season = dur("7m"), dur("7h")
		}},
		{"fixed lead time", func(c *Config) { c.Targets[0].LeadTime = LeadTime{Duration: 3 * time.Minute} }},
		{"only a minimum bound", func(c *Config) { c.Targets[0].Bounds.MinReplicas = 4 }},
		{"equal bounds", func(c *Config) { c.Targets[0].Bounds = Bounds{MinReplicas: 3, MaxReplicas: 3} }},
		{"immediate scale down", func(c *Config) { c.Targets[0].ScaleDown = ScaleDown{Stabilization: 0, MaxStepPercent: 100} }},
		{"same hpa name in another namespace", func(c *Config) { secondTarget(c, "other", "inference-hpa").Namespace = "staging" }},
		{"hpa and scaledObject of the same name", func(c *Config) {
			second := secondTarget(c, "keda", "")
			second.ScaledObject = "inference-hpa"
		}},
		{"checkpoint on", func(c *Config) { c.Checkpoint.Path = "/var/lib/prescaler/checkpoint" }},
		{"checkpoint off ignores its interval", func(c *Config) { c.Checkpoint = Checkpoint{Interval: dur("-1s")} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.mutate(cfg)
			if err := cfg.Validate(); err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(c *Config)
		wantField string
		wantText  string // part of the detail, usually the bad value
	}{
		// Top level.
		{"interval zero", func(c *Config) { c.Interval = 0 }, "interval", `"0s" must be > 0`},
		{"interval negative", func(c *Config) { c.Interval = dur("-1s") }, "interval", `"-1s" must be > 0`},

		// Checkpoint.
		{"checkpoint relative path", func(c *Config) { c.Checkpoint.Path = "state/checkpoint" },
			"checkpoint.path", `"state/checkpoint" must be an absolute path`},
		{"checkpoint directory", func(c *Config) { c.Checkpoint.Path = "/var/lib/prescaler/" },
			"checkpoint.path", `"/var/lib/prescaler/" must name a file`},
		{"checkpoint interval zero", func(c *Config) { c.Checkpoint = Checkpoint{Path: "/data/checkpoint"} },
			"checkpoint.interval", `"0s" must be > 0`},
		{"checkpoint more often than the loop", func(c *Config) {
			c.Checkpoint = Checkpoint{Path: "/data/checkpoint", Interval: dur("5s")}
		}, "checkpoint.interval", `"5s" must not be shorter than interval "15s"`},

		// Prometheus.
		{"url missing", func(c *Config) { c.Prometheus.URL = "" }, "prometheus.url", "must be set"},
		{"url scheme", func(c *Config) { c.Prometheus.URL = "ftp://prom:9090" }, "prometheus.url", `"ftp://prom:9090" must start with http`},
		{"url without scheme", func(c *Config) { c.Prometheus.URL = "prometheus:9090" }, "prometheus.url", `"prometheus:9090"`},
		{"url without host", func(c *Config) { c.Prometheus.URL = "http://" }, "prometheus.url", `"http://" has no host`},
		{"url unparsable", func(c *Config) { c.Prometheus.URL = "http://[::1" }, "prometheus.url", `"http://[::1" is not a URL`},
		{"timeout zero", func(c *Config) { c.Prometheus.Timeout = 0 }, "prometheus.timeout", `"0s" must be > 0`},
		{"bearer token and basic auth", func(c *Config) {
			c.Prometheus.BearerTokenFile = "/token"
			c.Prometheus.BasicAuth = BasicAuth{Username: "u", PasswordFile: "/p"}
		}, "prometheus.bearerTokenFile", `"/token" cannot be combined with basicAuth`},
		{"username without password file", func(c *Config) { c.Prometheus.BasicAuth.Username = "prom" },
			"prometheus.basicAuth.passwordFile", `must be set together with username "prom"`},
		{"password file without username", func(c *Config) { c.Prometheus.BasicAuth.PasswordFile = "/p" },
			"prometheus.basicAuth.username", `must be set together with passwordFile "/p"`},
		{"cert without key", func(c *Config) { c.Prometheus.TLS.CertFile = "/tls/crt" },
			"prometheus.tls.keyFile", `must be set together with certFile "/tls/crt"`},
		{"key without cert", func(c *Config) { c.Prometheus.TLS.KeyFile = "/tls/key" },
			"prometheus.tls.certFile", `must be set together with keyFile "/tls/key"`},

		// Leader election.
		{"lease name missing", func(c *Config) { c.LeaderElection.LeaseName = "" }, "leaderElection.leaseName", "must be set"},
		{"lease name invalid", func(c *Config) { c.LeaderElection.LeaseName = "Prescaler_Lease" },
			"leaderElection.leaseName", `"Prescaler_Lease" is not a valid object name`},
		{"lease namespace invalid", func(c *Config) { c.LeaderElection.Namespace = "kube.system" },
			"leaderElection.namespace", `"kube.system" is not a DNS-1123 label`},
		{"lease duration zero", func(c *Config) { c.LeaderElection.LeaseDuration = 0 }, "leaderElection.leaseDuration", `"0s" must be > 0`},
		{"renew deadline zero", func(c *Config) { c.LeaderElection.RenewDeadline = 0 }, "leaderElection.renewDeadline", `"0s" must be > 0`},
		{"retry period zero", func(c *Config) { c.LeaderElection.RetryPeriod = 0 }, "leaderElection.retryPeriod", `"0s" must be > 0`},
		{"renew deadline not below lease duration", func(c *Config) { c.LeaderElection.RenewDeadline = dur("15s") },
			"leaderElection.renewDeadline", `"15s" must be shorter than leaseDuration "15s"`},
		{"retry period too long for renew deadline", func(c *Config) { c.LeaderElection.RetryPeriod = dur("9s") },
			"leaderElection.retryPeriod", `"9s" is too long for renewDeadline "10s"`},

		// Server.
		{"address missing", func(c *Config) { c.Server.Address = "" }, "server.address", "must be set"},
		{"address without port", func(c *Config) { c.Server.Address = "8080" }, "server.address", `"8080" must be host:port`},
		{"address port out of range", func(c *Config) { c.Server.Address = ":99999" }, "server.address", `":99999" has an invalid port`},
		{"address named port", func(c *Config) { c.Server.Address = ":http" }, "server.address", `":http" has an invalid port`},

		// Targets: identity.
		{"no targets", func(c *Config) { c.Targets = nil }, "targets", "at least one target is required"},
		{"name missing", func(c *Config) { c.Targets[0].Name = "" }, "targets[0].name", "must be set"},
		{"name with capitals", func(c *Config) { c.Targets[0].Name = "AI-inference" }, "targets[0].name", `"AI-inference" is not a DNS-1123 label`},
		{"name ending with dash", func(c *Config) { c.Targets[0].Name = "inference-" }, "targets[0].name", `"inference-" is not a DNS-1123 label`},
		{"name too long", func(c *Config) { c.Targets[0].Name = strings.Repeat("a", 64) }, "targets[0].name", strings.Repeat("a", 64)},
		{"name repeated", func(c *Config) { secondTarget(c, "ai-inference", "other-hpa") },
			"targets[1].name", `"ai-inference" is already used by targets[0]`},
		{"namespace missing", func(c *Config) { c.Targets[0].Namespace = "" }, "targets[0].namespace", "must be set"},
		{"namespace invalid", func(c *Config) { c.Targets[0].Namespace = "my_ns" }, "targets[0].namespace", `"my_ns" is not a DNS-1123 label`},
		{"neither hpa nor scaledObject", func(c *Config) { c.Targets[0].HPA = "" },
			"targets[0].hpa", "must be set unless scaledObject is set"},
		{"both hpa and scaledObject", func(c *Config) { c.Targets[0].ScaledObject = "ai-so" },
			"targets[0].scaledObject", `"ai-so" cannot be set together with hpa "inference-hpa"`},
		{"hpa name invalid", func(c *Config) { c.Targets[0].HPA = "Inference HPA" }, "targets[0].hpa", `"Inference HPA" is not a valid object name`},
		{"scaledObject name invalid", func(c *Config) { c.Targets[0].HPA, c.Targets[0].ScaledObject = "", "-so" },
			"targets[0].scaledObject", `"-so" is not a valid object name`},
		{"hpa managed twice", func(c *Config) { secondTarget(c, "copy", "inference-hpa") },
			"targets[1].hpa", `"default/inference-hpa" is already managed by targets[0]`},
		{"scaledObject managed twice", func(c *Config) {
			c.Targets[0].HPA, c.Targets[0].ScaledObject = "", "llm"
			second := secondTarget(c, "copy", "")
			second.ScaledObject = "llm"
		}, "targets[1].scaledObject", `"default/llm" is already managed by targets[0]`},
		{"mode unknown", func(c *Config) { c.Targets[0].Mode = "dry-run" }, "targets[0].mode", `"dry-run" must be one of active, shadow`},
		{"mode empty", func(c *Config) { c.Targets[0].Mode = "" }, "targets[0].mode", `"" must be one of active, shadow`},

		// Targets: queries and capacity.
		{"demand missing", func(c *Config) { c.Targets[0].Queries.Demand = "" }, "targets[0].queries.demand", "must be set"},
		{"demand blank", func(c *Config) { c.Targets[0].Queries.Demand = "  " }, "targets[0].queries.demand", "must be set"},
		{"capacity unset", func(c *Config) { c.Targets[0].ReplicaCapacity = ReplicaCapacity{} },
			"targets[0].replicaCapacity", `must be set to "auto" or a number > 0`},
		{"capacity negative", func(c *Config) { c.Targets[0].ReplicaCapacity.Value = -5 },
			"targets[0].replicaCapacity", `-5 must be a number > 0 or "auto"`},
		{"capacity infinite", func(c *Config) { c.Targets[0].ReplicaCapacity.Value = math.Inf(1) },
			"targets[0].replicaCapacity", `+Inf must be a number > 0`},
		{"capacity NaN", func(c *Config) { c.Targets[0].ReplicaCapacity.Value = math.NaN() },
			"targets[0].replicaCapacity", `NaN must be a number > 0`},
		{"auto capacity without fallback", func(c *Config) { c.Targets[0].ReplicaCapacity = ReplicaCapacity{Auto: true} },
			"targets[0].fallbackReplicaCapacity", `0 must be > 0 when replicaCapacity is "auto"`},
		{"fallback negative", func(c *Config) { c.Targets[0].FallbackReplicaCapacity = -1 },
			"targets[0].fallbackReplicaCapacity", "-1 must be >= 0"},

		// Targets: SLO.
		{"latency objective negative", func(c *Config) { c.Targets[0].SLO.Latency = dur("-1s") },
			"targets[0].slo.latency", `"-1s" must be >= 0`},
		{"latency objective without query", func(c *Config) { c.Targets[0].Queries.Latency = "" },
			"targets[0].slo.latency", `"500ms" needs queries.latency`},
		{"gpu ceiling zero", func(c *Config) { c.Targets[0].SLO.GPUUtilizationCeiling = 0 },
			"targets[0].slo.gpuUtilizationCeiling", "0 must be in (0, 1]"},
		{"gpu ceiling in percent", func(c *Config) { c.Targets[0].SLO.GPUUtilizationCeiling = 90 },
			"targets[0].slo.gpuUtilizationCeiling", "90 must be in (0, 1]"},

		// Targets: forecast.
		{"step zero", func(c *Config) { c.Targets[0].Forecast.Step = 0 }, "targets[0].forecast.step", `"0s" must be > 0`},
		{"step fraction of a second", func(c *Config) { c.Targets[0].Forecast.Step = dur("1500ms") },
			"targets[0].forecast.step", `"1.5s" must be a whole number of seconds`},
		{"season not a multiple of step", func(c *Config) {
			c.Targets[0].Forecast.Step, c.Targets[0].Forecast.Season = dur("7m"), dur("25h")
		}, "targets[0].forecast.season", `"1d1h" is not a multiple of step "7m"`},
		{"season of one step", func(c *Config) { c.Targets[0].Forecast.Season = dur("1m") },
			"targets[0].forecast.season", `"1m" must be at least 2 steps of "1m"`},
		{"season negative", func(c *Config) { c.Targets[0].Forecast.Season = dur("-1h") },
			"targets[0].forecast.season", `"-1h" must be >= 0`},
		{"season2 negative", func(c *Config) { c.Targets[0].Forecast.Season2 = dur("-1h") },
			"targets[0].forecast.season2", `"-1h" must be >= 0`},
		{"season2 without season", func(c *Config) {
			c.Targets[0].Forecast.Season, c.Targets[0].Forecast.Season2 = 0, dur("7d")
		}, "targets[0].forecast.season2", `"7d" needs a primary season`},
		{"season2 not a multiple of season", func(c *Config) { c.Targets[0].Forecast.Season2 = dur("36h") },
			"targets[0].forecast.season2", `"1d12h" is not a multiple of season "1d"`},
		{"season2 equal to season", func(c *Config) { c.Targets[0].Forecast.Season2 = dur("1d") },
			"targets[0].forecast.season2", `"1d" must be longer than season "1d"`},
		{"history shorter than step", func(c *Config) {
			c.Targets[0].Forecast.History = dur("30s")
		}, "targets[0].forecast.history", `"30s" must be at least one step ("1m")`},
		{"refit zero", func(c *Config) { c.Targets[0].Forecast.Refit = 0 }, "targets[0].forecast.refit", `"0s" must be > 0`},
		{"quantile above one", func(c *Config) { c.Targets[0].Forecast.Quantile = 1.3 },
			"targets[0].forecast.quantile", "1.3 must be in (0, 1)"},
		{"quantile one", func(c *Config) { c.Targets[0].Forecast.Quantile = 1 }, "targets[0].forecast.quantile", "1 must be in (0, 1)"},
		{"quantile zero", func(c *Config) { c.Targets[0].Forecast.Quantile = 0 }, "targets[0].forecast.quantile", "0 must be in (0, 1)"},
		{"floor utilization above one", func(c *Config) { c.Targets[0].Forecast.FloorUtilization = 1.2 },
			"targets[0].forecast.floorUtilization", "1.2 must be in (0, 1]"},
		{"negative overload budget", func(c *Config) { c.Targets[0].SLO.OverloadBudget = dur("-1m") },
			"targets[0].slo.overloadBudget", `"-1m" must be >= 0`},
		{"tuned HPA target above one", func(c *Config) {
			c.Targets[0].SLO.OverloadBudget = dur("10m")
			c.Targets[0].Tuning.HPATargetUtilization = 1.5
		}, "targets[0].tuning.hpaTargetUtilization", "1.5 must be in (0, 1]"},
		{"history too short to tune", func(c *Config) {
			c.Targets[0].SLO.OverloadBudget = dur("10m")
			c.Targets[0].Forecast.History = dur("1d")
		}, "targets[0].forecast.history", `"1d" must hold a season to fit and a day to replay ("2d")`},
		{"quantile NaN", func(c *Config) { c.Targets[0].Forecast.Quantile = math.NaN() },
			"targets[0].forecast.quantile", "NaN must be in (0, 1)"},
		{"interval in percent", func(c *Config) { c.Targets[0].Forecast.Interval = 80 },
			"targets[0].forecast.interval", "80 must be in (0, 1)"},

		// Targets: lead time, bounds, scale-down.
		{"lead time zero", func(c *Config) { c.Targets[0].LeadTime = LeadTime{} }, "targets[0].leadTime", `"0s" must be > 0 or "auto"`},
		{"lead time negative", func(c *Config) { c.Targets[0].LeadTime = LeadTime{Duration: -time.Minute} },
			"targets[0].leadTime", `"-1m" must be > 0`},
		{"min replicas negative", func(c *Config) { c.Targets[0].Bounds.MinReplicas = -1 },
			"targets[0].bounds.minReplicas", "-1 must be >= 0"},
		{"max replicas negative", func(c *Config) { c.Targets[0].Bounds.MaxReplicas = -2 },
			"targets[0].bounds.maxReplicas", "-2 must be >= 0"},
		{"min above max", func(c *Config) { c.Targets[0].Bounds = Bounds{MinReplicas: 10, MaxReplicas: 5} },
			"targets[0].bounds.minReplicas", "10 must be <= maxReplicas 5"},
		{"stabilization negative", func(c *Config) { c.Targets[0].ScaleDown.Stabilization = dur("-5m") },
			"targets[0].scaleDown.stabilization", `"-5m" must be >= 0`},
		{"max step zero", func(c *Config) { c.Targets[0].ScaleDown.MaxStepPercent = 0 },
			"targets[0].scaleDown.maxStepPercent", "0 must be in (0, 100]"},
		{"max step above 100", func(c *Config) { c.Targets[0].ScaleDown.MaxStepPercent = 101 },
			"targets[0].scaleDown.maxStepPercent", "101 must be in (0, 100]"},
		{"demotion window below a step", func(c *Config) { c.Targets[0].Demotion.Window = dur("30s") },
			"targets[0].demotion.window", `"30s" must be at least one forecast step ("1m")`},
		{"demotion threshold zero", func(c *Config) { c.Targets[0].Demotion.ErrorAbove = 0 },
			"targets[0].demotion.errorAbove", "0 must be > 0"},
		{"recovery not below the threshold", func(c *Config) { c.Targets[0].Demotion.RecoverBelow = 0.5 },
			"targets[0].demotion.recoverBelow", "0.5 must be > 0 and below errorAbove 0.5"},
		{"short share above one", func(c *Config) { c.Targets[0].Demotion.ShortAbove = 1.2 },
			"targets[0].demotion.shortAbove", "1.2 must be in [0, 1]"},
		{"learn window below a step", func(c *Config) {
			c.Targets[0].ReplicaCapacity = ReplicaCapacity{Auto: true}
			c.Targets[0].FallbackReplicaCapacity = 10
			c.Targets[0].SLO.LearnWindow = dur("10s")
		}, "targets[0].slo.learnWindow", `"10s" must be at least one forecast step ("1m")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.mutate(cfg)
			err := cfg.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want a problem with %s", tt.wantField)
			}
			assertProblem(t, err, tt.wantField, tt.wantText)
		})
	}
}

// assertProblem fails unless err holds a FieldError for field whose text
// contains want.
func assertProblem(t *testing.T, err error, field, want string) {
	t.Helper()
	for _, problem := range problemsOf(err) {
		var fieldErr *FieldError
		if !errors.As(problem, &fieldErr) || fieldErr.Field != field {
			continue
		}
		text := problem.Error()
		if strings.HasPrefix(text, field+": ") && strings.Contains(text, want) {
			return
		}
	}
	t.Errorf("no problem %q containing %q in:\n%v", field, want, err)
}

func problemsOf(err error) []error {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		return joined.Unwrap()
	}
	return []error{err}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := validConfig()
	second := secondTarget(cfg, "second", "")
	second.Forecast.Step, second.Forecast.Season = dur("7m"), dur("25h")
	cfg.Interval = 0
	cfg.Prometheus.URL = "ftp://prom"
	cfg.Targets[0].Forecast.Quantile = 1.3

	err := cfg.Validate()
	want := []string{
		`interval: "0s" must be > 0`,
		`prometheus.url: "ftp://prom" must start with http:// or https://`,
		`targets[0].forecast.quantile: 1.3 must be in (0, 1)`,
		`targets[1].hpa: must be set unless scaledObject is set`,
		`targets[1].forecast.season: "1d1h" is not a multiple of step "7m"`,
	}
	if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Validate() =\n%s\nwant\n%s", err, strings.Join(want, "\n"))
	}
	if n := len(problemsOf(err)); n != len(want) {
		t.Errorf("Validate() joined %d errors, want %d", n, len(want))
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string
	}{
		{"history shorter than two seasons", func(c *Config) { c.Targets[0].Forecast.History = dur("1d") },
			`targets[0].forecast.history: "1d" is shorter than two seasons of "1d"`},
		{"history shorter than two second seasons", func(c *Config) { c.Targets[0].Forecast.Season2 = dur("14d") },
			`targets[0].forecast.history: "14d" is shorter than two seasons of "14d"`},
		{"fallback with a fixed capacity", func(c *Config) { c.Targets[0].FallbackReplicaCapacity = 50 },
			`targets[0].fallbackReplicaCapacity: 50 is ignored`},
		{"timeout longer than interval", func(c *Config) { c.Prometheus.Timeout = dur("20s") },
			`prometheus.timeout: "20s" is longer than interval "15s"`},
		{"insecure TLS", func(c *Config) { c.Prometheus.TLS.InsecureSkipVerify = true },
			`prometheus.tls.insecureSkipVerify: true`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.mutate(cfg)
			if err := cfg.Validate(); err != nil {
				t.Fatalf("a warning case must stay valid: %v", err)
			}
			warnings := cfg.Warnings()
			if len(warnings) != 1 || !strings.HasPrefix(warnings[0], tt.want) {
				t.Errorf("Warnings() = %q, want one starting with %q", warnings, tt.want)
			}
		})
	}
	if warnings := validConfig().Warnings(); len(warnings) != 0 {
		t.Errorf("validConfig().Warnings() = %q, want none", warnings)
	}
}
