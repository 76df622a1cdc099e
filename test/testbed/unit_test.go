package testbed

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestWriteOpenMetrics(t *testing.T) {
	t0 := time.Unix(1700000000, 250*int64(time.Millisecond))
	series := []Series{
		{Name: "b_metric", Samples: []Sample{{t0.Add(time.Minute), 2}, {t0, 1}}},
		{Name: "a_metric", Labels: map[string]string{"z": "1", "path": `C:\x "q"` + "\n"}, Samples: []Sample{{t0, math.Inf(1)}}},
		{Name: "b_metric", Labels: map[string]string{"k": "v"}, Samples: []Sample{{t0, 0.5}}},
	}
	var b bytes.Buffer
	if err := WriteOpenMetrics(&b, series); err != nil {
		t.Fatal(err)
	}
	want := `a_metric{path="C:\\x \"q\"\n",z="1"} +Inf 1700000000.250
b_metric 1 1700000000.250
b_metric 2 1700000060.250
b_metric{k="v"} 0.5 1700000000.250
# EOF
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteOpenMetricsRejectsBadNames(t *testing.T) {
	for name, s := range map[string]Series{
		"metric name":   {Name: "1bad"},
		"label name":    {Name: "ok", Labels: map[string]string{"bad-label": "x"}},
		"reserved name": {Name: "ok", Labels: map[string]string{"__name__": "x"}},
	} {
		t.Run(name, func(t *testing.T) {
			if err := WriteOpenMetrics(&bytes.Buffer{}, []Series{s}); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestSeriesFunc(t *testing.T) {
	start := time.Unix(0, 0)
	s := SeriesFunc("m", nil, start, start.Add(5*time.Minute), time.Minute, func(ts time.Time) float64 {
		if ts.Sub(start) == 2*time.Minute {
			return math.NaN() // a gap
		}
		return ts.Sub(start).Minutes()
	})
	if len(s.Samples) != 4 || s.Samples[2].Value != 3 {
		t.Errorf("samples = %v, want minutes 0,1,3,4", s.Samples)
	}
}

func TestPromDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		3650 * 24 * time.Hour:   "3650d",
		5 * time.Second:         "5s",
		90 * time.Minute:        "5400s",
		1500 * time.Millisecond: "1500ms",
	} {
		if got := promDuration(d); got != want {
			t.Errorf("promDuration(%s) = %s, want %s", d, got, want)
		}
	}
}

func TestRequiredVersion(t *testing.T) {
	gomod := []byte("module x\n\nrequire k8s.io/kubernetes v1.37.2\n\nrequire (\n\tgo.etcd.io/etcd/server/v3 v3.6.16 // indirect\n)\n")
	for mod, want := range map[string]string{"k8s.io/kubernetes": "v1.37.2", "go.etcd.io/etcd/server/v3": "v3.6.16"} {
		if got, err := requiredVersion(gomod, mod); err != nil || got != want {
			t.Errorf("requiredVersion(%s) = %q, %v; want %s", mod, got, err, want)
		}
	}
	if _, err := requiredVersion(gomod, "sigs.k8s.io/kwok"); err == nil {
		t.Error("no error for a module go.mod does not require")
	}
}

// TestCacheKey checks that the key names every tool version and changes with
// the tools modules' files.
func TestCacheKey(t *testing.T) {
	tools, err := findToolsDir()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	info, _, err := planBuild(ctx, BuildOptions{ToolsDir: tools, CacheDir: "/cache"})
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"etcd-3.6.16", "kwok-0.8.0", "prom-0.316.0", "k8s-1.37.2", "go1."} {
		if !strings.Contains(info.Key, part) {
			t.Errorf("key %q lacks %q", info.Key, part)
		}
	}
	if want := filepath.Join("/cache", info.Key, "bin"); info.Dir != want {
		t.Errorf("dir = %s, want %s", info.Dir, want)
	}

	// A copy of the tools modules with one go.sum line changed.
	copyDir := t.TempDir()
	for _, m := range toolModules {
		for _, f := range []string{"go.mod", "go.sum"} {
			b, err := os.ReadFile(filepath.Join(tools, m.dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if m.dir == "kwok" && f == "go.sum" {
				b = append(b, "example.com/x v1.0.0 h1:AAAA=\n"...)
			}
			if err := os.MkdirAll(filepath.Join(copyDir, m.dir), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(copyDir, m.dir, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	changed, _, err := planBuild(ctx, BuildOptions{ToolsDir: copyDir, CacheDir: "/cache"})
	if err != nil {
		t.Fatal(err)
	}
	if changed.Key == info.Key {
		t.Errorf("key did not change with go.sum: %s", info.Key)
	}
}

func TestBinEnvFolderIsChecked(t *testing.T) {
	t.Setenv(BinEnv, t.TempDir())
	_, err := Build(context.Background(), BuildOptions{})
	if err == nil || !strings.Contains(err.Error(), "missing etcd") && !strings.Contains(err.Error(), "missing") {
		t.Errorf("Build with an empty %s folder: err = %v, want a list of what is missing", BinEnv, err)
	}
}

func TestOptionsValidate(t *testing.T) {
	good := Options{}.withDefaults()
	if err := good.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for name, tc := range map[string]struct {
		mut  func(*Options)
		want string
	}{
		"negative":       {func(o *Options) { o.NodeMonitorGracePeriod = -time.Second }, "NodeMonitorGracePeriod"},
		"tiny hpa sync":  {func(o *Options) { o.HPASyncPeriod = time.Millisecond }, "HPASyncPeriod"},
		"no controllers": {func(o *Options) { o.Controllers = []string{} }, "Controllers"},
		"unknown extra":  {func(o *Options) { o.ExtraArgs = map[Component][]string{"kubelet": nil} }, "kubelet"},
		"disabled prom":  {func(o *Options) { o.Prometheus.Disabled = true; o.Prometheus.HistoryFile = "x" }, "Disabled"},
		"bad history":    {func(o *Options) { o.Prometheus.History = []Series{{Name: "a b"}} }, "History[0]"},
	} {
		t.Run(name, func(t *testing.T) {
			o := good
			tc.mut(&o)
			err := o.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}
}

// TestProcessStopKillsGroup checks the process hygiene every component relies
// on: Stop takes down the whole process group, children included, even when
// the leader ignores SIGTERM, and reaps it.
func TestProcessStopKillsGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	p := &process{
		name:    "sh",
		bin:     "/bin/sh",
		args:    []string{"-c", "trap '' TERM; sleep 60 & echo $! > " + pidFile + "; wait"},
		logPath: filepath.Join(dir, "sh.log"),
		ready: func(context.Context) error {
			_, err := os.Stat(pidFile)
			return err
		},
	}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	if err := p.waitReady(context.Background(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(pidFile)
	child, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("child pid %q: %v", b, err)
	}
	start := time.Now()
	p.stop(500 * time.Millisecond)
	if p.running() {
		t.Error("still running after stop")
	}
	if live := p.livePIDs(); len(live) > 0 {
		t.Errorf("leader still exists: %v", live)
	}
	// The child may linger as a zombie for an instant until init reaps it.
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(child, 0) == nil && !isZombie(child) {
		if time.Now().After(deadline) {
			t.Fatalf("child %d of the group survived stop", child)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop took %s", d)
	}
	p.stop(time.Second) // idempotent
	if !strings.Contains(tail(p.logPath, 5), "exited") {
		t.Errorf("log lacks the exit line:\n%s", tail(p.logPath, 5))
	}
}

func TestWaitReadyReportsEarlyExit(t *testing.T) {
	dir := t.TempDir()
	p := &process{
		name:    "false",
		bin:     "/bin/sh",
		args:    []string{"-c", "echo boom >&2; exit 3"},
		logPath: filepath.Join(dir, "false.log"),
		ready:   func(context.Context) error { return os.ErrNotExist },
	}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	err := p.waitReady(context.Background(), 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exited during start-up") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("err = %v, want an early-exit error with the log tail", err)
	}
}

func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // gone
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func TestQuantity(t *testing.T) {
	for v, want := range map[float64]string{100: "100", 1.5: "1500m", -0.25: "-250m", 0: "0"} {
		if got := quantity(v); got != want {
			t.Errorf("quantity(%v) = %s, want %s", v, got, want)
		}
	}
}
