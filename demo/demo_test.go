package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/test/testbed"
)

// A short demo on the real control plane: 07:40 to 10:04 of a weekday, over
// the 09:00 surge. prescaler must raise the floor above the user's 1 and the
// real HPA must follow it; afterwards no testbed process and no folder is
// left.
func TestDemoSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o := DefaultOptions()
	o.Days, o.Start, o.HistoryDays = 0.1, "07:40", 3
	var out, progress bytes.Buffer
	var env *testbed.Env
	d := &demo{o: o, out: &out, errOut: &progress, onLaunch: func(e *testbed.Env) { env = e }}
	s, err := d.run(ctx)
	t.Logf("progress:\n%s\nlive:\n%s", progress.String(), out.String())
	if err != nil {
		t.Fatal(err)
	}
	if s.MaxFloor <= 1 || !s.Followed {
		t.Errorf("highest floor %d, HPA followed %v: want a floor above 1 that the HPA ran", s.MaxFloor, s.Followed)
	}
	if s.RaisesAhead == 0 {
		t.Errorf("%d raises, none ahead of the load", s.Raises)
	}
	if got := s.EndMinute - s.StartMinute; got < 0.1*minutesPerDay {
		t.Errorf("ran %v trace minutes, want %v", got, 0.1*minutesPerDay)
	}
	if !strings.Contains(out.String(), "Summary:") {
		t.Error("no summary printed")
	}
	for _, pid := range env.PIDs() {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("testbed process %d is still there (%v)", pid, err)
		}
	}
	for _, dir := range []string{env.Dir, d.dir} {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("folder %s is left behind", dir)
		}
	}
}

// The generated configuration is valid for prescaler on every clock the
// flags allow, and its units fit the compressed day.
func TestPrescalerConfigIsValid(t *testing.T) {
	for _, speed := range []time.Duration{100 * time.Millisecond, 250 * time.Millisecond, 375 * time.Millisecond, time.Second} {
		o := DefaultOptions()
		o.Speed = speed
		if err := o.Validate(); err != nil {
			t.Fatal(err)
		}
		u := unitsFor(o)
		path := t.TempDir() + "/prescaler.yaml"
		if err := os.WriteFile(path, []byte(prescalerConfig(o, u, "http://127.0.0.1:9090", "127.0.0.1:8080")), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatalf("speed %s: %v", speed, err)
		}
		f := cfg.Targets[0].Forecast
		if time.Duration(f.Season) != o.day() || time.Duration(f.Season)%time.Duration(f.Step) != 0 {
			t.Errorf("speed %s: season %v step %v, want a season of one day (%s)", speed, f.Season, f.Step, o.day())
		}
		if w := cfg.Warnings(); len(w) > 0 {
			t.Errorf("speed %s: warnings %v", speed, w)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	for name, mutate := range map[string]func(*Options){
		"speed not a whole-second day": func(o *Options) { o.Speed = 333 * time.Millisecond },
		"no days":                      func(o *Options) { o.Days = 0 },
		"one history day":              func(o *Options) { o.HistoryDays = 1 },
		"bad start":                    func(o *Options) { o.Start = "25:00" },
		"no GPU":                       func(o *Options) { o.GPUs = 0 },
	} {
		o := DefaultOptions()
		mutate(&o)
		if err := o.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := DefaultOptions().Validate(); err != nil {
		t.Error(err)
	}
}

// The live run starts at the first minute of the start time after the
// history days, and a trace too short for the run is refused.
func TestLoadTraceFindsTheLiveStart(t *testing.T) {
	o := DefaultOptions()
	tr, origin, err := loadTrace(o)
	if err != nil {
		t.Fatal(err)
	}
	if want := 4*minutesPerDay + 6*60; origin != want || tr.Start%minutesPerDay != 0 {
		t.Errorf("origin %d, want %d (the synthetic trace starts at midnight)", origin, want)
	}
	path := t.TempDir() + "/short.csv"
	if err := os.WriteFile(path, []byte("unix_minute,requests\n100,1\n101,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o.Trace = path
	if _, _, err := loadTrace(o); err == nil || !strings.Contains(err.Error(), "the trace has 2 minutes") {
		t.Errorf("short trace: %v", err)
	}
}
