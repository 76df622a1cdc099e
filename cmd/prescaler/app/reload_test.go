package app

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/prescaler/prescaler/config"
)

// countingPrometheus answers every query with an empty result and counts
// the requests it got.
func countingPrometheus(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"matrix","result":[]}}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// offlineKubeconfig points at an address nothing listens on: the runner is
// built, never started.
func offlineKubeconfig(t *testing.T) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1"}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "t"}
	kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	kc.CurrentContext = "c"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func reloadConfig(promURL, extra string) string {
	return fmt.Sprintf(`prometheus: {url: %q}
leaderElection: {enabled: false}
server: {address: "127.0.0.1:0"}
%s
targets:
  - {name: a, namespace: default, hpa: a-hpa, replicaCapacity: 50, leadTime: 3m,
     queries: {demand: 'demand'}, forecast: {step: 1m, season: 1d, history: 2d}}
`, promURL, extra)
}

// Each key family on reload: prometheus.* rebuilds the client (the next
// query goes to the new server); server.* and leaderElection.* are applied
// only at start, so the reload says so (counter, gauge, log) instead of
// counting a success; an invalid file changes nothing.
func TestReloadAppliesOrSaysRestartRequired(t *testing.T) {
	oldProm, oldQueries := countingPrometheus(t)
	newProm, newQueries := countingPrometheus(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(reloadConfig(oldProm.URL, ""))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs bytes.Buffer
	r, err := newRunner(ctx, runFlags{configPath: path, kubeconfig: offlineKubeconfig(t)}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	query := func() {
		t.Helper()
		_, _ = r.prom.Range(ctx, "up", time.Now().Add(-time.Minute), time.Now(), time.Minute)
	}
	result := func(name string) float64 { return testutil.ToFloat64(r.reloads.WithLabelValues(name)) }

	t.Run("prometheus", func(t *testing.T) {
		write(reloadConfig(newProm.URL, "interval: 20s"))
		r.reload(ctx)
		if result(reloadSuccess) != 1 || testutil.ToFloat64(r.restartRequired) != 0 {
			t.Fatalf("reloads success %v, restart required %v: want an applied reload", result(reloadSuccess), testutil.ToFloat64(r.restartRequired))
		}
		before := oldQueries.Load()
		query()
		if newQueries.Load() != 1 || oldQueries.Load() != before {
			t.Errorf("queries after the reload: new server %d, old %d more: want the new server only", newQueries.Load(), oldQueries.Load()-before)
		}
		if got := r.daemon.Config().Interval; got != config.Duration(20*time.Second) {
			t.Errorf("interval %v after the reload, want 20s", got)
		}
	})
	for _, c := range []struct {
		family, extra, key string
	}{
		{"server", `server: {address: "127.0.0.1:9"}`, "server.address"},
		{"leaderElection", `leaderElection: {enabled: true, leaseName: other}`, "leaderElection.enabled"},
	} {
		t.Run(c.family, func(t *testing.T) {
			logs.Reset()
			text := strings.Replace(reloadConfig(newProm.URL, ""), "leaderElection: {enabled: false}\\nserver: {address: \"127.0.0.1:0\"}\\n", "", 1)
			if c.family == "server" {
				text = strings.Replace(reloadConfig(newProm.URL, ""), `server: {address: "127.0.0.1:0"}`, c.extra, 1)
			} else {
				text = strings.Replace(reloadConfig(newProm.URL, ""), `leaderElection: {enabled: false}`, c.extra, 1)
			}
			before := result(reloadRestartRequired)
			write(text)
			r.reload(ctx)
			if result(reloadRestartRequired) != before+1 || testutil.ToFloat64(r.restartRequired) != 1 {
				t.Errorf("restart_required reloads %v → %v, gauge %v: want one more and 1", before, result(reloadRestartRequired), testutil.ToFloat64(r.restartRequired))
			}
			if !strings.Contains(logs.String(), c.key) || !strings.Contains(logs.String(), "apply only after a restart") {
				t.Errorf("log %q does not name %s as needing a restart", logs.String(), c.key)
			}
			// Back to the started values: nothing waits for a restart.
			write(reloadConfig(newProm.URL, ""))
			r.reload(ctx)
			if testutil.ToFloat64(r.restartRequired) != 0 {
				t.Error("the gauge stays 1 after the start-only keys went back")
			}
		})
	}
	t.Run("invalid", func(t *testing.T) {
		write(reloadConfig("ftp://nowhere", ""))
		r.reload(ctx)
		if result(reloadFailure) != 1 {
			t.Errorf("reload failures %v, want 1", result(reloadFailure))
		}
		before := newQueries.Load()
		query()
		if newQueries.Load() != before+1 {
			t.Error("a rejected reload changed the Prometheus client")
		}
	})
}
