package capacity

import (
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// The cluster cases below are run twice: on plain values by
// TestEstimateClusterCases, and on a real API server, kube-scheduler and kwok
// nodes by TestCapacityAgainstScheduler, which checks that the scheduler
// places exactly the estimate and not one pod more.

const gpu corev1.ResourceName = "nvidia.com/gpu"

// caseNode is a node as the testbed makes it (testbed.AddNode): cpu, memory
// and pods default to 32, 256Gi and 110; labels add to type=kwok,
// kubernetes.io/hostname, kubernetes.io/os and kubernetes.io/arch.
type caseNode struct {
	name     string
	alloc    corev1.ResourceList
	labels   map[string]string
	taints   []corev1.Taint
	cordoned bool
	notReady bool
}

// casePod is a pod of another workload, bound to a node before the estimate.
type casePod struct {
	node     string
	requests corev1.ResourceList
	hostPort int32
	labels   map[string]string
	// repels: required anti-affinity, by hostname, to pods with these labels.
	repels map[string]string
}

type capacityCase struct {
	name  string
	nodes []caseNode
	pods  []casePod
	// runtimeClass and limitRange are created before the estimate.
	runtimeClass *nodev1.RuntimeClass
	limitRange   *corev1.LimitRange
	// scheduledOn: the target already runs this many pods; the plain-value
	// run binds them to these nodes, the testbed run lets the scheduler
	// place them (so the answer must not depend on where they go).
	scheduledOn []string
	template    corev1.PodTemplateSpec
	// want is Result.Copies; wantNodes is the per-node breakdown by short
	// node name: a copy count or an Exclusion.
	want      int32
	wantNodes map[string]string
}

// rl parses "name=quantity" pairs into a resource list.
func rl(pairs ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for _, p := range pairs {
		name, q, ok := strings.Cut(p, "=")
		if !ok {
			panic("rl: " + p)
		}
		l[corev1.ResourceName(name)] = resource.MustParse(q)
	}
	return l
}

// limits is a container asking for resources as limits only, the usual way
// to ask for GPUs: its requests default to them.
func limits(pairs ...string) corev1.Container {
	return corev1.Container{Name: "server", Image: "registry.k8s.io/pause:3.10",
		Resources: corev1.ResourceRequirements{Limits: rl(pairs...)}}
}

// requests is a container with requests only.
func requests(name string, pairs ...string) corev1.Container {
	return corev1.Container{Name: name, Image: "registry.k8s.io/pause:3.10",
		Resources: corev1.ResourceRequirements{Requests: rl(pairs...)}}
}

func template(mutate func(*corev1.PodSpec), containers ...corev1.Container) corev1.PodTemplateSpec {
	t := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: containers}}
	if mutate != nil {
		mutate(&t.Spec)
	}
	return t
}

func gpus(n int) corev1.ResourceList { return rl(fmt.Sprintf("%s=%d", gpu, n)) }

func withAlloc(base corev1.ResourceList, pairs ...string) corev1.ResourceList {
	out := maps.Clone(base)
	maps.Copy(out, rl(pairs...))
	return out
}

