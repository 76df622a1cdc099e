package writer_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/scaler"
	"github.com/prescaler/prescaler/test/testbed"
	"github.com/prescaler/prescaler/writer"
)

// TestKEDAOperatorE2E checks the whole KEDA path on a real control plane
// with the real KEDA operator: prescaler writes only the ScaledObject's
// spec.minReplicaCount, KEDA rewrites the HPA it owns (keda-hpa-<name>) to
// that minimum, and the HPA controller scales the Deployment up to it.
// Restore gives the user's minimum back the same way. It needs the KEDA
// operator's build: `make test` fails it when that is missing, a plain
// `go test` skips it (testbed.RequireKEDA).
func TestKEDAOperatorE2E(t *testing.T) {
	testbed.RequireKEDA(t)
	env := testbed.Start(t, testbed.Options{Prometheus: testbed.PrometheusOptions{Disabled: true}})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	if err := env.StartKEDA(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := env.AddNode(ctx, testbed.NodeSpec{Name: "node-a"}); err != nil {
		t.Fatal(err)
	}
	const ns, name, hpaName = "default", "web", "keda-hpa-web"
	createDeployment(ctx, t, env, ns, name)
	dyn := dynamic.NewForConfigOrDie(env.RESTConfig)
	scaledObjects := dyn.Resource(schema.GroupVersionResource{Group: "keda.sh", Version: "v1alpha1", Resource: "scaledobjects"})
	if _, err := scaledObjects.Namespace(ns).Create(ctx, scaledObject(ns, name, time.Now()), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	took := waitHPAMin(ctx, t, env, ns, hpaName, 1)
	t.Logf("KEDA created %s with minReplicas 1 %s after the ScaledObject", hpaName, took)

	w, err := writer.New(writer.Options{Kube: env.Client, Dynamic: dyn})
	if err != nil {
		t.Fatal(err)
	}
	ref := config.ObjectRef{Kind: config.KindScaledObject, Namespace: ns, Name: name}
	res, err := w.Apply(ctx, ref, scaler.Decision{Floor: 4, Reason: scaler.ReasonForecast, Message: "forecast needs 4"})
	if err != nil || res.Outcome != writer.OutcomeWritten {
		t.Fatalf("apply: %+v, %v", res, err)
	}
	took = waitHPAMin(ctx, t, env, ns, hpaName, 4)
	t.Logf("KEDA propagated minReplicaCount 4 to %s in %s", hpaName, took)
	took = waitReplicas(ctx, t, env, ns, name, 4)
	t.Logf("Deployment %s reached 4 ready replicas %s after that (%s)", name, took, rescaledBy(ctx, env, ns, hpaName))

	if res, err := w.Restore(ctx, ref); err != nil || res.Outcome != writer.OutcomeRestored {
		t.Fatalf("restore: %+v, %v", res, err)
	}
	took = waitHPAMin(ctx, t, env, ns, hpaName, 1)
	t.Logf("KEDA propagated the restored minReplicaCount 1 to %s in %s", hpaName, took)
	so, err := scaledObjects.Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedInt64(so.Object, "spec", "minReplicaCount"); got != 1 {
		t.Errorf("ScaledObject minReplicaCount after restore = %d, want the user's 1", got)
	}
}

func createDeployment(ctx context.Context, t *testing.T, env *testbed.Env, ns, name string) {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "fake"}}},
			},
		},
	}
	if _, err := env.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// scaledObject is a ScaledObject with a cron trigger, which needs no external
// system: its window is twelve hours away from now, so it stays inactive and
// the floor is minReplicaCount alone.
func scaledObject(ns, name string, now time.Time) *unstructured.Unstructured {
	hour := strconv.Itoa((now.UTC().Hour() + 12) % 24)
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "keda.sh/v1alpha1",
		"kind":       "ScaledObject",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"scaleTargetRef":  map[string]any{"name": name},
			"minReplicaCount": int64(1),
			"maxReplicaCount": int64(10),
			"triggers": []any{map[string]any{
				"type": "cron",
				"metadata": map[string]any{
					"timezone": "UTC", "start": "0 " + hour + " * * *", "end": "1 " + hour + " * * *",
					"desiredReplicas": "2",
				},
			}},
		},
	}}
}

// waitHPAMin waits until the HPA exists with minReplicas want and returns
// how long that took.
func waitHPAMin(ctx context.Context, t *testing.T, env *testbed.Env, ns, name string, want int32) time.Duration {
	t.Helper()
	start := time.Now()
	var got string
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		hpa, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			got = err.Error()
			return false, nil
		}
		got = fmt.Sprintf("minReplicas %d", ptr.Deref(hpa.Spec.MinReplicas, 1))
		return ptr.Deref(hpa.Spec.MinReplicas, 1) == want, nil
	})
	if err != nil {
		t.Fatalf("HPA %s/%s: want minReplicas %d, last seen %s: %v", ns, name, want, got, err)
	}
	return time.Since(start).Round(10 * time.Millisecond)
}

// waitReplicas waits until the Deployment has at least want ready replicas.
func waitReplicas(ctx context.Context, t *testing.T, env *testbed.Env, ns, name string, want int32) time.Duration {
	t.Helper()
	start := time.Now()
	var spec, ready int32
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := env.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		spec, ready = ptr.Deref(d.Spec.Replicas, 1), d.Status.ReadyReplicas
		return spec >= want && ready >= want, nil
	})
	if err != nil {
		t.Fatalf("Deployment %s/%s: want %d ready replicas, have spec %d, ready %d: %v", ns, name, want, spec, ready, err)
	}
	return time.Since(start).Round(10 * time.Millisecond)
}

// rescaledBy says which controller scaled the Deployment up: KEDA's own scale
// loop also enforces minReplicaCount on its target and races the HPA
// controller, so either may win; both are correct.
func rescaledBy(ctx context.Context, env *testbed.Env, ns, hpaName string) string {
	events, err := env.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=HorizontalPodAutoscaler,involvedObject.name=" + hpaName + ",reason=SuccessfulRescale",
	})
	if err != nil {
		return "events: " + err.Error()
	}
	if len(events.Items) == 0 {
		return "by KEDA's scale loop: the HPA controller found it at its minimum"
	}
	return "by the HPA controller: " + events.Items[len(events.Items)-1].Message
}
