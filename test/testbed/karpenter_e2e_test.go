package testbed_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/prescaler/prescaler/test/testbed"
)

// nodeReadyDelay is how long the Karpenter test's nodes take to boot.
const nodeReadyDelay = 20 * time.Second

// Karpenter on the testbed, as prescaler's tests will meet it: a NodePool
// capped at 8 GPUs, an instance type of 4 GPUs and nodes that take
// nodeReadyDelay to become Ready. 6 one-GPU pods get 2 nodes, Ready no sooner
// than the delay after their NodeClaims; 12 pods get no third node (the
// pool's limit holds: 8 run, 4 stay Pending); with no pods left Karpenter
// removes the empty nodes.
func TestKarpenterProvisionsGPUNodesUpToTheNodePoolLimit(t *testing.T) {
	testbed.RequireKarpenter(t)
	env := testbed.Start(t, testbed.Options{
		Prometheus: testbed.PrometheusOptions{Disabled: true},
		Karpenter:  &testbed.KarpenterOptions{NodeReadyDelay: nodeReadyDelay},
	})
	ctx := t.Context()
	if err := env.AddNodePool(ctx, testbed.NodePoolSpec{Name: "gpu", GPULimit: 8, ConsolidateAfter: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(env.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	ready := watchNodesReady(ctx, env.Client)
	dep := newGPUDeployment(t, env.Client, "llm", "llm")

	scale(t, env.Client, dep, 6)
	waitPods(t, env.Client, dep, 6, 0, 4*time.Minute)
	claims := nodeClaims(t, dyn)
	if len(claims) != 2 {
		t.Fatalf("6 one-GPU pods: %d NodeClaims, want 2 of 4 GPUs", len(claims))
	}
	for _, c := range claims {
		checkProvisioningTime(t, c, ready)
	}

	scale(t, env.Client, dep, 12)
	waitPods(t, env.Client, dep, 8, 4, 2*time.Minute)
	// Longer than Karpenter's batch window (10s) and a provisioning round:
	// a third node, were the limit not enforced, would have its NodeClaim
	// by then.
	holdFor(t, 30*time.Second, func() error {
		if n, gpus := len(nodeClaims(t, dyn)), claimedGPUs(t, dyn); n != 2 || gpus > 8 {
			return fmt.Errorf("%d NodeClaims with %d GPUs, want 2 with at most 8 (the NodePool's limit)", n, gpus)
		}
		return checkPods(ctx, env.Client, dep, 8, 4)
	})
	t.Logf("12 pods: 2 NodeClaims, %d GPUs, 8 pods Running and 4 Pending for 30s", claimedGPUs(t, dyn))

	scale(t, env.Client, dep, 0)
	emptied := time.Now()
	testbed.WaitFor(withTimeout(t, 3*time.Minute), t, "Karpenter to remove the empty nodes", func() (bool, error) {
		nodes, err := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: testbed.NodePoolLabel})
		if err != nil {
			return false, err
		}
		return len(nodes.Items) == 0 && len(nodeClaims(t, dyn)) == 0, nil
	})
	t.Logf("no pods: Karpenter removed both nodes in %s", time.Since(emptied).Round(time.Second))
}

// readyTimes records when the test first saw each node Ready: kwok writes
// the node's creation time into its Ready condition's lastTransitionTime,
// so the API cannot tell when it became Ready.
type readyTimes struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (r *readyTimes) get(node string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.at[node]
	return t, ok
}

// watchNodesReady polls Karpenter's nodes every 100 ms until ctx ends.
func watchNodesReady(ctx context.Context, kube kubernetes.Interface) *readyTimes {
	r := &readyTimes{at: map[string]time.Time{}}
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			nodes, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: testbed.NodePoolLabel})
			if err != nil {
				continue
			}
			now := time.Now()
			r.mu.Lock()
			for _, n := range nodes.Items {
				if _, seen := r.at[n.Name]; !seen && isReady(&n) {
					r.at[n.Name] = now
				}
			}
			r.mu.Unlock()
		}
	}()
	return r
}

func isReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// checkProvisioningTime checks that a NodeClaim's node became Ready at least
// nodeReadyDelay after the NodeClaim was created, and not much later: the
// delay counts from the node's creation, which Karpenter's launch follows
// within seconds, and must not restart when the node changes.
func checkProvisioningTime(t *testing.T, claim unstructured.Unstructured, ready *readyTimes) {
	t.Helper()
	node, _, _ := unstructured.NestedString(claim.Object, "status", "nodeName")
	at, ok := ready.get(node)
	if !ok {
		t.Fatalf("NodeClaim %s: its node %q was never seen Ready", claim.GetName(), node)
	}
	took := at.Sub(claim.GetCreationTimestamp().Time)
	t.Logf("NodeClaim %s: node %s Ready %s after the NodeClaim was created", claim.GetName(), node, took.Round(100*time.Millisecond))
	if took < nodeReadyDelay || took > nodeReadyDelay+20*time.Second {
		t.Errorf("NodeClaim %s: node Ready after %s, want between %s and %s", claim.GetName(), took, nodeReadyDelay, nodeReadyDelay+20*time.Second)
	}
}

func nodeClaims(t *testing.T, dyn dynamic.Interface) []unstructured.Unstructured {
	t.Helper()
	list, err := dyn.Resource(testbed.NodeClaimResource).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing NodeClaims: %v", err)
	}
	return list.Items
}

// claimedGPUs sums the GPU capacity of every NodeClaim.
func claimedGPUs(t *testing.T, dyn dynamic.Interface) int64 {
	t.Helper()
	var sum int64
	for _, c := range nodeClaims(t, dyn) {
		s, _, _ := unstructured.NestedString(c.Object, "status", "capacity", string(testbed.ResourceGPU))
		if s == "" {
			continue // not launched yet
		}
		q, err := resource.ParseQuantity(s)
		if err != nil {
			t.Fatalf("NodeClaim %s: GPU capacity %q: %v", c.GetName(), s, err)
		}
		sum += q.Value()
	}
	return sum
}

func newGPUDeployment(t *testing.T, kube kubernetes.Interface, ns, name string) *appsv1.Deployment {
	t.Helper()
	ctx := t.Context()
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": name}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](0),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "server",
					Image: "registry.invalid/llm:test", // kwok runs nothing
					Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
						Limits:   corev1.ResourceList{testbed.ResourceGPU: resource.MustParse("1")},
					},
				}}},
			},
		},
	}
	dep, err := kube.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return dep
}

func scale(t *testing.T, kube kubernetes.Interface, dep *appsv1.Deployment, replicas int32) {
	t.Helper()
	s := &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: dep.Name, Namespace: dep.Namespace},
		Spec:       autoscalingv1.ScaleSpec{Replicas: replicas},
	}
	if _, err := kube.AppsV1().Deployments(dep.Namespace).UpdateScale(t.Context(), dep.Name, s, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("scaling %s to %d: %v", dep.Name, replicas, err)
	}
}

// waitPods waits until the Deployment has running pods Running and pending
// pods Pending.
func waitPods(t *testing.T, kube kubernetes.Interface, dep *appsv1.Deployment, running, pending int, timeout time.Duration) {
	t.Helper()
	testbed.WaitFor(withTimeout(t, timeout), t, fmt.Sprintf("%d pods Running and %d Pending", running, pending), func() (bool, error) {
		err := checkPods(t.Context(), kube, dep, running, pending)
		return err == nil, err
	})
}

// checkPods says how the Deployment's pods differ from running Running and
// pending Pending (unscheduled).
func checkPods(ctx context.Context, kube kubernetes.Interface, dep *appsv1.Deployment, running, pending int) error {
	pods, err := kube.CoreV1().Pods(dep.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + dep.Name})
	if err != nil {
		return err
	}
	var r, p int
	for _, pod := range pods.Items {
		switch {
		case pod.DeletionTimestamp != nil:
		case pod.Status.Phase == corev1.PodRunning:
			r++
		case pod.Status.Phase == corev1.PodPending && pod.Spec.NodeName == "":
			p++
		}
	}
	if r != running || p != pending || len(pods.Items) != running+pending {
		return fmt.Errorf("%d pods: %d Running, %d Pending", len(pods.Items), r, p)
	}
	return nil
}

// holdFor checks cond every second for d and fails the test the first time
// it does not hold.
func holdFor(t *testing.T, d time.Duration, cond func() error) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(time.Second) {
		if err := cond(); err != nil {
			t.Fatal(err)
		}
	}
}

func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
