package multins

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// fakeNamespace is one namespace's source: a list and the watches opened
// on it, recording the options each call was given.
type fakeNamespace struct {
	mu       sync.Mutex
	name     string
	listRV   string
	items    []corev1.ConfigMap
	lists    []metav1.ListOptions
	watches  []metav1.ListOptions
	watchers []*watch.FakeWatcher
}

func (f *fakeNamespace) ListWithContext(_ context.Context, o metav1.ListOptions) (runtime.Object, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists = append(f.lists, o)
	return &corev1.ConfigMapList{ListMeta: metav1.ListMeta{ResourceVersion: f.listRV}, Items: f.items}, nil
}

func (f *fakeNamespace) WatchWithContext(_ context.Context, o metav1.ListOptions) (watch.Interface, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.watches = append(f.watches, o)
	w := watch.NewFake()
	f.watchers = append(f.watchers, w)
	return w, nil
}

func (f *fakeNamespace) lastWatcher() *watch.FakeWatcher {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.watchers[len(f.watchers)-1]
}

func configMap(ns, name, rv string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: rv}}
}

func newFake(t *testing.T) (*ListerWatcher, *fakeNamespace, *fakeNamespace) {
	t.Helper()
	a := &fakeNamespace{name: "a", listRV: "100", items: []corev1.ConfigMap{*configMap("a", "x", "90")}}
	b := &fakeNamespace{name: "b", listRV: "999", items: []corev1.ConfigMap{*configMap("b", "y", "95"), *configMap("b", "z", "97")}}
	lw, err := New([]string{"a", "b"}, func(ns string) cache.ListerWatcherWithContext {
		if ns == "a" {
			return a
		}
		return b
	})
	if err != nil {
		t.Fatal(err)
	}
	return lw, a, b
}

func TestListIsOneSnapshotOfEveryNamespace(t *testing.T) {
	lw, a, b := newFake(t)
	obj, err := lw.ListWithContext(context.Background(), metav1.ListOptions{ResourceVersion: "0", Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	list := obj.(*corev1.ConfigMapList)
	if len(list.Items) != 3 || list.ResourceVersion != "100" {
		t.Fatalf("list %d items at %s, want 3 at the first namespace's 100", len(list.Items), list.ResourceVersion)
	}
	if o := a.lists[0]; o.Limit != 0 || o.ResourceVersion != "0" {
		t.Errorf("first namespace listed with %+v: want no pages, the caller's resourceVersion", o)
	}
	if o := b.lists[0]; o.ResourceVersion != "100" || o.ResourceVersionMatch != metav1.ResourceVersionMatchExact || o.Limit != 0 {
		t.Errorf("second namespace listed with %+v: want exactly resourceVersion 100", o)
	}
	if !lw.IsWatchListSemanticsUnSupported() {
		t.Error("the reflector must list, then watch")
	}
}

func TestWatchResumesEachNamespaceWhereItsEventsStopped(t *testing.T) {
	lw, a, b := newFake(t)
	ctx := context.Background()
	if _, err := lw.ListWithContext(ctx, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := lw.WatchWithContext(ctx, metav1.ListOptions{ResourceVersion: "100"})
	if err != nil {
		t.Fatal(err)
	}
	if a.watches[0].ResourceVersion != "100" || b.watches[0].ResourceVersion != "100" || !a.watches[0].AllowWatchBookmarks {
		t.Fatalf("watches opened with %+v and %+v", a.watches[0], b.watches[0])
	}
	// b's event, then a's older one; a bookmark of a moves its resume
	// point without being handed on.
	go func() {
		b.lastWatcher().Modify(configMap("b", "y", "120"))
		a.lastWatcher().Add(configMap("a", "w", "110"))
		a.lastWatcher().Action(watch.Bookmark, configMap("a", "", "130"))
		b.lastWatcher().Stop() // b's watch ends: the merged one ends too
	}()
	var got []string
	for ev := range w.ResultChan() {
		got = append(got, string(ev.Type)+" "+ev.Object.(*corev1.ConfigMap).ResourceVersion)
	}
	// The two namespaces' events race to the merged channel: any order.
	slices.Sort(got)
	if !slices.Equal(got, []string{"ADDED 110", "MODIFIED 120"}) {
		t.Fatalf("events %v, want a's and b's, no bookmark", got)
	}
	if !a.lastWatcher().IsStopped() {
		t.Error("a's watch still open after b's ended")
	}
	// The reflector watches again from the last event it saw (110); each
	// namespace resumes from its own point instead.
	if _, err := lw.WatchWithContext(ctx, metav1.ListOptions{ResourceVersion: "110"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(a.watches) == 2 && len(b.watches) == 2 })
	if a.watches[1].ResourceVersion != "130" || b.watches[1].ResourceVersion != "120" {
		t.Errorf("resumed a at %s (want its bookmark's 130), b at %s (want 120)", a.watches[1].ResourceVersion, b.watches[1].ResourceVersion)
	}
}

func TestStopEndsEveryWatch(t *testing.T) {
	lw, a, b := newFake(t)
	w, err := lw.WatchWithContext(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Stop()
	for range w.ResultChan() {
	}
	if !a.lastWatcher().IsStopped() || !b.lastWatcher().IsStopped() {
		t.Error("a namespace's watch outlived Stop")
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}
