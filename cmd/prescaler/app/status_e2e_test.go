package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/prescaler/prescaler/daemon"
	"github.com/prescaler/prescaler/test/testbed"
	"github.com/prescaler/prescaler/writer"
)

// pluginName is the name kubectl looks for on PATH for `kubectl prescaler`;
// the test binary linked under it runs the prescaler command (TestMain).
const pluginName = "kubectl-prescaler"

// checkStatusMatchesMetrics serves r as the daemon does and checks, after
// a loop that wrote target's floor, that `prescaler status` says what
// /metrics says (read the way Prometheus reads it), that the object's
// decision annotation records the same write, and that the table is what
// `kubectl prescaler status` prints through kubectl's plugin mechanism.
func checkStatusMatchesMetrics(ctx context.Context, t *testing.T, env *testbed.Env, r *runner, target string) {
	t.Helper()
	srv := httptest.NewServer(r.server().Handler)
	defer srv.Close()

	stdout, err := execute("status", "--url", srv.URL, "-o", "json")
	if err != nil {
		t.Fatalf("prescaler status: %v", err)
	}
	var report statusReport
	if err := json.Unmarshal([]byte(stdout), &report); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, stdout)
	}
	var st *daemon.TargetStatus
	for i := range report.Targets {
		if report.Targets[i].Target == target {
			st = &report.Targets[i]
		}
	}
	if st == nil || st.Forecast == nil || st.LastWrite == nil {
		t.Fatalf("status of %s: %+v", target, st)
	}
	families := scrape(t, srv.URL+"/metrics")
	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		v, ok := seriesValue(families[name], labels)
		if !ok {
			t.Fatalf("no %s%v on /metrics", name, labels)
		}
		return v
	}
	l := map[string]string{"target": target}
	for name, got := range map[string]float64{
		"prescaler_floor_replicas":             float64(st.Floor),
		"prescaler_floor_would_write_replicas": float64(st.Floor),
		"prescaler_needed_replicas":            float64(st.Needed),
	} {
		if want := value(name, l); got != want {
			t.Errorf("status says %v, %s says %v", got, name, want)
		}
	}
	if v := value("prescaler_decision_reason", map[string]string{"target": target, "reason": st.Reason}); v != 1 {
		t.Errorf("status reason %s, its prescaler_decision_reason is %v", st.Reason, v)
	}
	for kind, got := range map[string]float64{"mean_next": st.Forecast.MeanNext, "quantile_peak": st.Forecast.QuantilePeak,
		"mean_lead": st.Forecast.MeanLead, "lower_lead": st.Forecast.LowerLead, "upper_lead": st.Forecast.UpperLead} {
		if want := value("prescaler_forecast_demand_per_minute", map[string]string{"target": target, "statistic": kind}); got != want {
			t.Errorf("forecast %s: status %v, metric %v", kind, got, want)
		}
	}
	if v := value("prescaler_demoted", l); (v == 1) != st.Demoted {
		t.Errorf("status demoted %v, prescaler_demoted %v", st.Demoted, v)
	}

	// The object records the same write.
	obj, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers(st.Namespace).Get(ctx, st.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Floor  int32  `json:"floor"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal([]byte(obj.Annotations[writer.AnnotationDecision]), &rec); err != nil ||
		rec.Floor != st.LastWrite.Floor || rec.Reason != st.LastWrite.Reason {
		t.Errorf("annotation %s=%s (%v), status last write %+v", writer.AnnotationDecision, obj.Annotations[writer.AnnotationDecision], err, st.LastWrite)
	}

	// The table, through kubectl's plugin mechanism: kubectl runs
	// kubectl-prescaler from PATH with the rest of its arguments.
	plugins := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(plugins, pluginName)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, env.Binary("kubectl"), "prescaler", "status", "--url", srv.URL)
	cmd.Env = append(os.Environ(), "PATH="+plugins+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl prescaler status: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if !strings.HasPrefix(lines[0], "TARGET") || len(lines) < 2 {
		t.Fatalf("kubectl prescaler status printed:\n%s", out)
	}
	var row []string
	for _, line := range lines[1:] {
		if f := strings.Fields(line); len(f) > 0 && f[0] == target {
			row = f
		}
	}
	// TARGET NAMESPACE OBJECT MODE FLOOR NEEDED REPLICAS REASON ...
	if len(row) < 8 || row[2] != "hpa/"+st.Name || row[3] != st.Mode || row[4] != strconv.Itoa(int(st.Floor)) || row[7] != st.Reason {
		t.Errorf("table row %q, status %+v\n%s", row, st, out)
	}
}

// scrape reads a Prometheus text exposition.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return families
}

// seriesValue is the value of the gauge of f whose labels include want.
func seriesValue(f *dto.MetricFamily, want map[string]string) (float64, bool) {
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && have[k] == v
		}
		if match {
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}
