package startup

import (
	"context"
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var app = map[string]string{"app": "llm"}

// pod is a pod of the llm app created at t0+created; ready < 0 means not
// Ready yet.
func pod(name string, created, ready time.Duration, restarts int32) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "serving", UID: types.UID(name), Labels: app,
			CreationTimestamp: metav1.NewTime(t0.Add(created))},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "server", RestartCount: restarts}}},
	}
	cond := corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(t0.Add(created))}
	if ready >= 0 {
		cond.Status, cond.LastTransitionTime = corev1.ConditionTrue, metav1.NewTime(t0.Add(ready))
	}
	p.Status.Conditions = []corev1.PodCondition{cond}
	return p
}

func TestRecorderRules(t *testing.T) {
	r := &Recorder{retention: 6 * time.Hour, synced: func() bool { return true },
		samples: map[types.UID]entry{}, unready: map[types.UID]struct{}{}}

	r.observe(pod("ready", 0, 3*time.Minute, 0))
	// Found Ready with a restart: its Ready time may follow the restart.
	r.observe(pod("restarted", 0, 4*time.Hour, 2))
	// Seen starting, then Ready after a crash during start-up: the crash is
	// part of its start-up.
	r.observe(pod("crashy", time.Minute, -1, 0))
	r.observe(pod("crashy", time.Minute, 11*time.Minute, 1))
	// A readiness flap later does not move the recorded Ready time.
	r.observe(pod("ready", 0, 2*time.Hour, 0))
	// Still starting: no sample.
	r.observe(pod("starting", 0, -1, 0))

	got, err := r.For("serving", labels.SelectorFromSet(app), 5*time.Hour, t0.Add(5*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// Samples: 3 min and 10 min. Median 6.5 min, p90 9.3 min.
	want := Estimate{P50: 390 * time.Second, P90: 558 * time.Second, Samples: 2}
	if got != want {
		t.Errorf("For = %+v, want %+v", got, want)
	}

	// Past the retention the samples are dropped.
	if n := len(r.Samples(t0.Add(7 * time.Hour))); n != 0 {
		t.Errorf("after the retention: %d samples kept", n)
	}
	if _, err := r.For("serving", labels.SelectorFromSet(app), time.Hour, t0.Add(7*time.Hour)); !errors.Is(err, ErrNoSamples) {
		t.Errorf("err = %v, want ErrNoSamples", err)
	}
	if _, err := r.For("serving", labels.Everything(), 7*time.Hour, t0); err == nil {
		t.Error("a window wider than the retention gave no error")
	}
}

func TestRecorderOnInformer(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	client := fake.NewClientset(pod("a", 0, 2*time.Minute, 0), pod("b", 0, -1, 0))
	factory := informers.NewSharedInformerFactory(client, 0)
	r, err := NewRecorder(factory, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "llm", Namespace: "serving"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: app}}}
	now := t0.Add(time.Hour)
	if _, err := r.Deployment(d, time.Hour, now); !errors.Is(err, ErrNotSynced) {
		t.Fatalf("before sync: err = %v, want ErrNotSynced", err)
	}
	factory.Start(ctx.Done())
	defer func() { cancel(); factory.Shutdown() }()
	factory.WaitForCacheSync(ctx.Done())
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return r.HasSynced(), nil
	}); err != nil {
		t.Fatal(err)
	}

	// Pod b becomes Ready after 6 minutes, then is deleted by a scale-down:
	// its sample stays.
	if _, err := client.CoreV1().Pods("serving").UpdateStatus(ctx, pod("b", 0, 6*time.Minute, 0), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.CoreV1().Pods("serving").Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var got Estimate
	err = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		got, err = r.Deployment(d, time.Hour, now)
		return err == nil && got.Samples == 2, nil
	})
	if err != nil {
		t.Fatalf("got %+v, %v; want 2 samples", got, err)
	}
	if got.P50 != 4*time.Minute {
		t.Errorf("P50 = %s, want 4m", got.P50)
	}

	if _, err := client.AppsV1().Deployments("serving").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		got, err = r.ForDeployment("serving", "llm", time.Hour, now)
		return err == nil && got.Samples == 2, nil
	})
	if err != nil {
		t.Fatalf("ForDeployment: %+v, %v", got, err)
	}
}
