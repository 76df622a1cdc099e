package startup

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/utils/ptr"

	"github.com/prescaler/prescaler/test/testbed"
)

// TestRecorderOnTestbed reads start-up times from pods made by a real
// Deployment and ReplicaSet controller, bound by the real scheduler and made
// Ready by kwok: the status the Recorder parses is the API server's, not one
// written by hand.
func TestRecorderOnTestbed(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the testbed (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok); runs without -short")
	}
	env := testbed.Start(t, testbed.Options{Prometheus: testbed.PrometheusOptions{Disabled: true}})
	ctx, cancel := context.WithCancel(t.Context())
	factory := informers.NewSharedInformerFactory(env.Client, 0)
	rec, err := NewRecorder(factory, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	defer func() { cancel(); factory.Shutdown() }()
	factory.WaitForCacheSync(ctx.Done())

	if _, err := env.AddNode(ctx, testbed.GPUNode("startup-gpu", 8)); err != nil {
		t.Fatal(err)
	}
	ns := "startup"
	if _, err := env.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	app := map[string]string{"app": "llm"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "llm", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: app},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: app},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "server", Image: "registry.invalid/llm:test",
					Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{testbed.ResourceGPU: resource.MustParse("1")}},
				}}},
			},
		},
	}
	created := time.Now()
	if _, err := env.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var est Estimate
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 90*time.Second, true, func(context.Context) (bool, error) {
		est, err = rec.Deployment(d, time.Hour, time.Now())
		return err == nil && est.Samples == 3, nil
	})
	if err != nil {
		t.Fatalf("want 3 samples, got %+v: %v", est, err)
	}
	// kwok makes a bound pod Ready at once: the start-up is the controllers'
	// and the scheduler's time, seconds at most (timestamps have whole-second
	// precision, so zero is possible).
	elapsed := time.Since(created)
	if est.P50 < 0 || est.P90 < est.P50 || est.P90 > elapsed+time.Second {
		t.Errorf("P50 %s, P90 %s; want 0 ≤ P50 ≤ P90 ≤ %s", est.P50, est.P90, elapsed)
	}
	t.Logf("start-up of 3 kwok pods: %+v", est)
}
