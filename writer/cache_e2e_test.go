package writer

import (
	"context"
	"net/http"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/rest"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/scaler"
)

// testCached runs a writer that reads through informers, as `prescaler run`
// wires it, against the real API server: once the caches hold the HPA and
// its Deployment, reading the state and applying a decision the object
// already holds send no request at all; a decision made on a cache that
// lags an edit is written on a fresh read, keeping the edit.
func (b *bed) testCached(t *testing.T, restCfg *rest.Config, recorder EventRecorder) {
	ns := b.namespace(t)
	ref, _ := b.hpa(t, ns, "web", 2, nil)
	factory := informers.NewSharedInformerFactoryWithOptions(b.kube, 0, informers.WithNamespace(ns))
	cache := Listers{HPAs: factory.Autoscaling().V2().HorizontalPodAutoscalers().Lister(),
		Deployments: factory.Apps().V1().Deployments().Lister()}
	ctx := b.ctx(t)
	factory.Start(ctx.Done())
	t.Cleanup(factory.Shutdown)
	factory.WaitForCacheSync(ctx.Done())

	tr := &countingTransport{}
	cfg := rest.CopyConfig(restCfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { tr.next = rt; return tr })
	w, err := NewForConfig(cfg, recorder, nil, cache)
	if err != nil {
		t.Fatal(err)
	}
	res, err := w.Apply(ctx, ref, scaler.Decision{Floor: 5})
	if err != nil || res.Outcome != OutcomeWritten {
		t.Fatalf("first apply: %+v, %v", res, err)
	}
	rv := b.get(t, ref).ResourceVersion
	b.waitCached(t, cache, ref, rv)
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		d, err := cache.Deployment(ns, "web")
		return err == nil && d != nil && d.Status.Replicas == 3, nil
	})
	if err != nil {
		t.Fatalf("the cached Deployment never reported its 3 replicas: %v", err)
	}

	before := tr.requests.Load()
	for range 3 {
		st, err := w.Observe(ctx, ref)
		if err != nil || st.MinReplicas != 5 || st.UserMinReplicas != 2 || st.CurrentReplicas != 3 {
			t.Fatalf("Observe: %+v, %v", st, err)
		}
		if name, err := w.ScaleTarget(ctx, ref); err != nil || name != "web" {
			t.Fatalf("ScaleTarget = %q, %v", name, err)
		}
		if res, err := w.Apply(ctx, ref, scaler.Decision{Floor: 5}); err != nil || res.Outcome != OutcomeUnchanged {
			t.Fatalf("unchanged apply: %+v, %v", res, err)
		}
	}
	if n := tr.requests.Load() - before; n != 0 {
		t.Errorf("three loops of state, scale target and an unchanged apply sent %d requests, want 0", n)
	}

	// The user edits maxReplicas; the next write is planned on the cache as
	// it was before the edit reached it (the informer is stopped to hold it
	// there). The stale resourceVersion makes the apply conflict; the
	// retry reads the API server and writes over the edit, not back over it.
	stale := rest.CopyConfig(restCfg)
	staleFactory := informers.NewSharedInformerFactoryWithOptions(b.kube, 0, informers.WithNamespace(ns))
	staleCache := Listers{HPAs: staleFactory.Autoscaling().V2().HorizontalPodAutoscalers().Lister(),
		Deployments: staleFactory.Apps().V1().Deployments().Lister()}
	stopStale := make(chan struct{})
	staleFactory.Start(stopStale)
	staleFactory.WaitForCacheSync(ctx.Done())
	b.waitCached(t, staleCache, ref, rv)
	close(stopStale)
	staleFactory.Shutdown()
	h := b.get(t, ref)
	h.Spec.MaxReplicas = 30
	if _, err := b.kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Update(ctx, h, metav1.UpdateOptions{FieldManager: userManager}); err != nil {
		t.Fatal(err)
	}
	staleWriter, err := NewForConfig(stale, recorder, nil, staleCache)
	if err != nil {
		t.Fatal(err)
	}
	res, err = staleWriter.Apply(ctx, ref, scaler.Decision{Floor: 7})
	if err != nil || res.Outcome != OutcomeWritten || res.Conflicts != 0 {
		t.Fatalf("apply on a stale cache: %+v, %v (a cache's lag is not a conflict with another writer)", res, err)
	}
	if got := b.get(t, ref); *got.Spec.MinReplicas != 7 || got.Spec.MaxReplicas != 30 {
		t.Errorf("after the apply: minReplicas %d maxReplicas %d, want 7 and the user's 30", *got.Spec.MinReplicas, got.Spec.MaxReplicas)
	}

	// The frozen cache still holds the floor 5 of before that write. It is
	// not read while it has not seen the writer's own last write: the state
	// is the API server's 7, and taking the floor back to 5 is a write, not
	// "already there".
	if st, err := staleWriter.Observe(ctx, ref); err != nil || st.MinReplicas != 7 {
		t.Errorf("Observe after the writer's own write, on a cache without it: %+v, %v (want minReplicas 7)", st, err)
	}
	res, err = staleWriter.Apply(ctx, ref, scaler.Decision{Floor: 5})
	if err != nil || res.Outcome != OutcomeWritten {
		t.Fatalf("floor back to 5 on a cache that holds 5 from before the last write: %+v, %v", res, err)
	}
	if got := b.get(t, ref); *got.Spec.MinReplicas != 5 {
		t.Errorf("minReplicas %d, want 5", *got.Spec.MinReplicas)
	}
}

// waitCached waits until the cache holds ref at resourceVersion rv.
func (b *bed) waitCached(t *testing.T, cache Listers, ref config.ObjectRef, rv string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(b.ctx(t), 20*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		h, err := cache.HPA(ref.Namespace, ref.Name)
		return err == nil && h != nil && h.ResourceVersion == rv, nil
	})
	if err != nil {
		t.Fatalf("the cache never held %s at resourceVersion %s: %v", ref, rv, err)
	}
}
