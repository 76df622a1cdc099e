package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/klog/v2"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/internal/version"
)

// lockedBuffer is a log writer that klog's goroutines may share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSpace(b.buf.String()), "\n")
}

// captureStderr points os.Stderr, where klog writes by default, at a pipe
// until the returned function is called, which returns what was written.
func captureStderr(t *testing.T) func() string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	read := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		read <- string(b)
	}()
	done := false
	stop := func() string {
		if done {
			return ""
		}
		done = true
		klog.Flush()
		os.Stderr = saved
		_ = w.Close()
		return <-read
	}
	t.Cleanup(func() { stop() })
	return stop
}

// TestMain routes klog before any test starts a client: klog's own
// logger is set once per process (routeKlog), and setting it while
// client-go goroutines log would race, as it would in `prescaler run` if it
// were not the first thing done.
//
// Run under the name kubectl-prescaler (a link to the test binary), it is
// the prescaler command instead, as kubectl runs its plugin: the kubectl
// plugin test runs the code under test without building a binary.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == pluginName {
		if err := NewRootCommand(os.Stdout, os.Stderr).Execute(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	if err := routeKlog(slog.New(slog.NewTextHandler(os.Stderr, nil)), slog.LevelInfo); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

// resetKlog points klog back at standard error, as text at verbosity 0,
// when the test ends.
func resetKlog(t *testing.T) {
	t.Cleanup(func() {
		if err := routeKlog(slog.New(slog.NewTextHandler(os.Stderr, nil)), slog.LevelInfo); err != nil {
			t.Error(err)
		}
	})
}

// logKlog logs through every way client-go and its helpers log.
func logKlog() {
	klog.InfoS("klog structured", "pod", "a")
	klog.Info("klog unstructured")
	klog.Warning("klog warning")
	klog.ErrorS(errors.New("boom"), "klog error", "pod", "a")
	klog.FromContext(context.Background()).Info("contextual")
	klog.V(1).InfoS("klog V(1)")
	klog.FromContext(context.Background()).V(1).Info("contextual V(1)")
	klog.V(4).InfoS("klog V(4)")
	klog.FromContext(context.Background()).V(4).Info("contextual V(4)")
	klog.V(5).InfoS("klog V(5)")
	klog.FromContext(context.Background()).V(5).Info("contextual V(5)")
}

func TestKlogGoesThroughTheJSONLogger(t *testing.T) {
	resetKlog(t)
	stderr := captureStderr(t)
	var out lockedBuffer
	if _, err := newLogger(&out, "json", "info"); err != nil {
		t.Fatal(err)
	}
	logKlog()
	if got := stderr(); got != "" {
		t.Errorf("klog wrote to standard error:\n%s", got)
	}
	var msgs []string
	for _, line := range out.lines() {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("a line that is not JSON: %q", line)
		}
		msgs = append(msgs, rec["msg"].(string))
		if rec["msg"] == "klog error" && (rec["level"] != "ERROR" || rec["err"] != "boom" || rec["pod"] != "a") {
			t.Errorf("klog.ErrorS became %v, want level ERROR, err boom and pod a", rec)
		}
		if rec["msg"] == "klog structured" && (rec["level"] != "INFO" || rec["pod"] != "a") {
			t.Errorf("klog.InfoS became %v, want level INFO and pod a", rec)
		}
	}
	want := []string{"klog structured", "klog unstructured", "klog warning", "klog error", "contextual"}
	if !slices.Equal(msgs, want) {
		t.Errorf("logged %q, want %q (V(1) and up left out at info)", msgs, want)
	}
}

func TestKlogVerbosityFollowsTheLogLevel(t *testing.T) {
	resetKlog(t)
	stderr := captureStderr(t)
	var out lockedBuffer
	if _, err := newLogger(&out, "text", "debug"); err != nil {
		t.Fatal(err)
	}
	logKlog()
	if got := stderr(); got != "" {
		t.Errorf("klog wrote to standard error:\n%s", got)
	}
	lines := out.lines()
	text := strings.Join(lines, "\n")
	// klog's bridge logs V(n) at the slog level -n: DEBUG+3 for V(1).
	for _, in := range []string{"klog V(1)", "contextual V(1)", "klog V(4)", "contextual V(4)"} {
		i := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, `msg="`+in+`"`) })
		if i < 0 || !strings.Contains(lines[i], " level=DEBUG") {
			t.Errorf("at debug, %q is not a debug line:\n%s", in, text)
		}
	}
	for _, out := range []string{"klog V(5)", "contextual V(5)"} {
		if strings.Contains(text, out) {
			t.Errorf("at debug, %q was logged:\n%s", out, text)
		}
	}
}

func TestNewLoggerRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct{ format, level, want string }{
		{"xml", "info", `--log-format "xml"`},
		{"json", "loud", `--log-level "loud"`},
	} {
		if _, err := newLogger(io.Discard, tc.format, tc.level); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("newLogger(%q, %q) error %v, want one naming %s", tc.format, tc.level, err, tc.want)
		}
	}
}

func TestStartLineNamesTheBuildAndEachTarget(t *testing.T) {
	resetKlog(t)
	var out lockedBuffer
	log, err := newLogger(&out, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	a := config.DefaultTarget()
	a.Name, a.Namespace, a.HPA, a.Mode = "llama", "serving", "llama-hpa", config.ModeActive
	b := config.DefaultTarget()
	b.Name, b.Namespace, b.ScaledObject, b.Mode = "whisper", "audio", "whisper-so", config.ModeShadow
	cfg.Targets = []config.Target{a, b}
	logStart(log, cfg, []string{"default", "team-a"})

	lines := out.lines()
	if len(lines) != 1 {
		t.Fatalf("start-up logged %d lines, want one:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	var rec struct {
		Level, Msg, Version, Commit string
		Targets                     int
		TargetObjects               []string `json:"target_objects"`
		Discovery                   bool
		Namespaces                  []string
	}
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	want := []string{"llama: HorizontalPodAutoscaler serving/llama-hpa, active", "whisper: ScaledObject audio/whisper-so, shadow"}
	if rec.Level != "INFO" || rec.Version != version.Get().Version || rec.Commit != version.Get().Commit ||
		rec.Targets != 2 || !slices.Equal(rec.TargetObjects, want) || rec.Discovery ||
		!slices.Equal(rec.Namespaces, []string{"default", "team-a"}) {
		t.Errorf("start-up line %s, want level INFO, version %q, commit %q, 2 targets %q, discovery off, two namespaces",
			lines[0], version.Get().Version, version.Get().Commit, want)
	}
}
