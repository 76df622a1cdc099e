package placeholder

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/prescaler/prescaler/test/testbed"
)

// settle bounds each wait for the controllers and the scheduler.
const settle = 2 * time.Minute

// poolLabel and poolTaint mark the GPU pool the workload is pinned to.
const poolLabel = "pool"

var poolTaint = corev1.Taint{Key: "nvidia.com/gpu", Value: "present", Effect: corev1.TaintEffectNoSchedule}

// TestPlaceholdersYieldToWorkload runs placeholders on the testbed's real
// kube-apiserver, kube-controller-manager and kube-scheduler (default
// profile, so DefaultPreemption is on) with kwok GPU nodes: a fixed pool of
// 2 nodes × 2 GPUs, tainted and labelled, plus a GPU node outside it. The
// workload (1 GPU per pod, priority 0) runs 1 replica; 3 placeholders fill
// the pool's other 3 GPUs and none goes to the node outside it. Scaled to
// 4, the workload needs those GPUs: the scheduler preempts the placeholders,
// the workload runs 4 replicas, and the recreated placeholders wait
// Pending. Remove leaves no placeholder pod.
func TestPlaceholdersYieldToWorkload(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the testbed (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok); runs without -short")
	}
	env := testbed.Start(t, testbed.Options{Prometheus: testbed.PrometheusOptions{Disabled: true}})
	ctx := t.Context()
	kube := env.Client
	const ns = "placeholders"

	for _, name := range []string{"gpu-a", "gpu-b"} {
		spec := testbed.GPUNode(name, 2)
		spec.Labels = map[string]string{poolLabel: "gpu"}
		spec.Taints = []corev1.Taint{poolTaint}
		if _, err := env.AddNode(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.AddNode(ctx, testbed.GPUNode("gpu-outside", 4)); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	c := New(kube)
	if err := c.EnsurePriorityClass(ctx, DefaultPriorityClassName, DefaultPriority); err != nil {
		t.Fatal(err)
	}
	workload, err := kube.AppsV1().Deployments(ns).Create(ctx, workloadDeployment(ns, 1), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "1 workload replica ready", func() (bool, error) { return readyReplicas(ctx, kube, ns, "llm-server", 1) })

	tg := Target{Name: "llm", Namespace: ns, Workload: workload.Name, WorkloadSelector: workload.Spec.Selector,
		Owner: &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "Deployment", Name: workload.Name, UID: workload.UID}}
	if got, err := c.Apply(ctx, tg, &workload.Spec.Template, 3); err != nil || got != OutcomeCreated {
		t.Fatalf("Apply = %s, %v; want created", got, err)
	}
	own := labels.SelectorFromSet(Labels("llm"))
	waitFor(t, "3 placeholders running in the pool", func() (bool, error) {
		pods, err := podsOf(ctx, kube, ns, own)
		if err != nil || len(pods) != 3 {
			return false, err
		}
		for _, p := range pods {
			if p.Status.Phase != corev1.PodRunning {
				return false, fmt.Errorf("%s is %s", p.Name, p.Status.Phase)
			}
		}
		return true, nil
	})
	pods, err := podsOf(ctx, kube, ns, own)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if p.Spec.NodeName != "gpu-a" && p.Spec.NodeName != "gpu-b" {
			t.Errorf("placeholder %s runs on %s, outside the pool", p.Name, p.Spec.NodeName)
		}
		if q := p.Spec.Containers[0].Resources.Requests[testbed.ResourceGPU]; q.Value() != 1 {
			t.Errorf("placeholder %s holds %s GPUs, want 1", p.Name, q.String())
		}
		if p.Spec.Priority == nil || *p.Spec.Priority != DefaultPriority || p.Spec.PreemptionPolicy == nil || *p.Spec.PreemptionPolicy != corev1.PreemptNever {
			t.Errorf("placeholder %s: priority %v, preemptionPolicy %v", p.Name, p.Spec.Priority, p.Spec.PreemptionPolicy)
		}
	}
	if got, err := c.Apply(ctx, tg, &workload.Spec.Template, 3); err != nil || got != OutcomeUnchanged {
		t.Fatalf("second Apply = %s, %v; want unchanged (the API server's defaults are no difference)", got, err)
	}

	// The peak: the workload needs the 3 GPUs the placeholders hold.
	scale, err := kube.AppsV1().Deployments(ns).GetScale(ctx, workload.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scale.Spec.Replicas = 4
	if _, err := kube.AppsV1().Deployments(ns).UpdateScale(ctx, workload.Name, scale, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A preemptor whose first attempt found its victims still terminating
	// waits in the scheduler's unschedulable queue for a retry, at the
	// latest --pod-max-in-unschedulable-pods-duration (5 minutes) later.
	wctx, cancel := context.WithTimeout(ctx, 6*time.Minute)
	defer cancel()
	testbed.WaitFor(wctx, t, "4 workload replicas ready", func() (bool, error) { return readyReplicas(ctx, kube, ns, "llm-server", 4) })
	waitFor(t, "the preempted placeholders recreated and Pending", func() (bool, error) {
		pods, err := podsOf(ctx, kube, ns, own)
		if err != nil || len(pods) != 3 {
			return false, err
		}
		for _, p := range pods {
			if p.Spec.NodeName != "" {
				return false, fmt.Errorf("%s still on %s", p.Name, p.Spec.NodeName)
			}
		}
		return true, nil
	})
	waitFor(t, "the scheduler's Preempted events", func() (bool, error) {
		events, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		preempted := 0
		for _, e := range events.Items {
			if e.Reason == "Preempted" {
				preempted++
			}
		}
		return preempted >= 3, fmt.Errorf("%d Preempted events", preempted)
	})

	if err := c.Remove(ctx, ns, "llm"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "no placeholder pod left, terminating or not", func() (bool, error) {
		pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: own.String()})
		if err != nil {
			return false, err
		}
		return len(pods.Items) == 0, fmt.Errorf("%d placeholder pods", len(pods.Items))
	})
	if left, err := c.List(ctx, ""); err != nil || len(left) != 0 {
		t.Errorf("List after Remove = %+v, %v", left, err)
	}
	if ok, err := readyReplicas(ctx, kube, ns, "llm-server", 4); !ok {
		t.Errorf("the workload lost replicas: %v", err)
	}
}

// workloadDeployment is an inference server pinned to the GPU pool, at the
// default priority (no class: 0).
func workloadDeployment(ns string, replicas int32) *appsv1.Deployment {
	podLabels := map[string]string{"app": "llm"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "llm-server", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: podLabels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{poolLabel: "gpu"},
					Tolerations:  []corev1.Toleration{{Key: poolTaint.Key, Operator: corev1.TolerationOpExists, Effect: poolTaint.Effect}},
					Containers:   []corev1.Container{container("server", "cpu=1,memory=4Gi", "nvidia.com/gpu=1")},
					// As a real model server: it stops in its own time.
					TerminationGracePeriodSeconds: ptr.To[int64](30),
				},
			},
		},
	}
}

func readyReplicas(ctx context.Context, kube kubernetes.Interface, ns, name string, want int32) (bool, error) {
	d, err := kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, err
	}
	return d.Status.ReadyReplicas == want, fmt.Errorf("%s has %d ready replicas", name, d.Status.ReadyReplicas)
}

// podsOf lists the pods sel selects, left out those being deleted.
func podsOf(ctx context.Context, kube kubernetes.Interface, ns string, sel labels.Selector) ([]corev1.Pod, error) {
	list, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

func waitFor(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), settle)
	defer cancel()
	testbed.WaitFor(ctx, t, what, cond)
}
