package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/daemon"
	"github.com/prescaler/prescaler/scaler"
	"github.com/prescaler/prescaler/test/testbed"
	"github.com/prescaler/prescaler/writer/placeholder"
)

// The Karpenter scenario: a NodePool capped at 8 GPUs of 2-GPU nodes that
// take nodeBootDelay to become Ready after Karpenter creates them, the
// seed's 1-GPU pods, demand whose daily peak needs 10 replicas.
const (
	nodeBootDelay  = 20 * time.Second
	nodeGPUs       = 2
	poolGPULimit   = 8
	nodesStep      = 10 * time.Second
	nodesPodLead   = time.Minute // leadTime, fixed: kwok's pods are Ready at once
	nodesPerPod    = 50.0        // requests per minute one replica serves
	nodesLow       = 100.0       // 2 replicas
	nodesHigh      = 500.0       // 10 replicas: more than the pool's 8 GPUs
	nodesSeedStart = 2
)

// TestNodesComeUpAheadOfTheForecastPeak runs `prescaler run`'s wiring
// against a real Karpenter (its kwok provider) with placeholders on, at
// virtual instants on two days of backfilled demand, while Karpenter,
// the scheduler and the HPA controller act in real time. Asserted:
//   - the node lead is measured from Karpenter's NodeClaims (a warm-up
//     brings four nodes up and lets them go);
//   - placeholders are asked for once the window of a node lead plus the
//     pod lead reaches the peak, and not a step earlier than the forecast
//     allows: at the latest the measured node lead + pod lead before it;
//     Karpenter brings their nodes up;
//   - one pod lead before the peak the floor rises to the pool's limit
//     (pool_limit: the peak asks for 10, the pool holds 8), the
//     placeholders go, and the real pods run at once on the nodes they
//     kept, with no new NodeClaim and none Pending;
//   - the NodeClaims never hold more than the pool's 8 GPUs;
//   - restore gives the HPA back and leaves no placeholder.
func TestNodesComeUpAheadOfTheForecastPeak(t *testing.T) {
	testbed.RequireKarpenter(t)
	peak := time.Now().Truncate(nodesStep).Add(-time.Hour)
	demand := testbed.SeriesFunc("ai_requests_per_minute", map[string]string{"service": "ai-inference"},
		peak.Add(-48*time.Hour-31*time.Minute), peak.Add(time.Minute), nodesStep, func(at time.Time) float64 { return nodesDemand(at, peak) })
	env := testbed.Start(t, testbed.Options{
		HPASyncPeriod: time.Second,
		Prometheus:    testbed.PrometheusOptions{History: []testbed.Series{demand}},
		Karpenter: &testbed.KarpenterOptions{
			InstanceTypes:  []testbed.InstanceType{testbed.GPUInstanceType("gpu-2x", nodeGPUs)},
			NodeReadyDelay: nodeBootDelay,
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	if err := env.AddNodePool(ctx, testbed.NodePoolSpec{Name: "gpu", GPULimit: poolGPULimit, ConsolidateAfter: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Client.SchedulingV1().PriorityClasses().Create(ctx,
		placeholder.PriorityClass(config.DefaultPlaceholderPriorityClass, -1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(env.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	limit := watchClaimedGPUs(ctx, t, dyn)
	r, cfgPath := nodesRunner(ctx, t, env)

	warmUpNodes(ctx, t, env)
	seed := testbed.Seed{Replicas: nodesSeedStart}
	if err := seed.Create(ctx, env.Client); err != nil {
		t.Fatal(err)
	}
	waitSeedPods(ctx, t, env.Client, nodesSeedStart, 0)

	first := leadLoop(ctx, t, r, peak.Add(-30*time.Minute))
	nodeLead := first.Nodes.Lead
	if !first.Nodes.Measured || nodeLead < nodeBootDelay || nodeLead > nodeBootDelay+20*time.Second {
		t.Fatalf("node lead %s (measured %v), want measured from the warm-up's NodeClaims, %s plus Karpenter's own time",
			nodeLead, first.Nodes.Measured, nodeBootDelay)
	}
	if first.Decision.Placeholders != 0 || first.Decision.Floor >= poolGPULimit {
		t.Fatalf("half an hour before the peak: floor %d, %d placeholders; want neither raised", first.Decision.Floor, first.Decision.Placeholders)
	}

	// Step towards the peak until the placeholders are asked for.
	latest := peak.Add(-nodeLead - nodesPodLead)
	asked, at := placeholdersAsked(ctx, t, r, peak, latest.Add(-4*nodesStep).Truncate(nodesStep), latest)
	t.Logf("%d placeholders asked for at peak − %s (node lead %s + pod lead %s = %s); floor %d",
		asked.Decision.Placeholders, peak.Sub(at), nodeLead, nodesPodLead, nodeLead+nodesPodLead, asked.Decision.Floor)
	waitPlaceholdersRunning(ctx, t, env.Client, asked.Decision.Placeholders)
	claimsBefore := len(nodeClaims(ctx, t, dyn))

	// One pod lead before the peak the floor rises; the pods take the
	// placeholders' nodes.
	raised := leadLoop(ctx, t, r, peak.Add(-nodesPodLead))
	if raised.Decision.Floor != poolGPULimit || raised.Decision.Reason != scaler.ReasonPoolLimit || !raised.Wrote {
		t.Fatalf("at peak − pod lead: floor %d (%s, written %v), want the pool's %d with pool_limit",
			raised.Decision.Floor, raised.Decision.Reason, raised.Wrote, poolGPULimit)
	}
	if raised.Decision.Placeholders != 0 {
		t.Errorf("at peak − pod lead: %d placeholders kept, want none once the pods take their room", raised.Decision.Placeholders)
	}
	start := time.Now()
	waitSeedPods(ctx, t, env.Client, poolGPULimit, nodeBootDelay/2)
	t.Logf("floor %d written: %d pods running %s later", raised.Decision.Floor, poolGPULimit, time.Since(start).Round(100*time.Millisecond))
	if n := len(nodeClaims(ctx, t, dyn)); n != claimsBefore {
		t.Errorf("%d NodeClaims after the floor rose, %d before: the pods waited for a new node", n, claimsBefore)
	}
	if most := limit.most(); most > poolGPULimit {
		t.Errorf("the NodeClaims held %d GPUs at most, over the NodePool's limit of %d", most, poolGPULimit)
	}

	var out bytes.Buffer
	if err := runRestore(ctx, restoreFlags{configPath: cfgPath, kubeconfig: env.Kubeconfig}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	left, err := placeholder.New(env.Client).List(ctx, "")
	if err != nil || len(left) != 0 {
		t.Errorf("after restore: placeholders %v (err %v), want none\n%s", left, err, out.String())
	}
	hpa, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers(testbed.SeedNamespace).Get(ctx, testbed.SeedHPA, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := *hpa.Spec.MinReplicas; got != 1 {
		t.Errorf("after restore: minReplicas %d, want the user's 1", got)
	}
}

// nodesDemand is nodesLow, and nodesHigh for 30 minutes after the daily
// peak (the instant itself excluded, as leadDemand).
func nodesDemand(at, peak time.Time) float64 {
	since := at.Sub(peak) % (24 * time.Hour)
	if since < 0 {
		since += 24 * time.Hour
	}
	if since > 0 && since <= 30*time.Minute {
		return nodesHigh
	}
	return nodesLow
}

// nodesRunner builds the daemon as `prescaler run` does: Karpenter's
// pools, the measured node lead, placeholders on.
func nodesRunner(ctx context.Context, t *testing.T, env *testbed.Env) (*runner, string) {
	t.Helper()
	cfgPath := filepath.Join(t.TempDir(), "prescaler.yaml")
	writeFile(t, cfgPath, fmt.Sprintf(`
prometheus: {url: %q}
leaderElection: {enabled: false}
server: {address: "127.0.0.1:0"}
targets:
  - name: ai-inference
    namespace: default
    hpa: inference-hpa
    queries: {demand: 'ai_requests_per_minute{service="ai-inference"}'}
    replicaCapacity: %g
    leadTime: %s
    forecast: {step: %s, season: 1d, history: 2d}
    nodes:
      provisioner: karpenter
      leadTime: auto
      gpusPerNode: %d
      placeholders: {enabled: true}
`, env.PrometheusURL, nodesPerPod, nodesPodLead, nodesStep, nodeGPUs))
	r, err := newRunner(ctx, runFlags{configPath: cfgPath, kubeconfig: env.Kubeconfig, reload: time.Hour},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if r.karpenter == nil {
		t.Fatal("the runner did not find Karpenter's NodePools")
	}
	if err := r.startInformers(ctx); err != nil {
		t.Fatal(err)
	}
	return r, cfgPath
}

// placeholdersAsked runs a loop every step from from, and last at latest
// itself, until the decision asks for placeholders, which must happen by
// latest and not at from.
func placeholdersAsked(ctx context.Context, t *testing.T, r *runner, peak, from, latest time.Time) (daemon.Outcome, time.Time) {
	t.Helper()
	instants := []time.Time{}
	for at := from; at.Before(latest); at = at.Add(nodesStep) {
		instants = append(instants, at)
	}
	for _, at := range append(instants, latest) {
		out := leadLoop(ctx, t, r, at)
		t.Logf("peak − %s: floor %d, %d placeholders, capacity %d, nodes %+v: %s", peak.Sub(at), out.Decision.Floor,
			out.Decision.Placeholders, out.Capacity, out.Nodes, out.Decision.Message)
		if out.Decision.Placeholders == 0 {
			continue
		}
		if at.Equal(from) {
			t.Fatalf("placeholders already asked for at peak − %s, steps before the node window reaches the peak", peak.Sub(at))
		}
		if !out.Decision.NodesDue || out.Decision.Floor >= poolGPULimit {
			t.Fatalf("at peak − %s: %d placeholders, nodes due %v, floor %d; want placeholders instead of an early floor",
				peak.Sub(at), out.Decision.Placeholders, out.Decision.NodesDue, out.Decision.Floor)
		}
		return out, at
	}
	t.Fatalf("no placeholders asked for by peak − %s, the measured node lead + pod lead", peak.Sub(latest))
	return daemon.Outcome{}, time.Time{}
}

// warmUpNodes brings four nodes up with a Deployment of 2-GPU pods and lets
// Karpenter remove them, so that the node lead is measured.
func warmUpNodes(ctx context.Context, t *testing.T, env *testbed.Env) {
	t.Helper()
	replicas := int32(poolGPULimit / nodeGPUs)
	labels := map[string]string{"app": "warm-up"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "warm-up", Namespace: testbed.SeedNamespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "warm-up",
					Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
						testbed.ResourceGPU: *resource.NewQuantity(nodeGPUs, resource.DecimalSI)}}}}},
			},
		},
	}
	deps := env.Client.AppsV1().Deployments(testbed.SeedNamespace)
	if _, err := deps.Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testbed.WaitFor(ctx, t, "the warm-up's pods running on four new nodes", func() (bool, error) {
		return countPods(ctx, env.Client, labels, corev1.PodRunning) == int(replicas), nil
	})
	if err := deps.Delete(ctx, dep.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testbed.WaitFor(ctx, t, "Karpenter to remove the warm-up's empty nodes", func() (bool, error) {
		nodes, err := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: testbed.NodePoolLabel})
		return err == nil && len(nodes.Items) == 0, err
	})
}

// waitSeedPods waits until running seed pods run and none is Pending; with
// within > 0 it fails when that takes longer.
func waitSeedPods(ctx context.Context, t *testing.T, kube kubernetes.Interface, running int, within time.Duration) {
	t.Helper()
	wctx := ctx
	if within > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, within)
		defer cancel()
	}
	testbed.WaitFor(wctx, t, fmt.Sprintf("%d seed pods running, none Pending", running), func() (bool, error) {
		seed := testbed.SeedLabels()
		return countPods(ctx, kube, seed, corev1.PodRunning) == running && countPods(ctx, kube, seed, corev1.PodPending) == 0, nil
	})
}

// waitPlaceholdersRunning waits until n placeholder pods run.
func waitPlaceholdersRunning(ctx context.Context, t *testing.T, kube kubernetes.Interface, n int32) {
	t.Helper()
	testbed.WaitFor(ctx, t, fmt.Sprintf("%d placeholder pods running on new nodes", n), func() (bool, error) {
		return countPods(ctx, kube, placeholder.Labels("ai-inference"), corev1.PodRunning) == int(n), nil
	})
}

func countPods(ctx context.Context, kube kubernetes.Interface, set map[string]string, phase corev1.PodPhase) int {
	pods, err := kube.CoreV1().Pods(testbed.SeedNamespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(set).String()})
	if err != nil {
		return -1
	}
	n := 0
	for _, p := range pods.Items {
		if p.Status.Phase == phase && p.DeletionTimestamp == nil {
			n++
		}
	}
	return n
}

