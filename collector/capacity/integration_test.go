package capacity

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/utils/ptr"

	"github.com/prescaler/prescaler/test/testbed"
)

// schedulerDeadline bounds each wait for the scheduler (and the controllers
// before it) to settle.
const schedulerDeadline = 90 * time.Second

// TestCapacityAgainstScheduler is the proof of the estimate: for each cluster
// case, on a real kube-apiserver, kube-controller-manager and kube-scheduler
// with kwok nodes, the Collector (on real informers) computes the capacity of
// a Deployment; the Deployment scaled to its scheduled pods plus the
// estimate has no Pending pod, and one more replica leaves exactly one
// Pending, marked Unschedulable by the scheduler.
func TestCapacityAgainstScheduler(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the testbed (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok); runs without -short")
	}
	env := testbed.Start(t, testbed.Options{Prometheus: testbed.PrometheusOptions{Disabled: true}})
	ctx, cancel := context.WithCancel(t.Context())
	factory := informers.NewSharedInformerFactory(env.Client, 0)
	coll := NewCollector(factory)
	factory.Start(ctx.Done())
	defer func() { cancel(); factory.Shutdown() }()
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("cache of %v did not sync", typ)
		}
	}
	for _, c := range clusterCases {
		t.Run(c.name, func(t *testing.T) { c.runOnTestbed(t, env, coll) })
	}
}

func (c capacityCase) runOnTestbed(t *testing.T, env *testbed.Env, coll *Collector) {
	ctx := t.Context()
	client := env.Client
	ns := "capacity-" + c.name

	// Cleanups run last-in first-out: the nodes go last, and the case
	// waits until the collector no longer sees them, so the next case
	// starts on an empty cluster.
	t.Cleanup(func() {
		ctx := context.WithoutCancel(ctx)
		for _, n := range c.nodes {
			if err := env.DeleteNode(ctx, c.nodeName(n.name)); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, schedulerDeadline, true, func(context.Context) (bool, error) {
			s, err := coll.Snapshot()
			return err == nil && len(s.Nodes) == 0, nil
		}); err != nil {
			t.Errorf("cleanup: nodes still in the cache: %v", err)
		}
	})
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Not waited for: pods on a node kwok no longer manages stay
		// Terminating until the pod garbage collector removes them, and
		// they hold nothing once their node is gone.
		_ = client.CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), ns, metav1.DeleteOptions{})
	})

	for _, n := range c.nodes {
		spec := testbed.NodeSpec{Name: c.nodeName(n.name), Allocatable: n.alloc, Labels: n.labels, Taints: n.taints}
		if _, err := env.AddNode(ctx, spec); err != nil {
			t.Fatal(err)
		}
		if n.cordoned {
			if err := env.Cordon(ctx, spec.Name); err != nil {
				t.Fatal(err)
			}
		}
		if n.notReady {
			if err := env.SetNodeReady(ctx, spec.Name, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	if rc := c.runtimeClass; rc != nil {
		if _, err := client.NodeV1().RuntimeClasses().Create(ctx, rc.DeepCopy(), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = client.NodeV1().RuntimeClasses().Delete(context.WithoutCancel(ctx), rc.Name, metav1.DeleteOptions{})
		})
	}
	if lr := c.limitRange; lr != nil {
		lr = lr.DeepCopy()
		lr.Namespace = ns
		if _, err := client.CoreV1().LimitRanges(ns).Create(ctx, lr, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range c.pods {
		pod := p.object(fmt.Sprintf("other-%d", i), c.nodeName(p.node))
		pod.Namespace, pod.Status = ns, corev1.PodStatus{}
		if pod.Labels == nil {
			pod.Labels = map[string]string{}
		}
		pod.Labels["app"] = "other"
		if _, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	selector := labels.SelectorFromSet(c.targetLabels())
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "target", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(len(c.scheduledOn))),
			Selector: &metav1.LabelSelector{MatchLabels: c.targetLabels()},
			Template: *c.targetTemplate(),
		},
	}
	if _, err := client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(c.scheduledOn) > 0 {
		waitPods(t, env, ns, selector, int32(len(c.scheduledOn)), 0)
	}

	// Wait until the collector's caches hold the case as created, then
	// estimate once.
	var target Target
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, schedulerDeadline, true, func(context.Context) (bool, error) {
		s, err := coll.Snapshot()
		if err != nil || !c.settled(s, ns) {
			return false, nil
		}
		target, err = coll.Deployment(d)
		return true, err
	})
	if err != nil {
		t.Fatalf("the collector's caches never showed the case: %v", err)
	}
	t.Logf("estimate: scheduled %d + %s", target.Scheduled, target.Summary())
	if target.Copies != c.want || target.Scheduled != int32(len(c.scheduledOn)) {
		t.Fatalf("estimate: Copies %d, Scheduled %d; want %d, %d", target.Copies, target.Scheduled, c.want, len(c.scheduledOn))
	}
	got := c.breakdown(target.Result)
	for node, want := range c.wantNodes {
		if _, err := fmt.Sscan(want, new(int)); err == nil && len(c.scheduledOn) > 0 {
			continue // where the target's own pods went is the scheduler's choice
		}
		if got[node] != want {
			t.Errorf("node %s: %s, want %s", node, got[node], want)
		}
	}

	// The estimate fits: no Pending pod.
	replicas := target.Replicas()
	scale(t, env, ns, replicas)
	waitPods(t, env, ns, selector, replicas, 0)
	// One more does not: exactly one Pending, and the scheduler says why.
	scale(t, env, ns, replicas+1)
	waitPods(t, env, ns, selector, replicas+1, 1)
}

