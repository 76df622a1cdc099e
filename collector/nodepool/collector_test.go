package nodepool

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/dynamic/dynamicinformer"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
)

// nodeClaim is a NodeClaim of pool created at t0+created; took < 0 means
// not Ready yet.
func nodeClaim(t *testing.T, name, pool string, created, took time.Duration) *unstructured.Unstructured {
	ready := `{type: Ready, status: "False", lastTransitionTime: "` + t0.Add(created).Format(time.RFC3339) + `"}`
	if took >= 0 {
		ready = `{type: Ready, status: "True", lastTransitionTime: "` + t0.Add(created+took).Format(time.RFC3339) + `"}`
	}
	return object(t, fmt.Sprintf(`
apiVersion: karpenter.sh/v1
kind: NodeClaim
metadata: {name: %s, uid: %s, labels: {karpenter.sh/nodepool: %s}, creationTimestamp: "%s"}
status: {conditions: [{type: Launched, status: "True"}, %s]}
`, name, name, pool, t0.Add(created).Format(time.RFC3339), ready))
}

// node is a Ready Node created at t0+created with gpus GPUs.
func node(name string, created, took time.Duration, gpus string) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name), CreationTimestamp: metav1.NewTime(t0.Add(created))},
		Status: corev1.NodeStatus{
			Capacity: rl("nvidia.com/gpu=" + gpus),
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
				LastTransitionTime: metav1.NewTime(t0.Add(created + took))}},
		},
	}
}

const readyStatus = `status: {resources: {nvidia.com/gpu: "8"}, conditions: [{type: Ready, status: "True"}]}`

func karpenterClient(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		NodePoolResource: "NodePoolList", NodeClaimResource: "NodeClaimList",
	}, objs...)
}

// start starts the factories and waits for their caches.
func start(t *testing.T, ctx context.Context, c *Collector, factories ...interface{ Start(<-chan struct{}) }) {
	t.Helper()
	for _, f := range factories {
		f.Start(ctx.Done())
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) { return c.HasSynced(), nil }); err != nil {
		t.Fatalf("caches did not sync: %v", err)
	}
}

func TestCollectorOnKarpenter(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	dyn := karpenterClient(
		object(t, `{apiVersion: karpenter.sh/v1, kind: NodePool, metadata: {name: gpu}, spec: {limits: {nvidia.com/gpu: 16}}, `+readyStatus+`}`),
		object(t, `{apiVersion: karpenter.sh/v1, kind: NodePool, metadata: {name: tainted},
			spec: {template: {spec: {taints: [{key: team, effect: NoSchedule}]}}}, `+readyStatus+`}`),
		object(t, `{apiVersion: karpenter.sh/v1, kind: NodePool, metadata: {name: broken}, spec: {limits: {nvidia.com/gpu: lots}}}`),
		nodeClaim(t, "gpu-a", "gpu", 0, 2*time.Minute),
		nodeClaim(t, "gpu-b", "gpu", time.Hour, 4*time.Minute),
		nodeClaim(t, "gpu-c", "gpu", 2*time.Hour, 3*time.Minute),
		nodeClaim(t, "gpu-d", "gpu", 3*time.Hour, -1),
		nodeClaim(t, "cpu-a", "cpu", 0, 30*time.Second),
	)
	kube := fake.NewClientset(node("gpu-node", 0, time.Minute, "8"))
	karpenter := dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0)
	factory := informers.NewSharedInformerFactory(kube, 0)
	c, err := NewCollector(factory, karpenter, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "server", Resources: corev1.ResourceRequirements{Limits: rl("nvidia.com/gpu=2")},
	}}}}
	if _, err := c.Provisionable("serving", tpl, gpu, 0); !errors.Is(err, ErrNotSynced) {
		t.Fatalf("before the caches sync: err = %v, want ErrNotSynced", err)
	}
	start(t, ctx, c, karpenter, factory)
	defer func() { cancel(); karpenter.Shutdown(); factory.Shutdown() }()

	res, err := c.Provisionable("serving", tpl, gpu, 0)
	if err != nil {
		t.Fatal(err)
	}
	// gpu: 16 − 8 held = 8 GPUs, 4 replicas of 2.
	if res.Replicas != 4 || res.Unbounded || len(res.Pools) != 1 || res.Pools[0] != "gpu" {
		t.Errorf("Provisionable: %s", res.Summary())
	}
	if len(res.Fits) != 3 || res.Fits[0].Pool != "broken" || res.Fits[0].Excluded != ExcludedMalformed ||
		res.Fits[2].Pool != "tainted" || res.Fits[2].Excluded != ExcludedTaint {
		t.Errorf("Fits: %v", res.Fits)
	}

	now := t0.Add(4 * time.Hour)
	// 2, 4 and 3 minutes: p90 at h = 1.8 is 3 + 0.8·1 = 3.8 min.
	want := Estimate{P50: 3 * time.Minute, P90: 228 * time.Second, Samples: 3}
	if got, err := c.NodeLeadP90([]string{"gpu"}, 6*time.Hour, now); err != nil || got != want {
		t.Errorf("NodeLeadP90 = %+v, %v; want %+v", got, err, want)
	}
	if _, err := c.NodeLeadP90([]string{"cpu"}, 6*time.Hour, now); !errors.Is(err, ErrTooFewSamples) {
		t.Errorf("cpu pool: err = %v, want ErrTooFewSamples", err)
	}
	if _, err := c.NodeLeadP90(nil, 48*time.Hour, now); err == nil {
		t.Error("a window wider than the retention gave no error")
	}

	// gpu-b's Ready flaps (a later transition), gpu-a is consolidated away,
	// gpu-d becomes Ready after 6 minutes: the first two keep their samples.
	claims := dyn.Resource(NodeClaimResource)
	if _, err := claims.Update(ctx, nodeClaim(t, "gpu-b", "gpu", time.Hour, 90*time.Minute), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := claims.Delete(ctx, "gpu-a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := claims.Update(ctx, nodeClaim(t, "gpu-d", "gpu", 3*time.Hour, 6*time.Minute), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The handler sees the events in order: once gpu-d's sample is there,
	// the others have been seen.
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return len(c.NodeClaimSamples(now)) == 5, nil
	}); err != nil {
		t.Fatalf("gpu-d's sample: %v (have %v)", err, c.NodeClaimSamples(now))
	}
	// 2, 3, 4 and 6 minutes: p50 3.5 min, p90 at h = 2.7 is 4 + 0.7·2 = 5.4 min.
	want = Estimate{P50: 210 * time.Second, P90: 324 * time.Second, Samples: 4}
	if got, err := c.NodeLeadP90([]string{"gpu"}, 6*time.Hour, now); err != nil || got != want {
		t.Errorf("after the flap, the deletion and gpu-d: %+v, %v; want %+v", got, err, want)
	}
	// Past the retention every sample is dropped.
	if n := len(c.NodeClaimSamples(t0.Add(30 * time.Hour))); n != 0 {
		t.Errorf("after the retention: %d samples kept", n)
	}
	// Karpenter's nodes are measured too.
	if got := c.NodeSamples(now); len(got) != 1 || got[0].Duration() != time.Minute {
		t.Errorf("NodeSamples = %v", got)
	}
}

