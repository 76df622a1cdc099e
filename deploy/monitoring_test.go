package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/prescaler/prescaler/test/testbed"
)

// The dashboard and the alerts must only name metrics prescaler exports: a
// renamed metric would otherwise leave an empty panel or an alert that can
// never fire. These tests read the files as shipped.

const (
	rulesFile     = "monitoring/prometheusrule.yaml"
	rulesTestFile = "monitoring/alerts_test.yaml"
	dashboardFile = "monitoring/grafana-dashboard.json"
)

// dashboard is the part of Grafana's dashboard model the checks read.
type dashboard struct {
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name string `json:"name"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// TestDashboardIsWellFormed checks what Grafana needs to import the
// dashboard: identity, unique panel ids, a layout inside the 24-column grid,
// queries with unique refIds on the selectable data source, and only
// template variables that are defined.
func TestDashboardIsWellFormed(t *testing.T) {
	d := readDashboard(t)
	if d.Title == "" || d.UID == "" || d.SchemaVersion < 30 || len(d.Panels) == 0 {
		t.Fatalf("dashboard title %q uid %q schemaVersion %d panels %d", d.Title, d.UID, d.SchemaVersion, len(d.Panels))
	}
	vars := map[string]bool{"__rate_interval": true, "__interval": true, "__range": true}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W < 1 || p.GridPos.X+p.GridPos.W > 24 || p.GridPos.H < 1 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: data source %q with %d queries", p.Title, p.Datasource.UID, len(p.Targets))
		}
		refs := map[string]bool{}
		for _, q := range p.Targets {
			if q.Expr == "" || q.RefID == "" || refs[q.RefID] {
				t.Errorf("panel %q: query %+v lacks an expression or a unique refId", p.Title, q)
			}
			refs[q.RefID] = true
			for _, m := range regexp.MustCompile(`\$\{?(\w+)`).FindAllStringSubmatch(q.Expr, -1) {
				if !vars[m[1]] {
					t.Errorf("panel %q: query %q uses undefined variable $%s", p.Title, q.Expr, m[1])
				}
			}
		}
	}
}

// prometheusRule reads the PrometheusRule and returns its spec as a plain
// Prometheus rules file, the form promtool and a Prometheus server read.
func prometheusRule(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Kind string          `json:"kind"`
		Spec json.RawMessage `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &rule); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	if rule.Kind != "PrometheusRule" {
		t.Fatalf("%s is a %q", rulesFile, rule.Kind)
	}
	out, err := yaml.JSONToYAML(rule.Spec)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// referencedMetrics lists the prescaler metrics the dashboard's queries and
// the alert rules name, histogram series mapped to their family.
func referencedMetrics(t *testing.T) []string {
	t.Helper()
	var text strings.Builder
	for _, p := range readDashboard(t).Panels {
		for _, q := range p.Targets {
			text.WriteString(q.Expr + "\n")
		}
	}
	text.Write(prometheusRule(t))
	suffix := regexp.MustCompile(`_(bucket|count|sum)$`)
	var names []string
	for _, n := range regexp.MustCompile(`\bprescaler_[a-z0-9_]+`).FindAllString(text.String(), -1) {
		n = suffix.ReplaceAllString(n, "")
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// TestMonitoringOnARunningPrescaler runs prescaler on the seed's world and
// checks, on its real /metrics: every metric the dashboard and the alerts
// name is exported, and `promtool check metrics` finds nothing to say. On the
// same testbed's promtool, the alerts pass `promtool check rules` and their
// unit tests (alerts_test.yaml).
func TestMonitoringOnARunningPrescaler(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	bin := buildPrescaler(t)
	env, ctx := startWorld(t)
	promtool := env.Tool("promtool")
	t.Run("rules", func(t *testing.T) { checkRules(t, promtool) })

	cfgPath, metricsURL := writeConfig(t, env.PrometheusURL)
	addShadowTarget(ctx, t, env, cfgPath)
	exposition := runAndScrape(ctx, t, env, bin, cfgPath, metricsURL)

	exported := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) `).FindAllStringSubmatch(exposition, -1) {
		exported[m[1]] = true
	}
	names := referencedMetrics(t)
	if len(names) < 20 {
		t.Fatalf("only %d metrics found in the dashboard and alerts: %v", len(names), names)
	}
	for _, n := range names {
		if !exported[n] {
			t.Errorf("%s is in the dashboard or the alerts but not in prescaler's /metrics", n)
		}
	}
	// The docs name metrics too: a reader must find each one on /metrics.
	// The node agent's own (prescaler_agent_*) are served by the agent.
	for _, doc := range []string{"../docs/operations.md", "../docs/how-it-decides.md", "../docs/config.md", "../docs/install.md", "../README.md"} {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range regexp.MustCompile(`\bprescaler_[a-z0-9_]+`).FindAllString(string(data), -1) {
			n = regexp.MustCompile(`_(bucket|count|sum)$`).ReplaceAllString(n, "")
			if !exported[n] && !strings.HasPrefix(n, "prescaler_agent_") {
				t.Errorf("%s names %s, which prescaler's /metrics does not export", doc, n)
			}
		}
	}
	// scaledObject is KEDA's camelCase label name, kept so that per-target
	// series join KEDA's (daemon/metrics.go): promtool checks it as the
	// snake_case name it would otherwise have, and still flags any other.
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(regexp.MustCompile(`([{,])scaledObject=`).ReplaceAllString(exposition, "${1}scaled_object="))
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func checkRules(t *testing.T, promtool string) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "prescaler-rules.yaml"), prometheusRule(t), 0o644); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(rulesTestFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check", "rules", "prescaler-rules.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// runAndScrape runs prescaler (admin credentials) until it has written the
// seed's floor and looped again, and returns its /metrics text.
func runAndScrape(ctx context.Context, t *testing.T, env *testbed.Env, bin, cfgPath, metricsURL string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	var out syncBuffer
	cmd := exec.Command(bin, "run", "--config="+cfgPath, "--kubeconfig="+env.Kubeconfig, "--scrape-lag=0s")
	cmd.Env = append(os.Environ(), "POD_NAMESPACE=default")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prescaler's output:\n%s", out.String())
		}
	}()
	testbed.WaitFor(ctx, t, "the seed's floor of 8 on inference-hpa", func() (bool, error) {
		hpa, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "inference-hpa", metav1.GetOptions{})
		return err == nil && *hpa.Spec.MinReplicas == 8, err
	})
	var text string
	testbed.WaitFor(ctx, t, "two loops exported", func() (bool, error) {
		body, err := get(ctx, metricsURL)
		if err != nil {
			return false, nil // not listening yet
		}
		text = body
		m, err := scrape(ctx, metricsURL)
		return err == nil && m["prescaler_loop_duration_seconds"] >= 2, err
	})
	return text
}

func get(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// addShadowTarget adds a second workload (no GPU, so the seed's floor is
// unchanged) and a target for it in shadow mode, whose series only a shadow
// target exports.
func addShadowTarget(ctx context.Context, t *testing.T, env *testbed.Env, cfgPath string) {
	t.Helper()
	dep := testbed.Seed{}.Deployment()
	dep.Name = "ai-inference-shadow"
	labels := map[string]string{"app": dep.Name}
	dep.Spec.Selector.MatchLabels, dep.Spec.Template.Labels = labels, labels
	dep.Spec.Template.Spec.Containers[0].Resources.Limits = nil
	if _, err := env.Client.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hpa := testbed.Seed{}.HPA()
	hpa.Name, hpa.Spec.ScaleTargetRef.Name = "inference-hpa-shadow", dep.Name
	if _, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(`  - {name: shadow, mode: shadow, namespace: default, hpa: inference-hpa-shadow, replicaCapacity: 50, leadTime: 3m,
     queries: {demand: 'ai_requests_per_minute{service="ai-inference"}'}, forecast: {step: 1m, season: 1d, history: 2d}}
`); err != nil {
		t.Fatal(err)
	}
}