var clusterCases = []capacityCase{
	{
		name: "fragmentation",
		// 9 free GPUs, but a 2-GPU pod needs both on one node: 1 per node.
		nodes:     []caseNode{{name: "a", alloc: gpus(3)}, {name: "b", alloc: gpus(3)}, {name: "c", alloc: gpus(3)}},
		template:  template(nil, limits("nvidia.com/gpu=2")),
		want:      3,
		wantNodes: map[string]string{"a": "1", "b": "1", "c": "1"},
	},
	{
		name:      "existing-pods",
		nodes:     []caseNode{{name: "a", alloc: gpus(8)}, {name: "b", alloc: gpus(4)}},
		pods:      []casePod{{node: "a", requests: rl("nvidia.com/gpu=5")}, {node: "b", requests: rl("nvidia.com/gpu=1", "cpu=1")}},
		template:  template(nil, limits("nvidia.com/gpu=2")),
		want:      2,
		wantNodes: map[string]string{"a": "1", "b": "1"},
	},
	{
		name:        "target-already-running",
		nodes:       []caseNode{{name: "a", alloc: gpus(4)}, {name: "b", alloc: gpus(4)}},
		scheduledOn: []string{"a", "b"},
		template:    template(nil, limits("nvidia.com/gpu=2")),
		want:        2,
		wantNodes:   map[string]string{"a": "1", "b": "1"},
	},
	{
		name: "taints",
		nodes: []caseNode{
			{name: "noschedule", alloc: gpus(4), taints: []corev1.Taint{{Key: "dedicated", Value: "training", Effect: corev1.TaintEffectNoSchedule}}},
			{name: "prefer", alloc: gpus(4), taints: []corev1.Taint{{Key: "spot", Effect: corev1.TaintEffectPreferNoSchedule}}},
			{name: "tolerated", alloc: gpus(4), taints: []corev1.Taint{{Key: "nvidia.com/gpu", Effect: corev1.TaintEffectNoSchedule}}},
			{name: "noexecute", alloc: gpus(4), taints: []corev1.Taint{{Key: "maintenance", Effect: corev1.TaintEffectNoExecute}}},
		},
		template: template(func(s *corev1.PodSpec) {
			s.Tolerations = []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists}}
		}, limits("nvidia.com/gpu=1")),
		want:      8,
		wantNodes: map[string]string{"noschedule": "Taint", "prefer": "4", "tolerated": "4", "noexecute": "Taint"},
	},
	{
		name: "node-selector",
		nodes: []caseNode{
			{name: "h100", alloc: gpus(8), labels: map[string]string{"gpu": "h100"}},
			{name: "a10", alloc: gpus(8), labels: map[string]string{"gpu": "a10"}},
			{name: "bare", alloc: gpus(8)},
		},
		template: template(func(s *corev1.PodSpec) {
			s.NodeSelector = map[string]string{"gpu": "h100"}
		}, limits("nvidia.com/gpu=4")),
		want:      2,
		wantNodes: map[string]string{"h100": "2", "a10": "NodeSelector", "bare": "NodeSelector"},
	},
	{
		name: "required-affinity",
		nodes: []caseNode{
			{name: "zone-a", alloc: gpus(2), labels: map[string]string{"zone": "a", "gpu-mem": "80"}},
			{name: "zone-b", alloc: gpus(2), labels: map[string]string{"zone": "b", "gpu-mem": "80"}},
			{name: "zone-c", alloc: gpus(2), labels: map[string]string{"zone": "c", "gpu-mem": "80"}},
			{name: "small", alloc: gpus(2), labels: map[string]string{"zone": "a", "gpu-mem": "24"}},
		},
		template: template(func(s *corev1.PodSpec) {
			s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{
						{Key: "zone", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"c"}},
						{Key: "gpu-mem", Operator: corev1.NodeSelectorOpGt, Values: []string{"40"}},
					},
				}}},
				// Preferred terms only score nodes: ignored.
				PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
					Weight: 1, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
						{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"c"}},
					}},
				}},
			}}
		}, limits("nvidia.com/gpu=1")),
		want:      4,
		wantNodes: map[string]string{"zone-a": "2", "zone-b": "2", "zone-c": "NodeAffinity", "small": "NodeAffinity"},
	},
	{
		name:      "cordoned",
		nodes:     []caseNode{{name: "a", alloc: gpus(4)}, {name: "b", alloc: gpus(4), cordoned: true}},
		template:  template(nil, limits("nvidia.com/gpu=1")),
		want:      4,
		wantNodes: map[string]string{"a": "4", "b": "Cordoned"},
	},
	{
		name:      "not-ready",
		nodes:     []caseNode{{name: "a", alloc: gpus(4)}, {name: "b", alloc: gpus(4), notReady: true}},
		template:  template(nil, limits("nvidia.com/gpu=1")),
		want:      4,
		wantNodes: map[string]string{"a": "4", "b": "NotReady"},
	},
	{
		name: "mig",
		nodes: []caseNode{
			{name: "mig", alloc: rl("nvidia.com/mig-1g.10gb=7")},
			{name: "mixed", alloc: rl("nvidia.com/mig-1g.10gb=3", "nvidia.com/mig-3g.40gb=2")},
			{name: "whole", alloc: gpus(8)},
		},
		template:  template(nil, limits("nvidia.com/mig-1g.10gb=2")),
		want:      4,
		wantNodes: map[string]string{"mig": "3", "mixed": "1", "whole": "0"},
	},
	{
		name:  "init-containers",
		nodes: []caseNode{{name: "a", alloc: gpus(9)}},
		// An init container that needs 3 GPUs: the pod needs max(1, 3) = 3
		// (a sum would give 2 copies, the containers alone 9).
		template: template(func(s *corev1.PodSpec) {
			s.InitContainers = []corev1.Container{{Name: "warmup", Image: "registry.k8s.io/pause:3.10",
				Resources: corev1.ResourceRequirements{Limits: gpus(3)}}}
		}, limits("nvidia.com/gpu=1")),
		want:      3,
		wantNodes: map[string]string{"a": "3"},
	},
	{
		name:  "sidecar",
		nodes: []caseNode{{name: "a", alloc: gpus(12)}},
		// A restartable init container runs beside the server (1 + 1 GPU),
		// and the plain init container after it beside the sidecar (2 + 1):
		// the pod needs 3, so 4 copies (ignoring the sidecar gives 6, a plain
		// sum 3).
		template: template(func(s *corev1.PodSpec) {
			s.InitContainers = []corev1.Container{
				{Name: "proxy", Image: "registry.k8s.io/pause:3.10", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
					Resources: corev1.ResourceRequirements{Limits: gpus(1)}},
				{Name: "warmup", Image: "registry.k8s.io/pause:3.10", Resources: corev1.ResourceRequirements{Limits: gpus(2)}},
			}
		}, limits("nvidia.com/gpu=1")),
		want:      4,
		wantNodes: map[string]string{"a": "4"},
	},
	{
		name:  "runtime-class-overhead",
		nodes: []caseNode{{name: "a", alloc: withAlloc(gpus(8), "cpu=8")}},
		runtimeClass: &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "capacity-test-nvidia"}, Handler: "nvidia",
			Overhead: &nodev1.Overhead{PodFixed: rl("cpu=500m")}},
		// 1.5 cpu + 0.5 overhead: 4 fit in 8 cpu, not 5.
		template: template(func(s *corev1.PodSpec) {
			s.RuntimeClassName = ptr.To("capacity-test-nvidia")
		}, corev1.Container{Name: "server", Image: "registry.k8s.io/pause:3.10", Resources: corev1.ResourceRequirements{
			Requests: rl("cpu=1500m"), Limits: gpus(1)}}),
		want:      4,
		wantNodes: map[string]string{"a": "4"},
	},
	{
		name:  "limitrange-default-request",
		nodes: []caseNode{{name: "a", alloc: withAlloc(gpus(8), "memory=64Gi")}},
		limitRange: &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "defaults"}, Spec: corev1.LimitRangeSpec{
			Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer, DefaultRequest: rl("memory=20Gi"), Default: rl("memory=20Gi")}}}},
		template:  template(nil, limits("nvidia.com/gpu=1")),
		want:      3,
		wantNodes: map[string]string{"a": "3"},
	},
	{
		name:      "cpu-limits",
		nodes:     []caseNode{{name: "a", alloc: withAlloc(gpus(8), "cpu=8")}, {name: "b", alloc: gpus(8)}},
		template:  template(nil, corev1.Container{Name: "server", Image: "registry.k8s.io/pause:3.10", Resources: corev1.ResourceRequirements{Requests: rl("cpu=3"), Limits: gpus(1)}}),
		want:      10,
		wantNodes: map[string]string{"a": "2", "b": "8"},
	},
	{
		name:      "memory-limits",
		nodes:     []caseNode{{name: "a", alloc: withAlloc(gpus(8), "memory=100Gi")}},
		pods:      []casePod{{node: "a", requests: rl("memory=30Gi")}},
		template:  template(nil, corev1.Container{Name: "server", Image: "registry.k8s.io/pause:3.10", Resources: corev1.ResourceRequirements{Requests: rl("memory=32Gi"), Limits: gpus(1)}}),
		want:      2,
		wantNodes: map[string]string{"a": "2"},
	},
	{
		name:      "pods-limit",
		nodes:     []caseNode{{name: "a", alloc: withAlloc(gpus(8), "pods=3")}},
		pods:      []casePod{{node: "a"}},
		template:  template(nil, limits("nvidia.com/gpu=1")),
		want:      2,
		wantNodes: map[string]string{"a": "2"},
	},
	{
		name: "pod-anti-affinity",
		nodes: []caseNode{
			{name: "a", alloc: gpus(8)}, {name: "b", alloc: gpus(8)},
			{name: "c", alloc: gpus(8)}, {name: "d", alloc: gpus(8)},
		},
		pods: []casePod{
			// The template repels this one, and this one repels the template.
			{node: "c", labels: map[string]string{"role": "inference"}},
			{node: "d", repels: map[string]string{"role": "inference"}},
		},
		// One inference replica per node: 8 free GPUs each, but 1 copy.
		template: func() corev1.PodTemplateSpec {
			t := template(func(s *corev1.PodSpec) {
				s.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
					RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
						TopologyKey:   "kubernetes.io/hostname",
						LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "inference"}},
					}},
				}}
			}, limits("nvidia.com/gpu=1"))
			t.Labels = map[string]string{"role": "inference"}
			return t
		}(),
		want:      2,
		wantNodes: map[string]string{"a": "1", "b": "1", "c": "0", "d": "0"},
	},
	{
		name:  "host-port",
		nodes: []caseNode{{name: "a", alloc: gpus(8)}, {name: "b", alloc: gpus(8)}, {name: "c", alloc: gpus(8)}},
		pods:  []casePod{{node: "c", hostPort: 9400}},
		template: template(func(s *corev1.PodSpec) {
			s.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 9400, HostPort: 9400}}
		}, limits("nvidia.com/gpu=1")),
		want:      2,
		wantNodes: map[string]string{"a": "1", "b": "1", "c": "0"},
	},
}