func TestCollectorWithoutKarpenter(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	kube := fake.NewClientset(
		node("a", 0, 2*time.Minute, "8"),
		node("b", time.Hour, 3*time.Minute, "8"),
		node("c", 2*time.Hour, 5*time.Minute, "0"),
		// Found Ready a week after its creation: a flap, not a start.
		node("old", -7*24*time.Hour, 7*24*time.Hour+time.Hour, "0"),
	)
	factory := informers.NewSharedInformerFactory(kube, 0)
	c, err := NewCollector(factory, nil, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	start(t, ctx, c, factory)
	defer func() { cancel(); factory.Shutdown() }()

	tpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "server", Resources: corev1.ResourceRequirements{Limits: rl("nvidia.com/gpu=2")},
	}}}}
	if _, err := c.Provisionable("serving", tpl, gpu, 8); !errors.Is(err, ErrNoKarpenter) {
		t.Errorf("Provisionable without Karpenter: err = %v, want ErrNoKarpenter", err)
	}
	// 40 GPUs configured, 16 held: 24 left, 3 nodes of 4 replicas.
	res, err := c.ClusterAutoscalerProvisionable("serving", tpl, gpu, 8, 40)
	if err != nil || res.Replicas != 12 {
		t.Errorf("ClusterAutoscalerProvisionable = %s, %v; want 12", res.Summary(), err)
	}
	now := t0.Add(4 * time.Hour)
	// 2, 3 and 5 minutes (the old node's flap is not a start): p90 at
	// h = 1.8 is 3 + 0.8·2 = 4.6 min.
	want := Estimate{P50: 3 * time.Minute, P90: 276 * time.Second, Samples: 3}
	if got, err := c.NodeLeadP90(nil, 24*time.Hour, now); err != nil || got != want {
		t.Errorf("NodeLeadP90 = %+v, %v; want %+v", got, err, want)
	}
	if c.NodeClaimSamples(now) != nil {
		t.Error("NodeClaim samples without Karpenter")
	}
}

func TestAvailable(t *testing.T) {
	resources := func(names ...string) *metav1.APIResourceList {
		l := &metav1.APIResourceList{GroupVersion: "karpenter.sh/v1"}
		for _, n := range names {
			l.APIResources = append(l.APIResources, metav1.APIResource{Name: n})
		}
		return l
	}
	cases := []struct {
		name string
		list []*metav1.APIResourceList
		want bool
	}{
		{"served", []*metav1.APIResourceList{resources("nodepools", "nodepools/status", "nodeclaims")}, true},
		{"not installed", nil, false},
		{"only NodePools", []*metav1.APIResourceList{resources("nodepools")}, false},
		{"another version", []*metav1.APIResourceList{{GroupVersion: "karpenter.sh/v1beta1",
			APIResources: []metav1.APIResource{{Name: "nodepools"}, {Name: "nodeclaims"}}}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dc := &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{Resources: c.list}}
			got, err := Available(dc)
			if err != nil || got != c.want {
				t.Errorf("Available = %v, %v; want %v", got, err, c.want)
			}
		})
	}
	t.Run("discovery fails", func(t *testing.T) {
		fake := &clienttesting.Fake{}
		fake.AddReactor("get", "resource", func(clienttesting.Action) (bool, runtime.Object, error) {
			return true, nil, errors.New("connection refused")
		})
		if _, err := Available(&fakediscovery.FakeDiscovery{Fake: fake}); err == nil {
			t.Error("no error")
		}
	})
}
