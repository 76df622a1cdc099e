package nodepool

import (
	"math"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestPackedReplicas(t *testing.T) {
	cases := []struct {
		left, perNode, perReplica int64
		want, wantPartial         int64
	}{
		// 2 whole nodes × ⌊8/3⌋ = 4, and ⌊4/3⌋ = 1 on a smaller node.
		{left: 20, perNode: 8, perReplica: 3, want: 5, wantPartial: 1},
		// Whole nodes only: 2 × 2, the 2 GPUs per node left stranded.
		{left: 16, perNode: 8, perReplica: 3, want: 4},
		// Replicas that divide the node: packing loses nothing.
		{left: 12, perNode: 8, perReplica: 2, want: 6, wantPartial: 2},
		{left: 7, perNode: 8, perReplica: 8, want: 0},
		{left: 0, perNode: 8, perReplica: 1, want: 0},
		// A replica larger than a node fits nowhere.
		{left: 64, perNode: 4, perReplica: 8, want: 0},
	}
	for _, c := range cases {
		got, partial := packedReplicas(c.left, c.perNode, c.perReplica)
		if got != c.want || partial != c.wantPartial {
			t.Errorf("packedReplicas(%d, %d, %d) = %d (%d partial), want %d (%d)",
				c.left, c.perNode, c.perReplica, got, partial, c.want, c.wantPartial)
		}
	}
}

func TestProvisionableOnePool(t *testing.T) {
	cases := []struct {
		name        string
		pool        Pool
		pod         string
		gpusPerNode int
		want        PoolFit
	}{
		{name: "GPU limit partly used",
			pool: readyPool("gpu", "nvidia.com/gpu=32", "nvidia.com/gpu=20"), pod: "nvidia.com/gpu=2",
			want: PoolFit{Replicas: 6, Limit: gpu, Detail: "nvidia.com/gpu 12 left of 32, 2 per replica"}},
		{name: "GPU limit over-used",
			pool: readyPool("gpu", "nvidia.com/gpu=8", "nvidia.com/gpu=16"), pod: "nvidia.com/gpu=1",
			want: PoolFit{Replicas: 0, Limit: gpu, Detail: "nvidia.com/gpu 0 left of 8, 1 per replica"}},
		{name: "no limits",
			pool: readyPool("gpu", "", "nvidia.com/gpu=16"), pod: "nvidia.com/gpu=1",
			want: PoolFit{Unbounded: true, Detail: "no limit on what the pod requests"}},
		{name: "a limit on nothing the pod requests",
			pool: readyPool("gpu", "memory=1Ti", ""), pod: "nvidia.com/gpu=1 cpu=2",
			want: PoolFit{Unbounded: true, Detail: "no limit on what the pod requests"}},
		{name: "no GPU limit, a cpu limit",
			pool: readyPool("gpu", "cpu=100", "cpu=40"), pod: "nvidia.com/gpu=1 cpu=8",
			want: PoolFit{Replicas: 7, Limit: corev1.ResourceCPU, Detail: "cpu 60000m left of 100000m, 8000m per replica"}},
		{name: "cpu binds before GPUs",
			pool: readyPool("gpu", "nvidia.com/gpu=32 cpu=40", "cpu=20"), pod: "nvidia.com/gpu=2 cpu=4",
			want: PoolFit{Replicas: 5, Limit: corev1.ResourceCPU, Detail: "cpu 20000m left of 40000m, 4000m per replica"}},
		{name: "memory binds before GPUs",
			pool: readyPool("gpu", "nvidia.com/gpu=32 memory=1000Gi", "memory=800Gi"), pod: "nvidia.com/gpu=1 memory=64Gi",
			want: PoolFit{Replicas: 3, Limit: corev1.ResourceMemory, Detail: "memory 214748364800 left of 1073741824000, 68719476736 per replica"}},
		{name: "per-node packing",
			pool: readyPool("gpu", "nvidia.com/gpu=36", "nvidia.com/gpu=16"), pod: "nvidia.com/gpu=3", gpusPerNode: 8,
			want: PoolFit{Replicas: 5, PartialNode: 1, Limit: gpu, Detail: "nvidia.com/gpu 20 left of 36, 3 per replica, 8 per node"}},
		{name: "without packing the same pool holds more",
			pool: readyPool("gpu", "nvidia.com/gpu=36", "nvidia.com/gpu=16"), pod: "nvidia.com/gpu=3",
			want: PoolFit{Replicas: 6, Limit: gpu, Detail: "nvidia.com/gpu 20 left of 36, 3 per replica"}},
		{name: "a replica larger than a node",
			pool: readyPool("gpu", "", ""), pod: "nvidia.com/gpu=8", gpusPerNode: 4,
			want: PoolFit{Limit: gpu, Detail: "a replica's 8 nvidia.com/gpu exceed a node's 4"}},
		{name: "node count limit with packing",
			pool: readyPool("gpu", "nodes=10 nvidia.com/gpu=1000", "nodes=8 nvidia.com/gpu=64"), pod: "nvidia.com/gpu=3", gpusPerNode: 8,
			want: PoolFit{Replicas: 4, Limit: ResourceNodes, Detail: "nodes 2 left of 10, 2 replicas per node"}},
		{name: "node count limit without a node size",
			pool: readyPool("gpu", "nodes=10", "nodes=7"), pod: "nvidia.com/gpu=3",
			want: PoolFit{Replicas: 3, Limit: ResourceNodes, Detail: "nodes 3 left of 10, 1 replicas per node"}},
		{name: "deleting",
			pool: readyPool("gpu", "nvidia.com/gpu=32", "", func(p *Pool) { p.Deleting = true }), pod: "nvidia.com/gpu=1",
			want: PoolFit{Excluded: ExcludedDeleting, Detail: "deletionTimestamp is set"}},
		{name: "static",
			pool: readyPool("gpu", "nvidia.com/gpu=32", "", func(p *Pool) { p.Static = true }), pod: "nvidia.com/gpu=1",
			want: PoolFit{Excluded: ExcludedStatic, Detail: "spec.replicas is set"}},
		{name: "not ready",
			pool: readyPool("gpu", "nvidia.com/gpu=32", "", func(p *Pool) { p.Ready = false }), pod: "nvidia.com/gpu=1",
			want: PoolFit{Excluded: ExcludedNotReady, Detail: "condition Ready is not True"}},
		{name: "a requirement the pool cannot parse",
			pool: readyPool("gpu", "", "", withRequirements(req("a", "Near", "b"))), pod: "nvidia.com/gpu=1",
			want: PoolFit{Excluded: ExcludedMalformed, Detail: `pool gpu requirement a: operator "Near"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := Provisionable([]Pool{c.pool}, gpuPod(c.pod), gpu, c.gpusPerNode)
			if len(res.Fits) != 1 {
				t.Fatalf("%d fits, want 1", len(res.Fits))
			}
			got := res.Fits[0]
			c.want.Pool = c.pool.Name
			if strings.HasPrefix(got.Detail, c.want.Detail) {
				got.Detail = c.want.Detail
			}
			if got != c.want {
				t.Errorf("fit =\n %+v, want\n %+v", res.Fits[0], c.want)
			}
			excluded := c.want.Excluded != ""
			if excluded != (len(res.Pools) == 0) || res.Unbounded != c.want.Unbounded {
				t.Errorf("pools %v unbounded %v, for %+v", res.Pools, res.Unbounded, c.want)
			}
			if !c.want.Unbounded && res.Replicas != c.want.Replicas {
				t.Errorf("Replicas = %d, want %d", res.Replicas, c.want.Replicas)
			}
		})
	}
}

func TestProvisionableSumsTheCompatiblePools(t *testing.T) {
	pools := []Pool{
		readyPool("h100", "nvidia.com/gpu=16", "nvidia.com/gpu=8", withLabels("gpu-type", "h100")),
		readyPool("a100", "nvidia.com/gpu=64", "nvidia.com/gpu=52", withLabels("gpu-type", "a100")),
		readyPool("dedicated", "nvidia.com/gpu=64", "", withTaint("team", corev1.TaintEffectNoSchedule)),
		readyPool("t4", "nvidia.com/gpu=64", "", withLabels("gpu-type", "t4")),
	}
	pod := gpuPod("nvidia.com/gpu=2", affinity(rs{req("gpu-type", corev1.NodeSelectorOpIn, "h100", "a100")}))
	res := Provisionable(pools, pod, gpu, 8)

	// h100: 8 left, one node of 4 replicas; a100: 12 left, one node of 4
	// and 4 GPUs of a smaller one, 2 more.
	if res.Replicas != 10 || res.Unbounded {
		t.Errorf("Replicas = %d, unbounded %v; want 10 bounded", res.Replicas, res.Unbounded)
	}
	if want := []string{"a100", "h100"}; !reflect.DeepEqual(res.Pools, want) {
		t.Errorf("Pools = %v, want %v", res.Pools, want)
	}
	var names []string
	for _, f := range res.Fits {
		names = append(names, f.Pool)
	}
	if want := []string{"a100", "dedicated", "h100", "t4"}; !reflect.DeepEqual(names, want) {
		t.Errorf("Fits by name = %v, want %v", names, want)
	}
	if got := res.Fits[1].Excluded; got != ExcludedTaint {
		t.Errorf("dedicated: %q, want Taint", got)
	}
	if got := res.Fits[3].Excluded; got != ExcludedRequirements {
		t.Errorf("t4: %q, want Requirements", got)
	}
	if got, want := res.Summary(), "10 more on 2 of 4 pools (a100 6, h100 4); excluded: dedicated Taint, t4 Requirements"; got != want {
		t.Errorf("Summary =\n %s, want\n %s", got, want)
	}
	if got := res.Within(7); got != 7 {
		t.Errorf("Within(7) = %d, want 7", got)
	}
	if got := res.Within(20); got != 10 {
		t.Errorf("Within(20) = %d, want 10", got)
	}
}

func TestProvisionableUnboundedPool(t *testing.T) {
	pools := []Pool{
		readyPool("limited", "nvidia.com/gpu=8", ""),
		readyPool("open", "", ""),
	}
	res := Provisionable(pools, gpuPod("nvidia.com/gpu=1"), gpu, 0)
	// Replicas counts the bounded pool only; Within lets the caller bound it.
	if !res.Unbounded || res.Replicas != 8 {
		t.Errorf("unbounded %v, Replicas %d; want unbounded, 8", res.Unbounded, res.Replicas)
	}
	if got := res.Within(30); got != 30 {
		t.Errorf("Within(30) = %d, want 30", got)
	}
	if got := res.Summary(); got != "unbounded more on 2 of 2 pools (limited 8, open unbounded)" {
		t.Errorf("Summary = %s", got)
	}
}

func TestProvisionableSaturates(t *testing.T) {
	pools := []Pool{
		readyPool("a", "pods=1e12", ""),
		readyPool("b", "pods=1e12", ""),
	}
	if got := Provisionable(pools, gpuPod("cpu=1"), gpu, 0).Replicas; got != math.MaxInt32 {
		t.Errorf("Replicas = %d, want MaxInt32", got)
	}
}

func TestConfiguredPool(t *testing.T) {
	pool := ConfiguredPool("cluster-autoscaler", gpu, 24, 8)
	// A selector on a label no pool names: the node groups' labels are not
	// known, so the pod is taken to fit.
	pod := gpuPod("nvidia.com/gpu=2", selector("gpu-type", "a100"))
	res := Provisionable([]Pool{pool}, pod, gpu, 0)
	if res.Replicas != 8 || res.Unbounded || len(res.Pools) != 1 {
		t.Errorf("result %+v, want 8 replicas on the one pool", res)
	}
}

func TestPodFromTemplate(t *testing.T) {
	tpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "fetch", Resources: corev1.ResourceRequirements{Limits: rl("cpu=6")}}},
		Containers: []corev1.Container{{Name: "server", Resources: corev1.ResourceRequirements{
			Limits: rl("nvidia.com/gpu=2 cpu=8"), Requests: rl("cpu=4"),
		}}},
	}}
	pod := PodFromTemplate("serving", tpl)
	if pod.Namespace != "serving" {
		t.Errorf("namespace %q", pod.Namespace)
	}
	// The server's GPU request defaults to its limit, its cpu request is its
	// own; the init container's cpu request defaults to its limit and, being
	// larger, sets the pod's cpu.
	got := podRequest(pod)
	if got[gpu] != 2 || got[corev1.ResourceCPU] != 6000 || got[corev1.ResourcePods] != 1 {
		t.Errorf("request %v, want nvidia.com/gpu=2 cpu=6000m pods=1", got)
	}
	if tpl.Spec.Containers[0].Resources.Requests.Name(gpu, "").Value() != 0 || tpl.Spec.InitContainers[0].Resources.Requests != nil {
		t.Error("the template was modified")
	}
}
