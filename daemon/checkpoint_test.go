package daemon

import (
	"context"
	"encoding/gob"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prescaler/prescaler/config"
)

// A daemon restored from a checkpoint reads only the steps since the
// checkpoint's newest one and decides, minute by minute, exactly as the
// daemon that wrote it and never stopped.
func TestRestoredDaemonDecidesAsTheOneThatNeverStopped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoint")
	a := newRig(t, fixedCapacity{n: 40}, testTarget("a"), testTarget("b"))
	for i := range 30 {
		a.d.RunOnce(context.Background(), a.evening.Add(time.Duration(i)*time.Minute))
	}
	at := a.evening.Add(29 * time.Minute)
	n, size, err := a.d.WriteCheckpoint(path, at)
	if err != nil || n != 2 || size == 0 {
		t.Fatalf("WriteCheckpoint = %d targets, %d bytes, %v", n, size, err)
	}

	b := newRig(t, fixedCapacity{n: 40}, testTarget("a"), testTarget("b"))
	if got := b.d.LoadCheckpoint(path, at.Add(time.Minute)); got[restoredOK] != 2 {
		t.Fatalf("LoadCheckpoint = %v, want both restored", got)
	}
	for i := 30; i < 90; i++ {
		now := a.evening.Add(time.Duration(i) * time.Minute)
		oa, ob := a.d.RunOnce(context.Background(), now), b.d.RunOnce(context.Background(), now)
		for j := range oa {
			da, db := oa[j].Decision, ob[j].Decision
			if da.Floor != db.Floor || da.Reason != db.Reason || da.PeakDemand != db.PeakDemand || oa[j].LeadForecast != ob[j].LeadForecast {
				t.Fatalf("minute %d, %s: floor %d (%s, peak %v), restored %d (%s, peak %v)", i, oa[j].Target,
					da.Floor, da.Reason, da.PeakDemand, db.Floor, db.Reason, db.PeakDemand)
			}
			if ob[j].Fits != oa[j].Fits || len(ob[j].Errs) > 0 {
				t.Fatalf("minute %d, %s: restored fits %d (errs %v), the original %d", i, ob[j].Target, ob[j].Fits, ob[j].Errs, oa[j].Fits)
			}
		}
	}
	// No history read: the first read starts at the checkpoint's next step.
	b.demand.mu.Lock()
	defer b.demand.mu.Unlock()
	if first := b.demand.calls[0]; !first.Equal(at) {
		t.Errorf("first read after the restore from %s, want %s", first, at)
	}
}

func TestCheckpointFallsBackToTheHistory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "checkpoint")
	a := newRig(t, fixedCapacity{n: 40}, testTarget("a"), testTarget("b"))
	a.d.RunOnce(context.Background(), a.evening)
	if _, _, err := a.d.WriteCheckpoint(path, a.evening); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	changed := testTarget("b")
	changed.Forecast.Quantile = 0.95

	tests := []struct {
		name    string
		file    []byte
		targets []config.Target
		now     time.Time
		want    map[string]int
	}{
		{"model settings changed", data, []config.Target{testTarget("a"), changed, testTarget("c")}, a.evening,
			map[string]int{restoredOK: 1, restoredChanged: 1, restoredNotFound: 1}},
		{"older than the history", data, []config.Target{testTarget("a")}, a.evening.Add(8 * 24 * time.Hour),
			map[string]int{restoredStale: 1}},
		{"cut short", data[:len(data)-100], []config.Target{testTarget("a"), testTarget("b")}, a.evening,
			map[string]int{restoredOK: 1, restoredNotFound: 1}},
		{"garbage", []byte("not a checkpoint at all"), []config.Target{testTarget("a")}, a.evening,
			map[string]int{restoredNotFound: 1}},
		{"missing", nil, []config.Target{testTarget("a")}, a.evening, map[string]int{restoredNotFound: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "checkpoint")
			if tt.file != nil {
				if err := os.WriteFile(p, tt.file, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			r := newRig(t, fixedCapacity{n: 40}, tt.targets...)
			got := r.d.LoadCheckpoint(p, tt.now)
			for _, o := range restoreOutcomes {
				if got[o] != tt.want[o] {
					t.Errorf("LoadCheckpoint = %v, want %v", got, tt.want)
					break
				}
			}
			// Whatever was not restored reads its history and forecasts.
			for _, o := range r.d.RunOnce(context.Background(), tt.now) {
				if !o.DataFresh || len(o.Forecast) == 0 {
					t.Errorf("%s after the load: fresh %v, errs %v", o.Target, o.DataFresh, o.Errs)
				}
			}
		})
	}
}

func TestCheckpointOfAnotherVersionIsNotRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoint")
	_, err := writeAtomically(path, func(w io.Writer) error {
		return gob.NewEncoder(w).Encode(checkpointHeader{Magic: checkpointMagic, Version: checkpointVersion + 1})
	})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = readCheckpoint(path, func(targetCheckpoint) { t.Error("a record of another version used") })
	if err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("readCheckpoint = %v, want a version error", err)
	}
}

// A write that fails leaves the last checkpoint whole and no temporary
// file behind.
func TestFailedCheckpointWriteKeepsTheLastOne(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "checkpoint")
	if err := os.WriteFile(path, []byte("last"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := writeAtomically(path, func(w io.Writer) error {
		_, _ = w.Write([]byte("half"))
		return errors.New("disk full")
	})
	if err == nil {
		t.Fatal("no error from a failed write")
	}
	if data, _ := os.ReadFile(path); string(data) != "last" {
		t.Errorf("checkpoint after a failed write: %q", data)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("folder after a failed write holds %d entries, want the checkpoint alone", len(entries))
	}
}

// Run restores from the checkpoint before its first loop and, on the
// leader, writes it when it stops; a standby writes none.
func TestRunWritesTheCheckpointWhenItStops(t *testing.T) {
	for _, standby := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "checkpoint")
		r := newRig(t, fixedCapacity{n: 40}, testTarget("a"))
		cfg := testConfig(testTarget("a"))
		cfg.Checkpoint = config.Checkpoint{Path: path, Interval: config.Duration(time.Hour)}
		if err := r.d.Update(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		r.d.SetStandby(standby)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.d.Run(ctx) }()
		for r.d.LastLoopEnd().IsZero() {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		<-done
		_, err := os.Stat(path)
		if written := err == nil; written == standby {
			t.Errorf("standby %v: checkpoint written %v", standby, written)
		}
	}
}

func TestCheckpointIsDueEveryInterval(t *testing.T) {
	cfg := config.Checkpoint{Path: "/data/checkpoint", Interval: config.Duration(5 * time.Minute)}
	var c checkpointer
	start := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	steps := []struct {
		at     time.Duration
		leader bool
		want   bool
	}{
		{0, true, false}, // the first loop: the models are those just read
		{4 * time.Minute, true, false},
		{5 * time.Minute, false, false}, // a standby writes none
		{5 * time.Minute, true, true},
	}
	for _, s := range steps {
		if got := c.due(cfg, s.leader, start.Add(s.at)); got != s.want {
			t.Errorf("due at %s (leader %v) = %v, want %v", s.at, s.leader, got, s.want)
		}
	}
	if c.due(config.Checkpoint{Interval: cfg.Interval}, true, start.Add(time.Hour)) {
		t.Error("due without a path")
	}
}