// settled reports whether the snapshot shows exactly the case's nodes in
// their final state, and its pods, LimitRange and RuntimeClass.
func (c capacityCase) settled(s Snapshot, ns string) bool {
	if len(s.Nodes) != len(c.nodes) {
		return false
	}
	byName := map[string]*corev1.Node{}
	for _, n := range s.Nodes {
		byName[n.Name] = n
	}
	for _, want := range c.nodes {
		n := byName[c.nodeName(want.name)]
		if n == nil || n.Spec.Unschedulable != want.cordoned {
			return false
		}
		if status, _ := ready(n); (status == corev1.ConditionTrue) == want.notReady {
			return false
		}
	}
	bound := 0
	for _, p := range s.Pods {
		if p.Namespace == ns && p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
			bound++
		}
	}
	if bound != len(c.pods)+len(c.scheduledOn) {
		return false
	}
	if c.limitRange != nil && !hasNamespaced(s.LimitRanges, ns) {
		return false
	}
	if c.runtimeClass != nil {
		found := false
		for _, rc := range s.RuntimeClasses {
			found = found || rc.Name == c.runtimeClass.Name
		}
		if !found {
			return false
		}
	}
	return true
}

func hasNamespaced(lrs []*corev1.LimitRange, ns string) bool {
	for _, lr := range lrs {
		if lr.Namespace == ns {
			return true
		}
	}
	return false
}

func scale(t *testing.T, env *testbed.Env, ns string, replicas int32) {
	t.Helper()
	patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas)
	if _, err := env.Client.AppsV1().Deployments(ns).Patch(t.Context(), "target", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitPods waits until the target has exactly replicas live pods, of which
// exactly pending are unbound, each marked Unschedulable by the scheduler
// (so the scheduler has tried it and given up, rather than not tried yet).
func waitPods(t *testing.T, env *testbed.Env, ns string, selector labels.Selector, replicas, pending int32) {
	t.Helper()
	var state string
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, schedulerDeadline, true, func(ctx context.Context) (bool, error) {
		list, err := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
		if err != nil {
			return false, err
		}
		var live, bound, unschedulable int32
		var notes []string
		for _, p := range list.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			live++
			if p.Spec.NodeName != "" {
				bound++
				continue
			}
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable {
					unschedulable++
					notes = append(notes, p.Name+": "+cond.Message)
				}
			}
		}
		state = fmt.Sprintf("%d live, %d bound, %d unschedulable %s", live, bound, unschedulable, strings.Join(notes, "; "))
		return live == replicas && bound == replicas-pending && unschedulable == pending, nil
	})
	if err != nil {
		t.Fatalf("want %d pods with %d Pending: %s: %v", replicas, pending, state, err)
	}
	t.Logf("%d replicas: %s", replicas, state)
}