// nodeClaims lists Karpenter's NodeClaims.
func nodeClaims(ctx context.Context, t *testing.T, dyn dynamic.Interface) []map[string]any {
	t.Helper()
	list, err := dyn.Resource(testbed.NodeClaimResource).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]map[string]any, 0, len(list.Items))
	for _, c := range list.Items {
		out = append(out, c.Object)
	}
	return out
}

// claimedGPUs records the most GPUs Karpenter's NodeClaims held at once.
type claimedGPUs struct {
	mu  sync.Mutex
	max int64
}

func (c *claimedGPUs) most() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.max
}

// watchClaimedGPUs polls the NodeClaims' GPU capacity every half second
// until ctx ends.
func watchClaimedGPUs(ctx context.Context, t *testing.T, dyn dynamic.Interface) *claimedGPUs {
	c := &claimedGPUs{}
	go func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			list, err := dyn.Resource(testbed.NodeClaimResource).List(ctx, metav1.ListOptions{})
			if err != nil {
				continue
			}
			var gpus int64
			for _, claim := range list.Items {
				// Resources requested of the instance: spec.resources.requests
				// is the pods', status.capacity the node's.
				if v, ok, _ := unstructuredString(claim.Object, "status", "capacity", string(testbed.ResourceGPU)); ok {
					q, err := resource.ParseQuantity(v)
					if err == nil {
						gpus += q.Value()
					}
				}
			}
			c.mu.Lock()
			c.max = max(c.max, gpus)
			c.mu.Unlock()
		}
	}()
	return c
}

// unstructuredString reads a string field of an unstructured object.
func unstructuredString(obj map[string]any, fields ...string) (string, bool, error) {
	var cur any = obj
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false, nil
		}
		cur = m[f]
	}
	s, ok := cur.(string)
	return s, ok, nil
}
