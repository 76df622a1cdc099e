package capacity

import (
	"context"
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func TestCollectorOnInformers(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	app := map[string]string{"app": "llm"}
	running := boundPod("llm-1", "a", "nvidia.com/gpu=2", "cpu=1")
	running.Namespace, running.Labels = "serving", app
	client := fake.NewClientset(
		node("a", "nvidia.com/gpu=8"),
		node("b", "nvidia.com/gpu=8"),
		running,
		&nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "nvidia"}, Handler: "nvidia", Overhead: &nodev1.Overhead{PodFixed: rl("cpu=1")}},
		&corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "lr", Namespace: "serving"}, Spec: corev1.LimitRangeSpec{
			Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer, DefaultRequest: rl("cpu=3")}}}},
	)
	factory := informers.NewSharedInformerFactory(client, 0)
	c := NewCollector(factory)

	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "llm", Namespace: "serving"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: app},
			Template: template(func(s *corev1.PodSpec) { s.RuntimeClassName = ptr.To("nvidia") }, limits("nvidia.com/gpu=2")),
		},
	}
	d.Spec.Template.Labels = app

	if _, err := c.Deployment(d); !errors.Is(err, ErrNotSynced) {
		t.Fatalf("before the caches sync: err = %v, want ErrNotSynced", err)
	}
	factory.Start(ctx.Done())
	defer func() { cancel(); factory.Shutdown() }()
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("cache of %v did not sync", typ)
		}
	}

	got, err := c.Deployment(d)
	if err != nil {
		t.Fatal(err)
	}
	// Each copy: 2 GPUs, 3 cpu from the LimitRange + 1 overhead. Node a
	// has 6 GPUs and 31 cpu left (3 copies), node b 8 GPUs (4 copies).
	if got.Scheduled != 1 || got.Copies != 7 || got.Replicas() != 8 {
		t.Fatalf("got Scheduled %d Copies %d; want 1 and 7\n%s", got.Scheduled, got.Copies, got.Summary())
	}
	if got.Request["cpu"] != 4000 {
		t.Errorf("Request = %v, want cpu=4000m (LimitRange default + RuntimeClass overhead)", got.Request)
	}

	// A watch event, not a new list, brings the next pod in.
	other := boundPod("trainer", "b", "nvidia.com/gpu=8")
	other.Namespace = "training"
	if _, err := client.CoreV1().Pods("training").Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		got, err = c.Deployment(d)
		return err == nil && got.Copies == 3, err
	})
	if err != nil {
		t.Fatalf("after node b filled up: Copies = %d, want 3: %v", got.Copies, err)
	}

	// By name, from the Deployment cache: an HPA's scaleTargetRef.
	if _, err := client.AppsV1().Deployments("serving").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		got, err = c.ForDeployment("serving", "llm")
		return err == nil && got.Copies == 3, nil
	})
	if err != nil {
		t.Fatalf("ForDeployment: %+v, %v", got, err)
	}
	if _, err := c.ForDeployment("serving", "missing"); !apierrors.IsNotFound(err) {
		t.Errorf("a missing Deployment: err = %v, want NotFound", err)
	}

	bad := d.DeepCopy()
	bad.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Bogus"}}}
	if _, err := c.Deployment(bad); err == nil {
		t.Error("an invalid selector gave no error")
	}
}

// Within SnapshotTTL the collector estimates on the snapshot it read last,
// so the targets of one loop share one listing of the cluster; after it,
// a new snapshot sees what the watches brought in.
func TestCollectorReusesASnapshotForTheTTL(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	client := fake.NewClientset(node("a", "nvidia.com/gpu=8"))
	factory := informers.NewSharedInformerFactory(client, 0)
	c := NewCollector(factory)
	now := time.Unix(1_800_000_000, 0)
	c.now = func() time.Time { return now }
	factory.Start(ctx.Done())
	defer func() { cancel(); factory.Shutdown() }()
	factory.WaitForCacheSync(ctx.Done())

	tmpl := template(nil, limits("nvidia.com/gpu=1"))
	copies := func() int32 {
		s, err := c.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		res, err := Estimate(s, "serving", &tmpl)
		if err != nil {
			t.Fatal(err)
		}
		return res.Copies
	}
	if got := copies(); got != 8 {
		t.Fatalf("copies %d on an empty node of 8 GPUs", got)
	}
	if _, err := client.CoreV1().Pods("other").Create(ctx, boundPod("p", "a", "nvidia.com/gpu=8"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		pods, err := c.pods.List(labels.Everything())
		return err == nil && len(pods) == 1, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := copies(); got != 8 {
		t.Errorf("within the TTL: copies %d, want the snapshot's 8", got)
	}
	now = now.Add(SnapshotTTL)
	if got := copies(); got != 0 {
		t.Errorf("after the TTL: copies %d, want 0 (the node is full)", got)
	}
}
