package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prescaler/prescaler/daemon"
)

var sampleStatus = statusReport{Targets: []daemon.TargetStatus{{
	Target: "ai-inference", Kind: "HorizontalPodAutoscaler", Namespace: "default", Name: "inference-hpa", Mode: "active",
	Floor: 8, Needed: 12, Replicas: 8, Reason: "gpu_capacity",
	Forecast:  &daemon.ForecastStatus{MeanNext: 612.44, QuantilePeak: 731.9},
	LastWrite: &daemon.WriteStatus{At: time.Date(2026, 12, 5, 14, 0, 0, 0, time.UTC), PreviousFloor: 1, Floor: 8, Reason: "gpu_capacity"},
}, {
	Target: "chat", Kind: "ScaledObject", Namespace: "team-a", Name: "chat", Mode: "shadow", Skipped: "opted_out",
	Problem: "demand: timeout",
}}}

func TestStatusTable(t *testing.T) {
	var out bytes.Buffer
	if err := printStatusTable(&out, sampleStatus, time.Date(2026, 12, 5, 14, 3, 10, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"TARGET        NAMESPACE  OBJECT             MODE    FLOOR  NEEDED  REPLICAS  REASON             DEMAND/MIN NEXT→PEAK  DEMOTED  LAST WRITE",
		"ai-inference  default    hpa/inference-hpa  active  8      12      8         gpu_capacity       612.4→731.9           no       1→8 3m10s ago (gpu_capacity)",
		"chat          team-a     scaledobject/chat  shadow  0      0       0         skipped: opted_out  -                     no       -",
		"chat: demand: timeout",
	}
	got := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("table:\n%s", out.String())
	}
	for i := range want {
		if strings.Join(strings.Fields(got[i]), " ") != strings.Join(strings.Fields(want[i]), " ") {
			t.Errorf("line %d:\n got %q\nwant %q", i, got[i], want[i])
		}
	}
}

// fakeAPIServer answers the service proxy path of /status: standby
// replicas first, then the leader.
func fakeAPIServer(t *testing.T, standbyAnswers int) (kubeconfig string, requests *atomic.Int32) {
	t.Helper()
	requests = &atomic.Int32{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := requests.Add(1)
		if r.URL.Path != "/api/v1/namespaces/ops/services/http:my-prescaler:http-metrics/proxy/status" {
			http.Error(w, "unexpected path "+r.URL.Path, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if int(n) <= standbyAnswers {
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(statusReport{Standby: true, Targets: []daemon.TargetStatus{}})
			return
		}
		_ = json.NewEncoder(w).Encode(sampleStatus)
	}))
	t.Cleanup(srv.Close)
	kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	text := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`, srv.URL)
	if err := os.WriteFile(kubeconfig, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return kubeconfig, requests
}

func TestStatusThroughTheServiceProxyAsksAgainPastStandbyReplicas(t *testing.T) {
	kubeconfig, requests := fakeAPIServer(t, 2)
	out, err := execute("status", "--kubeconfig", kubeconfig, "-n", "ops", "--service", "my-prescaler", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var got statusReport
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Targets) != 2 || got.Targets[0].Floor != 8 {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	if n := requests.Load(); n != 3 {
		t.Errorf("%d requests, want 2 standby answers then the leader's", n)
	}
}

func TestStatusNamesWhatWentWrong(t *testing.T) {
	kubeconfig, _ := fakeAPIServer(t, 100)
	_, err := execute("status", "--kubeconfig", kubeconfig, "-n", "ops", "--service", "my-prescaler")
	if err == nil || !strings.Contains(err.Error(), "standby") {
		t.Errorf("only standby replicas: error %v", err)
	}
	_, err = execute("status", "--kubeconfig", kubeconfig, "-n", "ops", "--service", "other")
	if err == nil || !strings.Contains(err.Error(), "service ops/other port http-metrics") {
		t.Errorf("a wrong service: error %v", err)
	}
	if _, err := execute("status", "--url", "http://127.0.0.1:1", "-o", "yaml"); err == nil || !strings.Contains(err.Error(), `--output "yaml"`) {
		t.Errorf("-o yaml: error %v", err)
	}
	notStatus := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }))
	defer notStatus.Close()
	if _, err := execute("status", "--url", notStatus.URL); err == nil || !strings.Contains(err.Error(), "not prescaler's status") {
		t.Errorf("a server that is not prescaler: error %v", err)
	}
}
