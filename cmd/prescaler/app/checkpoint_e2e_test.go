package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/prescaler/prescaler/test/testbed"
)

// A restart from the checkpoint, with the process's real lifecycle: a
// runner loops and writes the checkpoint on schedule, stops (writing it once
// more), and a new runner with the same config restores every target from
// the file and decides from its first loop, having read from Prometheus
// only the steps since the checkpoint. Prometheus's own count of the
// samples its queries loaded tells the two starts apart: the first runner
// reads two days of 1-minute steps (2,880 samples), the second a handful.
func TestCheckpointRestartDecidesWithoutTheHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	env, _, cfgPath, ctx := startSteadyRun(t)
	t.Setenv("PRESCALER_CHECKPOINT_PATH", "") // empty: the config's path holds
	checkpoint := filepath.Join(t.TempDir(), "models.ckpt")
	cfg, _ := os.ReadFile(cfgPath)
	writeFile(t, cfgPath, strings.Replace(string(cfg), "leaderElection: {enabled: false}", fmt.Sprintf(`leaderElection: {enabled: false}
interval: 1s
server: {address: "127.0.0.1:0"}
checkpoint: {path: %q, interval: 1s}`, checkpoint), 1))

	samplesBefore := promSamplesLoaded(ctx, t, env)
	first, firstLog := startCheckpointRunner(ctx, t, env, cfgPath)
	testbed.WaitFor(ctx, t, "a checkpoint on schedule and the first decision on the HPA", func() (bool, error) {
		if _, err := os.Stat(checkpoint); err != nil {
			return false, nil
		}
		hpa, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "inference-hpa", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return *hpa.Spec.MinReplicas == 6, nil
	})
	first.stop(t)
	if msgs := firstLog.messages("checkpoint not written; the last one stays"); len(msgs) > 0 {
		t.Fatalf("the first runner failed to write its checkpoint: %v", msgs)
	}
	if v := metricValue(t, first.r, "prescaler_checkpoint_writes_total", "result", "success"); v < 2 {
		t.Fatalf("the first runner wrote %v checkpoints, want one on schedule and one at shutdown", v)
	}
	if v := metricValue(t, first.r, "prescaler_checkpoint_written_targets", "", ""); v != 1 {
		t.Fatalf("the last checkpoint holds %v targets, want 1", v)
	}

	// The first start read the whole history: the count sees a backfill.
	const historySteps = 2 * 24 * 60
	samplesAtRestart := promSamplesLoaded(ctx, t, env)
	if read := samplesAtRestart - samplesBefore; read < historySteps {
		t.Fatalf("the first runner's queries loaded %v samples, fewer than its %d steps of history", read, historySteps)
	}

	second, secondLog := startCheckpointRunner(ctx, t, env, cfgPath)
	testbed.WaitFor(ctx, t, "the second runner's first loop", func() (bool, error) {
		return !second.r.daemon.LastLoopEnd().IsZero(), nil
	})
	// A few steps since the checkpoint, a few loops at most; a target read
	// from more than backfillAbove (60) steps back would be a backfill.
	read := promSamplesLoaded(ctx, t, env) - samplesAtRestart
	t.Logf("samples loaded: %v by the first start, %v by the restored one's first loop", samplesAtRestart-samplesBefore, read)
	if read > 60 {
		t.Errorf("the restored runner's queries loaded %v samples: it read history the checkpoint holds", read)
	}
	for outcome, want := range map[string]float64{"restored": 1, "model_changed": 0, "stale": 0, "refused": 0, "not_in_checkpoint": 0} {
		if v := metricValue(t, second.r, "prescaler_checkpoint_restored_targets", "outcome", outcome); v != want {
			t.Errorf("prescaler_checkpoint_restored_targets{outcome=%q} = %v, want %v", outcome, v, want)
		}
	}
	// The daemon logs each target's outcome once per loop: the first such
	// line is the first loop's.
	loop := secondLog.firstTargetOutcome("ai-inference")
	if loop.msg != "target decided" || loop.attrs["reason"] != "forecast" || loop.attrs["floor"] != "6" {
		t.Fatalf("the restored runner's first loop: %q %v, want a forecast floor of 6", loop.msg, loop.attrs)
	}
	second.stop(t)
}

// checkpointRunner is a runner looping in the background.
type checkpointRunner struct {
	r      *runner
	cancel context.CancelFunc
	done   chan error
}

// startCheckpointRunner builds a runner for the config at cfgPath and runs
// it until stop (or the test's end); its log is kept at every level.
func startCheckpointRunner(ctx context.Context, t *testing.T, env *testbed.Env, cfgPath string) (*checkpointRunner, *recordedLog) {
	t.Helper()
	rctx, cancel := context.WithCancel(ctx)
	log := &recordedLog{}
	r, err := newRunner(rctx, runFlags{configPath: cfgPath, kubeconfig: env.Kubeconfig, reload: time.Hour}, slog.New(log))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	cr := &checkpointRunner{r: r, cancel: cancel, done: make(chan error, 1)}
	go func() { cr.done <- r.run(rctx) }()
	t.Cleanup(func() { cr.stop(t) })
	return cr, log
}

// stop ends the runner as SIGTERM does and waits until it has returned
// (its last checkpoint written). Stopping twice is harmless.
func (cr *checkpointRunner) stop(t *testing.T) {
	t.Helper()
	cr.cancel()
	if err, ok := <-cr.done; ok {
		close(cr.done)
		if err != nil {
			t.Errorf("the runner returned %v on shutdown", err)
		}
	}
}

// promSamplesLoaded is Prometheus's count of the samples its queries have
// loaded (prometheus_engine_query_samples_total): a range query of n steps
// over one series loads n.
func promSamplesLoaded(ctx context.Context, t *testing.T, env *testbed.Env) float64 {
	t.Helper()
	const name = "prometheus_engine_query_samples_total"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, env.PrometheusURL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if value, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return v
		}
	}
	t.Fatalf("Prometheus exports no %s", name)
	return 0
}

// logLine is one log record: its message and its attributes as text.
type logLine struct {
	msg   string
	attrs map[string]string
}

// recordedLog is a slog.Handler that keeps every record, at every level.
type recordedLog struct {
	mu    sync.Mutex
	lines []logLine
}

func (l *recordedLog) Enabled(context.Context, slog.Level) bool { return true }

func (l *recordedLog) Handle(_ context.Context, rec slog.Record) error {
	line := logLine{msg: rec.Message, attrs: map[string]string{}}
	rec.Attrs(func(a slog.Attr) bool {
		line.attrs[a.Key] = a.Value.String()
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	return nil
}

// WithAttrs and WithGroup keep the records' own attributes only, which is
// all these tests read.
func (l *recordedLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *recordedLog) WithGroup(string) slog.Handler      { return l }

// messages returns the attributes of every line with message msg.
func (l *recordedLog) messages(msg string) []map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]string
	for _, line := range l.lines {
		if line.msg == msg {
			out = append(out, line.attrs)
		}
	}
	return out
}

// firstTargetOutcome is the first loop outcome logged for target (see
// Daemon.logOutcome: one line per target and loop).
func (l *recordedLog) firstTargetOutcome(target string) logLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		switch line.msg {
		case "target decided", "target skipped", "target loop degraded", "forecast demoted: reactive scaling", "forecast promoted":
			if line.attrs["target"] == target {
				return line
			}
		}
	}
	return logLine{msg: "(no outcome logged)"}
}
