package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/scaler"
	"github.com/prescaler/prescaler/trace"
)

// changeScaler is a fakeScaler whose writes and restores report that they
// changed the object while changed is set, as the writer does when the
// object did not already hold what it wrote.
type changeScaler struct {
	*fakeScaler
	changed atomic.Bool
}

func (c *changeScaler) Apply(ctx context.Context, t *config.Target, d scaler.Decision) (WriteReport, error) {
	rep, err := c.fakeScaler.Apply(ctx, t, d)
	rep.Changed, rep.PreviousFloor, rep.Floor = c.changed.Load(), 1, d.Floor
	return rep, err
}

func (c *changeScaler) Restore(ctx context.Context, t *config.Target) (WriteReport, error) {
	rep, err := c.fakeScaler.Restore(ctx, t)
	rep.Changed, rep.PreviousFloor, rep.Floor = c.changed.Load(), 9, 1
	return rep, err
}

// jsonLog is a JSON log, read back one record per line.
type jsonLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *jsonLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// infoRecords returns the info-level records written since the last call.
func (l *jsonLog) infoRecords(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(l.buf.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["level"] == slog.LevelInfo.String() {
			out = append(out, rec)
		}
	}
	l.buf.Reset()
	return out
}

type changeRig struct {
	d       *Daemon
	scale   *changeScaler
	log     *jsonLog
	evening time.Time
}

func newChangeRig(t *testing.T, targets ...config.Target) *changeRig {
	t.Helper()
	minutes, err := trace.Synthesize(trace.DefaultSynthOptions())
	if err != nil {
		t.Fatal(err)
	}
	r := &changeRig{scale: &changeScaler{fakeScaler: newFakeScaler()}, log: &jsonLog{}}
	r.evening = time.Unix(minutes.Start*60, 0).UTC().Add(7*24*time.Hour + 18*time.Hour)
	r.d, err = New(testConfig(targets...), Options{Demand: &synthDemand{minutes: minutes}, Capacity: fixedCapacity{n: 40},
		Startup: fixedStartup{}, Scaler: r.scale, Metrics: NewMetrics(prometheus.NewRegistry()),
		Log: slog.New(slog.NewJSONHandler(r.log, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// wantOneLine checks that records is exactly one line with msg and the
// attributes in want.
func wantOneLine(t *testing.T, records []map[string]any, msg string, want map[string]any) {
	t.Helper()
	if len(records) != 1 {
		t.Fatalf("info lines %v, want exactly one %q", records, msg)
	}
	rec := records[0]
	if rec["msg"] != msg {
		t.Errorf("info line %v, want the message %q", rec, msg)
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("info line %v: %s = %v, want %v", rec, k, rec[k], v)
		}
	}
}

func TestALoopThatWritesLogsOneInfoLine(t *testing.T) {
	r := newChangeRig(t, testTarget("a"))
	r.scale.changed.Store(true)
	out := r.d.RunOnce(context.Background(), r.evening)[0]
	if !out.Wrote || len(out.Errs) > 0 {
		t.Fatalf("outcome %+v, want a clean write", out)
	}
	wantOneLine(t, r.log.infoRecords(t), "wrote the floor", map[string]any{
		"target": "a", "namespace": "default", "kind": config.KindHPA, "object": "a-hpa",
		"previous_floor": 1.0, "floor": float64(out.Decision.Floor), "reason": string(out.Decision.Reason),
		"behavior_changed": false,
	})

	// The object already holds the decision: the writer changes nothing,
	// and a steady loop says nothing at info.
	r.scale.changed.Store(false)
	if out := r.d.RunOnce(context.Background(), r.evening.Add(time.Minute))[0]; !out.Wrote {
		t.Fatalf("outcome %+v, want the decision applied", out)
	}
	if got := r.log.infoRecords(t); len(got) != 0 {
		t.Errorf("a loop that changed nothing logged %v at info", got)
	}
}

func TestAShadowLoopLogsNoInfoLine(t *testing.T) {
	tc := testTarget("a")
	tc.Mode = config.ModeShadow
	r := newChangeRig(t, tc)
	r.scale.changed.Store(true)
	r.d.RunOnce(context.Background(), r.evening)
	if got := r.log.infoRecords(t); len(got) != 0 {
		t.Errorf("a shadow loop logged %v at info", got)
	}
}

func TestEachRestoreLogsOneInfoLine(t *testing.T) {
	r := newChangeRig(t, testTarget("a"), testTarget("b"))
	r.scale.state["a"] = ScaleState{UserMinReplicas: 1, MaxReplicas: 50, CurrentFloor: 9, CurrentReplicas: 9, OptedOut: true}
	r.scale.changed.Store(true)

	// a opted out: the loop gives its object back; b writes.
	r.d.RunOnce(context.Background(), r.evening)
	var restores, writes []map[string]any
	for _, rec := range r.log.infoRecords(t) {
		switch rec["target"] {
		case "a":
			restores = append(restores, rec)
		case "b":
			writes = append(writes, rec)
		}
	}
	wantOneLine(t, restores, "gave the object its user's values back",
		map[string]any{"object": "a-hpa", "previous_floor": 9.0, "floor": 1.0})
	wantOneLine(t, writes, "wrote the floor", map[string]any{"object": "b-hpa"})

	// b leaves the config: the next loop gives its object back, and a,
	// still opted out, is not restored again.
	if err := r.d.Update(context.Background(), testConfig(testTarget("a"))); err != nil {
		t.Fatal(err)
	}
	r.d.RunOnce(context.Background(), r.evening.Add(time.Minute))
	wantOneLine(t, r.log.infoRecords(t), "gave the object its user's values back",
		map[string]any{"target": "b", "namespace": "default", "kind": config.KindHPA, "object": "b-hpa"})
}

func TestARestoreThatChangesNothingLogsNoInfoLine(t *testing.T) {
	r := newChangeRig(t, testTarget("a"))
	// The target leaves before its first write: its object holds nothing
	// of prescaler's, and the restore changes nothing.
	if err := r.d.Update(context.Background(), testConfig(testTarget("b"))); err != nil {
		t.Fatal(err)
	}
	r.d.RunOnce(context.Background(), r.evening)
	if n := r.scale.restored["a"]; n != 1 {
		t.Fatalf("a's object restored %d times, want once", n)
	}
	for _, rec := range r.log.infoRecords(t) {
		if rec["target"] == "a" {
			t.Errorf("a restore that changed nothing logged %v at info", rec)
		}
	}
}
