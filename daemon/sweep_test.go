package daemon

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/prescaler/prescaler/config"
)

// fakeSweeper lists a fixed set of managed objects and records releases.
type fakeSweeper struct {
	mu       sync.Mutex
	managed  []config.ObjectRef
	listErr  error
	lists    int
	released []config.ObjectRef
}

func (f *fakeSweeper) Managed(context.Context) ([]config.ObjectRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	return slices.Clone(f.managed), f.listErr
}

func (f *fakeSweeper) Release(_ context.Context, ref config.ObjectRef) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released = append(f.released, ref)
	f.managed = slices.DeleteFunc(f.managed, func(r config.ObjectRef) bool { return r == ref })
	return nil
}

func hpaRef(name string) config.ObjectRef {
	return config.ObjectRef{Kind: config.KindHPA, Namespace: "default", Name: name}
}

func TestSweepReleasesWhatNoActiveTargetWrites(t *testing.T) {
	r := newRig(t, fixedCapacity{n: 40}, testTarget("a"))
	shadow := testTarget("s")
	shadow.Mode = config.ModeShadow
	if err := r.d.Update(context.Background(), testConfig(testTarget("a"), shadow)); err != nil {
		t.Fatal(err)
	}
	sw := &fakeSweeper{managed: []config.ObjectRef{hpaRef("a-hpa"), hpaRef("gone-hpa"), hpaRef("s-hpa")}}
	r.d.sweeper = sw

	r.d.RunOnce(context.Background(), r.evening)
	want := []config.ObjectRef{hpaRef("gone-hpa"), hpaRef("s-hpa")}
	if !slices.Equal(sw.released, want) {
		t.Errorf("released %v, want %v (never the active target's a-hpa)", sw.released, want)
	}
	if v := testutil.ToFloat64(r.d.metrics.released.WithLabelValues(whyShadow)); v != 1 {
		t.Errorf("released{shadow} = %v, want 1", v)
	}
	if v := testutil.ToFloat64(r.d.metrics.released.WithLabelValues(whyNotConfigured)); v != 1 {
		t.Errorf("released{not_configured} = %v, want 1", v)
	}

	// The sweep runs once per start and config change, not every loop.
	r.d.RunOnce(context.Background(), r.evening.Add(r.d.interval()))
	if sw.lists != 1 {
		t.Errorf("%d listings after two loops, want 1", sw.lists)
	}
	if err := r.d.Update(context.Background(), testConfig(testTarget("a"))); err != nil {
		t.Fatal(err)
	}
	r.d.RunOnce(context.Background(), r.evening.Add(2*r.d.interval()))
	if sw.lists != 2 {
		t.Errorf("%d listings after a config change, want 2", sw.lists)
	}
}

func TestFailedSweepRunsAgain(t *testing.T) {
	r := newRig(t, fixedCapacity{n: 40}, testTarget("a"))
	sw := &fakeSweeper{managed: []config.ObjectRef{hpaRef("gone-hpa")}, listErr: errors.New("forbidden")}
	r.d.sweeper = sw
	r.d.RunOnce(context.Background(), r.evening)
	if len(sw.released) != 0 {
		t.Fatalf("released %v after a failed listing", sw.released)
	}
	sw.listErr = nil
	r.d.RunOnce(context.Background(), r.evening.Add(r.d.interval()))
	if !slices.Equal(sw.released, []config.ObjectRef{hpaRef("gone-hpa")}) {
		t.Errorf("released %v on the loop after a failed sweep, want gone-hpa", sw.released)
	}
}

func TestRepointedTargetGivesItsOldObjectBack(t *testing.T) {
	r := newRig(t, fixedCapacity{n: 40}, testTarget("a"))
	r.d.RunOnce(context.Background(), r.evening)
	repointed := testTarget("a")
	repointed.HPA = "other-hpa"
	if err := r.d.Update(context.Background(), testConfig(repointed)); err != nil {
		t.Fatal(err)
	}
	out := r.d.RunOnce(context.Background(), r.evening.Add(r.d.interval()))
	if want := []config.ObjectRef{hpaRef("a-hpa")}; !slices.Equal(r.scale.restoredObjects, want) {
		t.Errorf("restored %v, want the old object %v", r.scale.restoredObjects, want)
	}
	if !out[0].Wrote {
		t.Errorf("the re-pointed target did not write its new object: %+v", out[0])
	}
}

func TestTargetGoingToShadowGivesItsObjectBack(t *testing.T) {
	r := newRig(t, fixedCapacity{n: 40}, testTarget("a"))
	r.d.RunOnce(context.Background(), r.evening)
	shadow := testTarget("a")
	shadow.Mode = config.ModeShadow
	if err := r.d.Update(context.Background(), testConfig(shadow)); err != nil {
		t.Fatal(err)
	}
	out := r.d.RunOnce(context.Background(), r.evening.Add(r.d.interval()))
	if want := []config.ObjectRef{hpaRef("a-hpa")}; !slices.Equal(r.scale.restoredObjects, want) {
		t.Errorf("restored %v, want %v", r.scale.restoredObjects, want)
	}
	if !out[0].Shadow || out[0].Wrote {
		t.Errorf("outcome %+v: want a shadow decision, nothing written", out[0])
	}
}

func TestObjectTakenOverByAnotherTargetIsNotGivenBack(t *testing.T) {
	r := newRig(t, fixedCapacity{n: 40}, testTarget("a"))
	r.d.RunOnce(context.Background(), r.evening)
	b := testTarget("b")
	b.HPA = "a-hpa" // the same object under a new name
	if err := r.d.Update(context.Background(), testConfig(b)); err != nil {
		t.Fatal(err)
	}
	r.d.RunOnce(context.Background(), r.evening.Add(r.d.interval()))
	if len(r.scale.restoredObjects) != 0 {
		t.Errorf("restored %v: the object still has an active target", r.scale.restoredObjects)
	}
}
