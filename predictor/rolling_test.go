package predictor

import (
	"math"
	"testing"
)

func TestRollingFitsThenUpdatesThenRefits(t *testing.T) {
	y := simulateAdditive(21, 24*30, 24, 0.2, 0.1, 0.3, 10)
	for i, v := range y {
		y[i] = float64(float32(v)) // Rolling keeps its history in float32
	}
	opts := Options{Period: 24, Horizon: 2}
	r, err := NewRolling(RollingOptions{Options: opts, Window: 24 * 10, RefitEvery: 24})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 24*10-1; i++ {
		if fitted, _ := r.Observe(y[i]); fitted || r.Model() != nil {
			t.Fatalf("fitted at step %d, before the window was full", i)
		}
	}
	if fitted, _ := r.Observe(y[24*10-1]); !fitted {
		t.Fatal("no fit once the window was full")
	}
	// Between refits the model is the first fit updated step by step.
	reference, _ := Fit(y[:24*10], opts)
	for i := 24 * 10; i < 24*11-1; i++ {
		if fitted, _ := r.Observe(y[i]); fitted {
			t.Fatalf("refit at step %d, before the refit period", i)
		}
		reference.Update(y[i])
	}
	if got, want := r.Model().Point(1), reference.Point(1); got != want {
		t.Fatalf("rolling forecast %v, a fit plus updates gives %v", got, want)
	}
	// The refit uses the trailing window, exactly as a direct fit does.
	if fitted, _ := r.Observe(y[24*11-1]); !fitted {
		t.Fatal("no refit after the refit period")
	}
	direct, _ := Fit(y[24:24*11], opts)
	if r.Model().Params != direct.Params || r.Fits != 2 {
		t.Errorf("refit %s (fits %d), direct fit on the trailing window %s", r.Model().Params, r.Fits, direct.Params)
	}
}

func TestRollingKeepsTheModelWhenARefitFails(t *testing.T) {
	r, err := NewRolling(RollingOptions{Window: 10, RefitEvery: 5})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		_, _ = r.Observe(float64(100 + i%3))
	}
	// Five missing steps: the refit window still has five observations.
	for i := 0; i < 5; i++ {
		_, _ = r.Observe(math.NaN())
	}
	kept := r.Model()
	if r.Fits != 2 {
		t.Fatalf("fits = %d, want the first fit and one refit", r.Fits)
	}
	// Five more: the window is empty, the refit fails, the model stays.
	for i := 0; i < 5; i++ {
		_, _ = r.Observe(math.NaN())
	}
	if r.Model() != kept || r.FailedRefits != 1 || r.LastError == nil {
		t.Errorf("model replaced or failure not counted: failed %d, last error %v", r.FailedRefits, r.LastError)
	}
	if p := r.Model().Point(1); math.IsNaN(p) {
		t.Error("forecast is NaN after a run of missing steps")
	}
}

func TestRollingRejectsBadValuesAsMissing(t *testing.T) {
	r, _ := NewRolling(RollingOptions{Window: 10, RefitEvery: 5})
	if _, err := r.Observe(-1); err == nil {
		t.Error("a negative demand was accepted")
	}
	if _, err := r.Observe(math.Inf(1)); err == nil {
		t.Error("an infinite demand was accepted")
	}
	if _, err := NewRolling(RollingOptions{Window: 2, RefitEvery: 1}); err == nil {
		t.Error("a 2-step window was accepted")
	}
	if _, err := NewRolling(RollingOptions{Window: 100, RefitEvery: 0}); err == nil {
		t.Error("a zero refit period was accepted")
	}
}

func TestRollingFirstRefitPhase(t *testing.T) {
	y := simulateAdditive(22, 24*20, 24, 0.2, 0.1, 0, 10)
	r, err := NewRolling(RollingOptions{Options: Options{Period: 24}, Window: 24 * 10, RefitEvery: 24, FirstRefit: 5})
	if err != nil {
		t.Fatal(err)
	}
	var fits []int
	for i, v := range y[:24*12] {
		if fitted, _ := r.Observe(v); fitted {
			fits = append(fits, i)
		}
	}
	want := []int{24*10 - 1, 24*10 - 1 + 5, 24*10 - 1 + 5 + 24}
	if len(fits) != len(want) || fits[0] != want[0] || fits[1] != want[1] || fits[2] != want[2] {
		t.Errorf("fits at steps %v, want %v", fits, want)
	}
	if _, err := NewRolling(RollingOptions{Window: 100, RefitEvery: 10, FirstRefit: 11}); err == nil {
		t.Error("a first refit beyond the refit period was accepted")
	}
}
