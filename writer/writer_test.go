package writer

import (
	"context"
	"errors"
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/scaler"
)

// fakeCluster is a Writer on client-go's fake clientset, whose tracker does
// server-side apply, with the scale subresource of the HPA's Deployment
// answering *replicas.
type fakeCluster struct {
	w        *Writer
	kube     *fake.Clientset
	events   *record.FakeRecorder
	replicas *int64
	ref      config.ObjectRef
}

func newFakeCluster(t *testing.T, hpa *autoscalingv2.HorizontalPodAutoscaler) *fakeCluster {
	t.Helper()
	c := &fakeCluster{kube: fake.NewClientset(hpa), events: record.NewFakeRecorder(100), replicas: new(int64(3)),
		ref: config.ObjectRef{Kind: config.KindHPA, Namespace: hpa.Namespace, Name: hpa.Name}}
	dyn := dynamicfake.NewSimpleDynamicClient(runtime.NewScheme())
	dyn.PrependReactor("get", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "scale" {
			return false, nil, nil
		}
		return true, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "autoscaling/v1", "kind": "Scale",
			"spec": map[string]any{"replicas": *c.replicas}, "status": map[string]any{"replicas": *c.replicas},
		}}, nil
	})
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	w, err := New(Options{Kube: c.kube, Dynamic: dyn, Mapper: mapper, Recorder: c.events})
	if err != nil {
		t.Fatal(err)
	}
	c.w = w
	return c
}

func testHPA(ann map[string]string) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "uid-1", Annotations: ann},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    new(int32(2)),
			MaxReplicas:    10,
		},
	}
}

// writes counts the write actions the clientset received.
func (c *fakeCluster) writes() int {
	n := 0
	for _, a := range c.kube.Actions() {
		if a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
			n++
		}
	}
	return n
}

