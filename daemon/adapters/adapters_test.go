package adapters

import (
	"context"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/writer"
)

// A loop asks for the scale target three times (capacity, start-up,
// signals): within the TTL the API is read once, and again after it.
func TestScaleTargetsReuseAnAnswerForTheTTL(t *testing.T) {
	kube := fake.NewClientset(&autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "inference-hpa"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "ai-inference"}},
	})
	w, err := writer.New(writer.Options{Kube: kube, Dynamic: dynamicfake.NewSimpleDynamicClient(runtime.NewScheme())})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(0, 0)
	s := &ScaleTargets{Writer: w, TTL: time.Minute, Now: func() time.Time { return now }}
	target := &config.Target{Name: "ai-inference", Namespace: "default", HPA: "inference-hpa"}
	gets := func() int { return len(kube.Actions()) }
	for range 3 {
		if name, err := s.Deployment(context.Background(), target); err != nil || name != "ai-inference" {
			t.Fatalf("Deployment = %q, %v", name, err)
		}
	}
	if gets() != 1 {
		t.Errorf("%d API reads within the TTL, want 1", gets())
	}
	now = now.Add(time.Minute)
	if _, err := s.Deployment(context.Background(), target); err != nil || gets() != 2 {
		t.Errorf("after the TTL: %d reads (err %v), want 2", gets(), err)
	}
	missing := &config.Target{Name: "x", Namespace: "default", HPA: "missing"}
	for range 2 {
		if _, err := s.Deployment(context.Background(), missing); err == nil {
			t.Fatal("a missing HPA gave no error")
		}
	}
	if gets() != 4 {
		t.Errorf("%d reads: a failed read must not be reused", gets())
	}
}
