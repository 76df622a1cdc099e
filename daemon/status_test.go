package daemon

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/scaler"
)

// The status of a loop says what its metrics say: the floor, the reason,
// the forecast per minute; the last write is kept until the next one.
func TestStatusIsWhatTheLoopExported(t *testing.T) {
	shadow := testTarget("s")
	shadow.Mode = config.ModeShadow
	r := newRig(t, fixedCapacity{n: 40}, testTarget("a"), shadow)
	ctx := context.Background()
	r.d.RunOnce(ctx, r.evening)
	st := r.d.Status()
	if len(st) != 2 || st[0].Target != "a" || st[1].Target != "s" {
		t.Fatalf("status %+v: want a and s, in name order", st)
	}
	a := st[0]
	if v := testutil.ToFloat64(r.d.metrics.floor.WithLabelValues(labelsOf("a")...)); float64(a.Floor) != v {
		t.Errorf("status floor %d, metric %v", a.Floor, v)
	}
	if v := testutil.ToFloat64(r.d.metrics.reason.WithLabelValues(labelsOf("a", a.Reason)...)); v != 1 || a.Reason != string(scaler.ReasonForecast) {
		t.Errorf("status reason %q, its gauge %v", a.Reason, v)
	}
	if a.Forecast == nil {
		t.Fatal("no forecast in the status")
	}
	for kind, got := range map[string]float64{"mean_next": a.Forecast.MeanNext, "quantile_peak": a.Forecast.QuantilePeak,
		"mean_lead": a.Forecast.MeanLead, "lower_lead": a.Forecast.LowerLead, "upper_lead": a.Forecast.UpperLead} {
		if v := testutil.ToFloat64(r.d.metrics.forecast.WithLabelValues(labelsOf("a", kind)...)); v != got {
			t.Errorf("forecast %s: status %v, metric %v", kind, got, v)
		}
	}
	if a.Mode != string(config.ModeActive) || a.Kind != config.KindHPA || a.Namespace != "default" || a.Name != "a-hpa" {
		t.Errorf("status names %+v", a)
	}
	if a.LastWrite == nil || a.LastWrite.Floor != a.Floor || a.LastWrite.PreviousFloor != 1 || !a.LastWrite.At.Equal(r.evening) {
		t.Errorf("last write %+v, want 1 → %d at %s", a.LastWrite, a.Floor, r.evening)
	}
	if s := st[1]; s.Mode != string(config.ModeShadow) || s.LastWrite != nil {
		t.Errorf("shadow status %+v: want shadow mode and no write", s)
	}

	// A loop that writes nothing new keeps the last write.
	r.d.RunOnce(ctx, r.evening.Add(time.Minute))
	a2 := r.d.Status()[0]
	if a2.Floor == a.Floor && (a2.LastWrite == nil || !a2.LastWrite.At.Equal(r.evening)) {
		t.Errorf("last write %+v after an unchanged floor, want the first loop's", a2.LastWrite)
	}
	if !a2.DecidedAt.Equal(r.evening.Add(time.Minute)) {
		t.Errorf("decided at %s", a2.DecidedAt)
	}

	// A target that leaves the config leaves the status.
	if err := r.d.Update(ctx, testConfig(shadow)); err != nil {
		t.Fatal(err)
	}
	if st := r.d.Status(); len(st) != 1 || st[0].Target != "s" {
		t.Errorf("status after a left: %+v", st)
	}
}

func TestStatusNamesTheLoopsProblems(t *testing.T) {
	o := Outcome{Target: "a", Object: config.ObjectRef{Kind: config.KindHPA, Namespace: "ns", Name: "h"},
		Errs: []error{errors.New("demand: timeout")}, WriteErr: errors.New("write: conflict")}
	s := statusOf(o, config.ModeActive, time.Unix(0, 0), nil)
	if s.Problem != "demand: timeout; write: conflict" {
		t.Errorf("problem %q", s.Problem)
	}
	// A re-pointed target does not inherit the old object's last write.
	prev := TargetStatus{Kind: config.KindHPA, Namespace: "ns", Name: "old", LastWrite: &WriteStatus{Floor: 3}}
	if s := statusOf(o, config.ModeActive, time.Unix(0, 0), &prev); s.LastWrite != nil {
		t.Errorf("last write %+v carried to another object", s.LastWrite)
	}
}