func (c *fakeCluster) hpa(t *testing.T) *autoscalingv2.HorizontalPodAutoscaler {
	t.Helper()
	h, err := c.kube.AutoscalingV2().HorizontalPodAutoscalers("ns").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (c *fakeCluster) drainEvents() []string {
	var out []string
	for {
		select {
		case e := <-c.events.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func TestWriterOnFakeClientset(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster(t, testHPA(nil))
	d := scaler.Decision{Floor: 5, Reason: scaler.ReasonForecast, Message: "forecast 300 req/min needs 5 replicas"}

	res, err := c.w.Apply(ctx, c.ref, d)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeWritten || res.Floor != 5 || res.PreviousFloor != 2 {
		t.Fatalf("first apply: %+v", res)
	}
	h := c.hpa(t)
	if *h.Spec.MinReplicas != 5 || h.Annotations[AnnotationOriginal] != `{"minReplicas":2,"behavior":null}` {
		t.Fatalf("after apply: minReplicas %d, annotations %v", *h.Spec.MinReplicas, h.Annotations)
	}
	events := strings.Join(c.drainEvents(), "\n")
	for _, want := range []string{"Normal OriginalSaved", "Normal FloorRaised minReplicas 2 → 5 (forecast: forecast 300 req/min needs 5 replicas)"} {
		if !strings.Contains(events, want) {
			t.Errorf("events %q lack %q", events, want)
		}
	}

	writes := c.writes()
	res, err = c.w.Apply(ctx, c.ref, d)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeUnchanged || c.writes() != writes {
		t.Errorf("identical apply: outcome %s, %d new writes", res.Outcome, c.writes()-writes)
	}
	if ev := c.drainEvents(); len(ev) != 0 {
		t.Errorf("no-op sent events %v", ev)
	}

	st, err := c.w.Observe(ctx, c.ref)
	if err != nil {
		t.Fatal(err)
	}
	if st.UserMinReplicas != 2 || st.MinReplicas != 5 || st.MaxReplicas != 10 || st.CurrentReplicas != 3 || !st.Managed || st.Disabled {
		t.Errorf("state = %+v", st)
	}

	// Scale target at 0 replicas: the HPA is disabled, nothing is written.
	*c.replicas = 0
	writes = c.writes()
	res, err = c.w.Apply(ctx, c.ref, scaler.Decision{Floor: 8})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeDisabled || c.writes() != writes {
		t.Errorf("disabled: outcome %s, %d writes", res.Outcome, c.writes()-writes)
	}
	*c.replicas = 3

	res, err = c.w.Restore(ctx, c.ref)
	if err != nil {
		t.Fatal(err)
	}
	h = c.hpa(t)
	if res.Outcome != OutcomeRestored || *h.Spec.MinReplicas != 2 || h.Annotations[AnnotationOriginal] != "" || h.Annotations[AnnotationWritten] != "" ||
		h.Annotations[AnnotationDecision] != "" {
		t.Errorf("restore: %+v, minReplicas %d, annotations %v", res, *h.Spec.MinReplicas, h.Annotations)
	}
	res, err = c.w.Restore(ctx, c.ref)
	if err != nil || res.Outcome != OutcomeUnchanged {
		t.Errorf("second restore: %+v, %v", res, err)
	}
}

func TestWriterOptOut(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster(t, testHPA(map[string]string{AnnotationEnabled: "false"}))
	res, err := c.w.Apply(ctx, c.ref, scaler.Decision{Floor: 5})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeOptedOut || c.writes() != 0 {
		t.Errorf("opted out: %+v, %d writes", res, c.writes())
	}
	if !OptedOut(c.hpa(t)) {
		t.Error("OptedOut = false")
	}
}

func TestWriterErrors(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster(t, testHPA(map[string]string{AnnotationOriginal: "{broken"}))
	if _, err := c.w.Apply(ctx, c.ref, scaler.Decision{Floor: 5}); !errors.Is(err, ErrBadAnnotation) {
		t.Errorf("bad annotation: %v", err)
	}
	missing := config.ObjectRef{Kind: config.KindHPA, Namespace: "ns", Name: "gone"}
	if _, err := c.w.Apply(ctx, missing, scaler.Decision{Floor: 5}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing HPA: %v", err)
	}
	if _, err := c.w.Restore(ctx, missing); !errors.Is(err, ErrNotFound) {
		t.Errorf("restore of a missing HPA: %v", err)
	}
	if _, err := c.w.Observe(ctx, config.ObjectRef{Kind: "Deployment"}); !errors.Is(err, ErrUnsupportedKind) {
		t.Errorf("unsupported kind: %v", err)
	}
}

// A write refused with 409 Conflict is retried on a fresh read and counted.
func TestWriterCountsConflicts(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster(t, testHPA(nil))
	refusals := 2
	c.kube.PrependReactor("patch", "horizontalpodautoscalers", func(k8stesting.Action) (bool, runtime.Object, error) {
		if refusals == 0 {
			return false, nil, nil
		}
		refusals--
		return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "autoscaling", Resource: "horizontalpodautoscalers"}, "web",
			errors.New("the object has been modified"))
	})
	res, err := c.w.Apply(ctx, c.ref, scaler.Decision{Floor: 5, Reason: scaler.ReasonForecast})
	if err != nil {
		t.Fatal(err)
	}
	if res.Conflicts != 2 || res.Outcome != OutcomeWritten || *c.hpa(t).Spec.MinReplicas != 5 {
		t.Errorf("apply after two conflicts: %+v, minReplicas %d", res, *c.hpa(t).Spec.MinReplicas)
	}
	if err := c.w.Announce(ctx, c.ref, "Warning", "ForecastDemoted", "forecast error 0.8"); err != nil {
		t.Fatal(err)
	}
	if ev := c.drainEvents(); len(ev) == 0 || ev[len(ev)-1] != "Warning ForecastDemoted forecast error 0.8" {
		t.Errorf("events %q, want the announcement last", ev)
	}
}

// Whether prescaler may decide for an object is answered in one place: an
// object scaling anything but a Deployment is refused by ScaleTarget,
// Observe and Apply alike, naming what it scales, and nothing is written;
// one prescaler wrote before (its target changed since) is still given back.
func TestOnlyDeploymentScaleTargets(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster(t, testHPA(nil))
	if _, err := c.w.Apply(ctx, c.ref, scaler.Decision{Floor: 5}); err != nil {
		t.Fatal(err)
	}
	h := c.hpa(t)
	h.Spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db"}
	if _, err := c.kube.AutoscalingV2().HorizontalPodAutoscalers("ns").Update(ctx, h, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	writes := c.writes()
	_, errTarget := c.w.ScaleTarget(ctx, c.ref)
	_, errObserve := c.w.Observe(ctx, c.ref)
	_, errApply := c.w.Apply(ctx, c.ref, scaler.Decision{Floor: 6})
	for name, err := range map[string]error{"ScaleTarget": errTarget, "Observe": errObserve, "Apply": errApply} {
		if !errors.Is(err, ErrUnsupportedScaleTarget) || !strings.Contains(err.Error(), "StatefulSet db") {
			t.Errorf("%s: %v, want ErrUnsupportedScaleTarget naming StatefulSet db", name, err)
		}
	}
	if c.writes() != writes {
		t.Errorf("%d writes to an object scaling a StatefulSet", c.writes()-writes)
	}
	res, err := c.w.Restore(ctx, c.ref)
	if err != nil || res.Outcome != OutcomeRestored || *c.hpa(t).Spec.MinReplicas != 2 {
		t.Errorf("restore: %+v, %v, minReplicas %d", res, err, *c.hpa(t).Spec.MinReplicas)
	}
}
