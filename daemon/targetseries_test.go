package daemon

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/prescaler/prescaler/config"
)

// exposition is reg's page in the text format.
func exposition(t *testing.T, reg prometheus.Gatherer) string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// A per-target family writes the page client_golang's vectors would: the
// same names, help, types, label order and values, for an HPA's target and
// a ScaledObject's, with and without an own label.
func TestTargetFamiliesExposeAsVectors(t *testing.T) {
	hpa := config.ObjectRef{Kind: config.KindHPA, Namespace: "default", Name: "a-hpa"}
	so := config.ObjectRef{Kind: config.KindScaledObject, Namespace: "ml", Name: "b-so"}

	store := newTargetStore()
	store.now = func() time.Time { return time.Unix(1_700_000_000, 0) }
	floor := store.family(prometheus.GaugeValue, "floor_replicas", "Floor.", "")
	reason := store.family(prometheus.GaugeValue, "decision_reason", "Reason.", labelReason, "capacity", "forecast")
	errs := store.family(prometheus.CounterValue, "target_errors_total", "Errors.", "")
	mine := prometheus.NewRegistry()
	mine.MustRegister(floor, reason, errs)

	vecs := prometheus.NewRegistry()
	vFloor := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "prescaler_floor_replicas", Help: "Floor."}, targetLabelNames)
	vReason := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "prescaler_decision_reason", Help: "Reason."},
		append(slices.Clone(targetLabelNames), labelReason))
	vErrs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "prescaler_target_errors_total", Help: "Errors."}, targetLabelNames)
	vecs.MustRegister(vFloor, vReason, vErrs)

	for _, tc := range []struct {
		target string
		obj    config.ObjectRef
		floor  float64
		reason string
		errs   float64
	}{{"a", hpa, 3, "forecast", 2}, {"b", so, 1, "capacity", 0}} {
		tv := store.lock(tc.target, tc.obj)
		floor.set(tv, "", tc.floor)
		for _, r := range []string{"capacity", "forecast"} {
			reason.set(tv, r, boolGauge(r == tc.reason))
		}
		errs.add(tv, "", tc.errs)
		store.unlock()

		l := targetLabels(tc.target, tc.obj)
		vFloor.With(l).Set(tc.floor)
		for _, r := range []string{"capacity", "forecast"} {
			vReason.MustCurryWith(l).WithLabelValues(r).Set(boolGauge(r == tc.reason))
		}
		vErrs.With(l).Add(tc.errs)
	}
	if got, want := exposition(t, mine), exposition(t, vecs); got != want {
		t.Errorf("page:\n%s\nwant (client_golang's vectors):\n%s", got, want)
	}

	// Clearing a family of a target, and forgetting a target, remove
	// their series as DeletePartialMatch does.
	store.clear("a", reason)
	vReason.DeletePartialMatch(prometheus.Labels{labelTarget: "a"})
	store.forget("b")
	for _, v := range []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{vFloor, vReason, vErrs} {
		v.DeletePartialMatch(prometheus.Labels{labelTarget: "b"})
	}
	if got, want := exposition(t, mine), exposition(t, vecs); got != want {
		t.Errorf("page after clear and forget:\n%s\nwant:\n%s", got, want)
	}
}

// A value the family was not declared with is a programming error.
func TestTargetFamilyRefusesUndeclaredValues(t *testing.T) {
	store := newTargetStore()
	reason := store.family(prometheus.GaugeValue, "decision_reason", "Reason.", labelReason, "capacity")
	tv := store.lock("a", config.ObjectRef{Kind: config.KindHPA, Namespace: "default", Name: "a"})
	defer store.unlock()
	defer func() {
		if recover() == nil {
			t.Error("no panic on an undeclared label value")
		}
	}()
	reason.set(tv, "forecast", 1)
}
