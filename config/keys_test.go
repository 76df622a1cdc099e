package config

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestEnvNames(t *testing.T) {
	tests := []struct {
		path []string
		want []string
	}{
		{[]string{"interval"}, []string{"PRESCALER_INTERVAL"}},
		{[]string{"prometheus", "url"}, []string{"PRESCALER_PROMETHEUS_URL"}},
		{[]string{"prometheus", "bearerTokenFile"}, []string{"PRESCALER_PROMETHEUS_BEARER_TOKEN_FILE", "PRESCALER_PROMETHEUS_BEARERTOKENFILE"}},
		{[]string{"leaderElection", "leaseDuration"}, []string{"PRESCALER_LEADER_ELECTION_LEASE_DURATION", "PRESCALER_LEADERELECTION_LEASEDURATION"}},
		{[]string{"prometheus", "tls", "caFile"}, []string{"PRESCALER_PROMETHEUS_TLS_CA_FILE", "PRESCALER_PROMETHEUS_TLS_CAFILE"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.path, "."), func(t *testing.T) {
			if got := envNames(tt.path); !slices.Equal(got, tt.want) {
				t.Errorf("envNames(%q) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

func TestEnvCoversEveryScalarOutsideTargets(t *testing.T) {
	var got []string
	for _, path := range scalarPaths(reflect.TypeFor[Config](), nil, false) {
		got = append(got, strings.Join(path, "."))
	}
	want := []string{
		"interval", "prometheus.url", "prometheus.timeout", "prometheus.bearerTokenFile",
		"prometheus.basicAuth.username", "prometheus.basicAuth.passwordFile",
		"prometheus.tls.caFile", "prometheus.tls.certFile", "prometheus.tls.keyFile",
		"prometheus.tls.serverName", "prometheus.tls.insecureSkipVerify",
		"leaderElection.enabled", "leaderElection.namespace", "leaderElection.leaseName",
		"leaderElection.leaseDuration", "leaderElection.renewDeadline", "leaderElection.retryPeriod",
		"server.address", "discovery.enabled", "checkpoint.path", "checkpoint.interval",
	}
	if !slices.Equal(got, want) {
		t.Errorf("overridable keys = %q, want %q", got, want)
	}
}

func TestClosestKey(t *testing.T) {
	known := []string{"minReplicas", "maxReplicas"}
	tests := []struct{ typo, want string }{
		{"minReplica", "minReplicas"},
		{"MinReplicas", "minReplicas"},
		{"maxreplicas", "maxReplicas"},
		{"min_replicas", "minReplicas"},
		{"replicas", ""},
		{"x", ""},
	}
	for _, tt := range tests {
		if got := closestKey(tt.typo, known); got != tt.want {
			t.Errorf("closestKey(%q) = %q, want %q", tt.typo, got, tt.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"kitten", "sitting", 3},
		{"timeout", "timout", 1},
		{"season", "season", 0},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestDocsDescribeEveryKey keeps docs/config.md in step with the Config type:
// every key, every environment variable and the example must appear in it.
func TestDocsDescribeEveryKey(t *testing.T) {
	data, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatalf("read docs: %v", err)
	}
	doc := string(data)
	for _, path := range scalarPaths(reflect.TypeFor[Config](), nil, true) {
		if key := "`" + strings.Join(path, ".") + "`"; !strings.Contains(doc, key) {
			t.Errorf("docs/config.md does not describe %s", key)
		}
	}
	for _, path := range scalarPaths(reflect.TypeFor[Config](), nil, false) {
		if name := envNames(path)[0]; !strings.Contains(doc, name) {
			t.Errorf("docs/config.md does not name %s", name)
		}
	}
	if !strings.Contains(doc, string(Example())) {
		t.Error("docs/config.md does not hold config/example.yaml verbatim")
	}
}
