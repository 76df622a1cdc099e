package capacity

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
)

// nodeName is a case node's full name: unique across cases, so that the
// testbed run can create each case's nodes while the last ones go away.
func (c capacityCase) nodeName(short string) string { return c.name + "-" + short }

// object is the node as the testbed leaves it once Ready, and as the node
// lifecycle controller taints it when cordoned or NotReady.
func (n caseNode) object(name string) *corev1.Node {
	alloc := rl("cpu=32", "memory=256Gi", "pods=110")
	maps.Copy(alloc, n.alloc)
	lbls := map[string]string{"type": "kwok", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
	maps.Copy(lbls, n.labels)
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls},
		Spec:       corev1.NodeSpec{Taints: slices.Clone(n.taints), Unschedulable: n.cordoned},
		Status: corev1.NodeStatus{Allocatable: alloc, Capacity: alloc, Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"},
		}},
	}
	if n.cordoned {
		node.Spec.Taints = append(node.Spec.Taints, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
	}
	if n.notReady {
		node.Status.Conditions[0].Status, node.Status.Conditions[0].Reason = corev1.ConditionFalse, "KubeletNotReady"
		node.Spec.Taints = append(node.Spec.Taints, corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule})
	}
	return node
}

// object is the other workload's pod, bound to its node.
func (p casePod) object(name, node string) *corev1.Pod {
	c := corev1.Container{Name: "c", Image: "registry.k8s.io/pause:3.10", Resources: corev1.ResourceRequirements{Requests: p.requests}}
	// The API server requires extended resources' limits, equal to requests.
	for name, q := range p.requests {
		if strings.Contains(string(name), "/") {
			if c.Resources.Limits == nil {
				c.Resources.Limits = corev1.ResourceList{}
			}
			c.Resources.Limits[name] = q
		}
	}
	if p.hostPort > 0 {
		c.Ports = []corev1.ContainerPort{{ContainerPort: p.hostPort, HostPort: p.hostPort}}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "other", Labels: maps.Clone(p.labels)},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{c}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	if p.repels != nil {
		pod.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: p.repels},
				NamespaceSelector: &metav1.LabelSelector{}, // every namespace
			}},
		}}
	}
	return pod
}

// targetLabels select the case's target pods.
func (c capacityCase) targetLabels() map[string]string { return map[string]string{"app": c.name} }

// targetTemplate is the case's template with the target labels added.
func (c capacityCase) targetTemplate() *corev1.PodTemplateSpec {
	tmpl := c.template.DeepCopy()
	tmpl.Labels = maps.Clone(tmpl.Labels)
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	maps.Copy(tmpl.Labels, c.targetLabels())
	return tmpl
}

// snapshot is the case's cluster as plain values.
func (c capacityCase) snapshot(t *testing.T, namespace string) Snapshot {
	t.Helper()
	var s Snapshot
	for _, n := range c.nodes {
		s.Nodes = append(s.Nodes, n.object(c.nodeName(n.name)))
	}
	for i, p := range c.pods {
		// In the target's namespace, as on the testbed (one namespace a case).
		pod := p.object(fmt.Sprintf("other-%d", i), c.nodeName(p.node))
		pod.Namespace = namespace
		s.Pods = append(s.Pods, pod)
	}
	if c.runtimeClass != nil {
		s.RuntimeClasses = append(s.RuntimeClasses, c.runtimeClass)
	}
	if c.limitRange != nil {
		lr := c.limitRange.DeepCopy()
		lr.Namespace = namespace
		s.LimitRanges = append(s.LimitRanges, lr)
	}
	tmpl := c.targetTemplate()
	for i, node := range c.scheduledOn {
		pod, err := admit(tmpl, namespace, s.LimitRanges, s.RuntimeClasses)
		if err != nil {
			t.Fatal(err)
		}
		pod.Name, pod.Spec.NodeName, pod.Status.Phase = fmt.Sprintf("target-%d", i), c.nodeName(node), corev1.PodRunning
		s.Pods = append(s.Pods, pod)
	}
	return s
}

// breakdown is the result by short node name: a copy count or an Exclusion.
func (c capacityCase) breakdown(r Result) map[string]string {
	out := map[string]string{}
	for _, n := range r.Nodes {
		v := strconv.Itoa(int(n.Copies))
		if n.Excluded != "" {
			v = string(n.Excluded)
		}
		out[strings.TrimPrefix(n.Node, c.name+"-")] = v
	}
	return out
}

func TestEstimateClusterCases(t *testing.T) {
	for _, c := range clusterCases {
		t.Run(c.name, func(t *testing.T) {
			s := c.snapshot(t, "serving")
			tmpl := c.targetTemplate()
			target, err := EstimateTarget(s, "serving", labels.SelectorFromSet(c.targetLabels()), tmpl)
			if err != nil {
				t.Fatal(err)
			}
			if target.Copies != c.want {
				t.Errorf("Copies = %d, want %d\n%s", target.Copies, c.want, target.Summary())
			}
			if got := c.breakdown(target.Result); !maps.Equal(got, c.wantNodes) {
				t.Errorf("nodes = %v, want %v", got, c.wantNodes)
			}
			if want := int32(len(c.scheduledOn)); target.Scheduled != want || target.Replicas() != want+c.want {
				t.Errorf("Scheduled = %d, Replicas() = %d; want %d, %d", target.Scheduled, target.Replicas(), want, want+c.want)
			}
			if len(target.Unmodelled) != 0 {
				t.Errorf("Unmodelled = %v", target.Unmodelled)
			}
		})
	}
}

// node is a Ready node with the given allocatable (pods default to 110).
func node(name string, pairs ...string) *corev1.Node {
	return caseNode{alloc: rl(pairs...)}.object(name)
}

// boundPod is a running pod on node with one container's requests.
func boundPod(name, node string, pairs ...string) *corev1.Pod {
	return casePod{requests: rl(pairs...)}.object(name, node)
}

func TestEstimate(t *testing.T) {
	gpuTmpl := template(nil, limits("nvidia.com/gpu=1"))
	tests := []struct {
		name       string
		snap       Snapshot
		tmpl       corev1.PodTemplateSpec
		want       int32
		wantNodes  map[string]string // short form, as in the cluster cases
		wantLimit  string            // Limit of the first node, if set
		wantUnmod  []string
		wantDetail string // substring of the first node's Detail, if set
	}{
		{
			name: "terminated pods free their room",
			snap: Snapshot{Nodes: []*corev1.Node{node("a", "nvidia.com/gpu=2")}, Pods: func() []*corev1.Pod {
				done, failed := boundPod("done", "a", "nvidia.com/gpu=1"), boundPod("failed", "a", "nvidia.com/gpu=1")
				done.Status.Phase, failed.Status.Phase = corev1.PodSucceeded, corev1.PodFailed
				return []*corev1.Pod{done, failed}
			}()},
			tmpl: gpuTmpl, want: 2,
		},
		{
			name: "terminating pods still hold their room",
			snap: Snapshot{Nodes: []*corev1.Node{node("a", "nvidia.com/gpu=2")}, Pods: func() []*corev1.Pod {
				p := boundPod("leaving", "a", "nvidia.com/gpu=1")
				p.DeletionTimestamp = &metav1.Time{}
				return []*corev1.Pod{p}
			}()},
			tmpl: gpuTmpl, want: 1,
		},
		{
			name: "a pod nominated by preemption holds its room",
			snap: Snapshot{Nodes: []*corev1.Node{node("a", "nvidia.com/gpu=2")}, Pods: func() []*corev1.Pod {
				p := boundPod("preemptor", "", "nvidia.com/gpu=1")
				p.Status.NominatedNodeName, p.Status.Phase = "a", corev1.PodPending
				return []*corev1.Pod{p}
			}()},
			tmpl: gpuTmpl, want: 1,
		},
		{
			name: "unbound pods and pods of vanished nodes hold nothing",
			snap: Snapshot{Nodes: []*corev1.Node{node("a", "nvidia.com/gpu=2")}, Pods: []*corev1.Pod{
				boundPod("pending", "", "nvidia.com/gpu=2"), boundPod("orphan", "gone", "nvidia.com/gpu=2"),
			}},
			tmpl: gpuTmpl, want: 2,
		},
		{
			name: "in-place resize: the larger allocated request counts",
			snap: Snapshot{Nodes: []*corev1.Node{node("a", "nvidia.com/gpu=8", "cpu=8")}, Pods: func() []*corev1.Pod {
				p := boundPod("resized", "a", "cpu=1")
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", AllocatedResources: rl("cpu=5")}}
				return []*corev1.Pod{p}
			}()},
			tmpl: template(nil, requests("server", "cpu=1")), want: 3,
		},
		{
			name: "a bound pod's overhead counts",
			snap: Snapshot{Nodes: []*corev1.Node{node("a", "cpu=4")}, Pods: func() []*corev1.Pod {
				p := boundPod("kata", "a", "cpu=1")
				p.Spec.Overhead = rl("cpu=1")
				return []*corev1.Pod{p}
			}()},
			tmpl: template(nil, requests("server", "cpu=1")), want: 2,
		},
		{
			name: "over-committed node takes none",
			snap: Snapshot{Nodes: []*corev1.Node{node("a", "nvidia.com/gpu=2")}, Pods: []*corev1.Pod{
				boundPod("p1", "a", "nvidia.com/gpu=2"), boundPod("p2", "a", "nvidia.com/gpu=1"),
			}},
			tmpl: gpuTmpl, want: 0, wantLimit: "nvidia.com/gpu", wantDetail: "nvidia.com/gpu -1 free / 1 each",
		},
		{
			name: "a node without GPUs takes none",
			snap: Snapshot{Nodes: []*corev1.Node{node("cpu-only")}},
			tmpl: gpuTmpl, want: 0, wantLimit: "nvidia.com/gpu",
		},
		{
			name: "a node without a pods allocatable takes none",
			snap: Snapshot{Nodes: func() []*corev1.Node {
				n := node("a", "nvidia.com/gpu=2")
				delete(n.Status.Allocatable, corev1.ResourcePods)
				return []*corev1.Node{n}
			}()},
			tmpl: gpuTmpl, want: 0, wantLimit: "pods",
		},
		{
			name: "a template asking for nothing is bounded by pods",
			snap: Snapshot{Nodes: []*corev1.Node{node("a", "pods=5")}, Pods: []*corev1.Pod{boundPod("p", "a")}},
			tmpl: template(nil, requests("server")), want: 4, wantLimit: "pods",
		},
		{
			name: "a node without a Ready condition is NotReady",
			snap: Snapshot{Nodes: func() []*corev1.Node {
				n := node("a", "nvidia.com/gpu=2")
				n.Status.Conditions = nil
				return []*corev1.Node{n}
			}()},
			tmpl: gpuTmpl, want: 0, wantNodes: map[string]string{"a": "NotReady"},
		},
		{
			name: "a template tolerating unschedulable may use a cordoned node",
			snap: Snapshot{Nodes: []*corev1.Node{caseNode{alloc: gpus(2), cordoned: true}.object("a")}},
			tmpl: template(func(s *corev1.PodSpec) {
				s.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
			}, limits("nvidia.com/gpu=1")),
			want: 2,
		},
		{
			name: "NotReady is checked even when tolerated",
			snap: Snapshot{Nodes: []*corev1.Node{caseNode{alloc: gpus(2), notReady: true}.object("a")}},
			tmpl: template(func(s *corev1.PodSpec) {
				s.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
			}, limits("nvidia.com/gpu=1")),
			want: 0, wantNodes: map[string]string{"a": "NotReady"},
		},
		{
			name: "a toleration for the wrong effect does not tolerate",
			snap: Snapshot{Nodes: []*corev1.Node{caseNode{alloc: gpus(2), taints: []corev1.Taint{{Key: "k", Value: "v", Effect: corev1.TaintEffectNoExecute}}}.object("a")}},
			tmpl: template(func(s *corev1.PodSpec) {
				s.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpEqual, Value: "v", Effect: corev1.TaintEffectNoSchedule}}
			}, limits("nvidia.com/gpu=1")),
			want: 0, wantNodes: map[string]string{"a": "Taint"}, wantDetail: "k=v:NoExecute",
		},
		{
			name: "node affinity by field: metadata.name",
			snap: Snapshot{Nodes: []*corev1.Node{node("a", "nvidia.com/gpu=2"), node("b", "nvidia.com/gpu=2")}},
			tmpl: template(func(s *corev1.PodSpec) {
				s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
					NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"b"}}}}},
				}}}
			}, limits("nvidia.com/gpu=1")),
			want: 2, wantNodes: map[string]string{"a": "NodeAffinity", "b": "2"},
		},
		{
			name: "node affinity terms are ORed",
			snap: Snapshot{Nodes: []*corev1.Node{
				caseNode{alloc: gpus(1), labels: map[string]string{"gpu": "h100"}}.object("a"),
				caseNode{alloc: gpus(1), labels: map[string]string{"gpu": "a100"}}.object("b"),
				caseNode{alloc: gpus(1), labels: map[string]string{"gpu": "t4"}}.object("c"),
			}},
			tmpl: template(func(s *corev1.PodSpec) {
				term := func(v string) corev1.NodeSelectorTerm {
					return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "gpu", Operator: corev1.NodeSelectorOpIn, Values: []string{v}}}}
				}
				s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
					NodeSelectorTerms: []corev1.NodeSelectorTerm{term("h100"), term("a100")},
				}}}
			}, limits("nvidia.com/gpu=1")),
			want: 2, wantNodes: map[string]string{"a": "1", "b": "1", "c": "NodeAffinity"},
		},
		{
			name: "RuntimeClass scheduling merges its node selector and tolerations",
			snap: Snapshot{
				Nodes: []*corev1.Node{
					caseNode{alloc: gpus(2), labels: map[string]string{"runtime": "nvidia"}, taints: []corev1.Taint{{Key: "gpu", Effect: corev1.TaintEffectNoSchedule}}}.object("a"),
					node("b", "nvidia.com/gpu=2"),
				},
				RuntimeClasses: []*nodev1.RuntimeClass{{ObjectMeta: metav1.ObjectMeta{Name: "nvidia"}, Handler: "nvidia", Scheduling: &nodev1.Scheduling{
					NodeSelector: map[string]string{"runtime": "nvidia"},
					Tolerations:  []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpExists}},
				}}},
			},
			tmpl: template(func(s *corev1.PodSpec) { s.RuntimeClassName = ptr.To("nvidia") }, limits("nvidia.com/gpu=1")),
			want: 2, wantNodes: map[string]string{"a": "2", "b": "NodeSelector"},
		},
		{
			name: "a LimitRange of another namespace does not apply",
			snap: Snapshot{Nodes: []*corev1.Node{node("a", "nvidia.com/gpu=8", "memory=64Gi")}, LimitRanges: []*corev1.LimitRange{{
				ObjectMeta: metav1.ObjectMeta{Name: "lr", Namespace: "elsewhere"},
				Spec:       corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer, DefaultRequest: rl("memory=20Gi")}}},
			}}},
			tmpl: gpuTmpl, want: 8,
		},
		{
			name: "a container's own request wins over the LimitRange default",
			snap: Snapshot{Nodes: []*corev1.Node{node("a", "nvidia.com/gpu=8", "memory=64Gi")}, LimitRanges: []*corev1.LimitRange{{
				ObjectMeta: metav1.ObjectMeta{Name: "lr", Namespace: "serving"},
				Spec:       corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer, DefaultRequest: rl("memory=20Gi")}}},
			}}},
			tmpl: template(nil, corev1.Container{Name: "s", Resources: corev1.ResourceRequirements{Requests: rl("memory=10Gi"), Limits: gpus(1)}}),
			want: 6, wantLimit: "memory",
		},
		{
			name: "a request below the limit is kept",
			snap: Snapshot{Nodes: []*corev1.Node{node("a", "cpu=8")}},
			tmpl: template(nil, corev1.Container{Name: "s", Resources: corev1.ResourceRequirements{Requests: rl("cpu=1"), Limits: rl("cpu=4")}}),
			want: 8,
		},
		{
			name: "pod-level requests replace the containers' sum",
			snap: Snapshot{Nodes: []*corev1.Node{node("a", "cpu=8")}},
			tmpl: template(func(s *corev1.PodSpec) {
				s.Resources = &corev1.ResourceRequirements{Requests: rl("cpu=4")}
			}, requests("a", "cpu=1"), requests("b", "cpu=1")),
			want: 2,
		},
		{
			name: "pod-level requests default to pod-level limits",
			snap: Snapshot{Nodes: []*corev1.Node{node("a", "memory=64Gi")}},
			tmpl: template(func(s *corev1.PodSpec) {
				s.Resources = &corev1.ResourceRequirements{Limits: rl("memory=16Gi")}
			}, requests("a")),
			want: 4, wantLimit: "memory",
		},
		{
			name: "hostNetwork binds the container ports: one copy per node",
			snap: Snapshot{Nodes: []*corev1.Node{node("a", "nvidia.com/gpu=8")}},
			tmpl: template(func(s *corev1.PodSpec) {
				s.HostNetwork = true
				s.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8000}}
			}, limits("nvidia.com/gpu=1")),
			want: 1, wantLimit: LimitHostPort,
		},
		{
			name: "host ports on another IP or protocol do not clash",
			snap: Snapshot{Nodes: []*corev1.Node{node("a", "nvidia.com/gpu=8")}, Pods: func() []*corev1.Pod {
				udp, ip := boundPod("udp", "a"), boundPod("ip", "a")
				udp.Spec.Containers[0].Ports = []corev1.ContainerPort{{HostPort: 9400, ContainerPort: 1, Protocol: corev1.ProtocolUDP}}
				ip.Spec.Containers[0].Ports = []corev1.ContainerPort{{HostPort: 9400, ContainerPort: 1, HostIP: "10.0.0.2"}}
				return []*corev1.Pod{udp, ip}
			}()},
			tmpl: template(func(s *corev1.PodSpec) {
				s.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 9400, HostPort: 9400, HostIP: "10.0.0.1"}}
			}, limits("nvidia.com/gpu=1")),
			want: 1, wantLimit: LimitHostPort,
		},
		{
			name: "a host port bound on all addresses clashes",
			snap: Snapshot{Nodes: []*corev1.Node{node("a", "nvidia.com/gpu=8")}, Pods: func() []*corev1.Pod {
				p := boundPod("any", "a")
				p.Spec.Containers[0].Ports = []corev1.ContainerPort{{HostPort: 9400, ContainerPort: 1}}
				return []*corev1.Pod{p}
			}()},
			tmpl: template(func(s *corev1.PodSpec) {
				s.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 9400, HostPort: 9400, HostIP: "10.0.0.1"}}
			}, limits("nvidia.com/gpu=1")),
			want: 0, wantLimit: LimitHostPort, wantDetail: "host port 9400/TCP in use",
		},
		{
			name: "hostname anti-affinity with its own pods: one per node",
			snap: Snapshot{Nodes: []*corev1.Node{node("a", "nvidia.com/gpu=8"), node("b", "nvidia.com/gpu=8")}},
			tmpl: repelling(map[string]string{"app": "llm"}, nil, nil),
			want: 2, wantLimit: LimitPodAntiAffinity,
		},
		{
			name: "a node without the hostname label is in no domain",
			snap: Snapshot{Nodes: func() []*corev1.Node {
				n := node("a", "nvidia.com/gpu=8")
				delete(n.Labels, corev1.LabelHostname)
				return []*corev1.Node{n}
			}()},
			tmpl: repelling(map[string]string{"app": "llm"}, nil, nil),
			want: 8,
		},
		{
			name: "a repelled pod of the same namespace blocks the node",
			snap: Snapshot{Nodes: []*corev1.Node{node("a", "nvidia.com/gpu=8"), node("b", "nvidia.com/gpu=8")}, Pods: func() []*corev1.Pod {
				p := casePod{labels: map[string]string{"app": "llm"}}.object("old", "a")
				p.Namespace = "serving"
				return []*corev1.Pod{p}
			}()},
			tmpl: repelling(map[string]string{"app": "llm"}, nil, nil),
			want: 1, wantNodes: map[string]string{"a": "0", "b": "1"}, wantDetail: "pod serving/old on the node",
		},
		{
			name: "by default a term looks in the template's namespace only",
			snap: Snapshot{Nodes: []*corev1.Node{node("a", "nvidia.com/gpu=8")}, Pods: []*corev1.Pod{
				casePod{labels: map[string]string{"app": "llm"}}.object("elsewhere", "a"),
			}},
			tmpl: repelling(map[string]string{"app": "llm"}, nil, nil),
			want: 1,
		},
		{
			name: "named namespaces",
			snap: Snapshot{Nodes: []*corev1.Node{node("a", "nvidia.com/gpu=8")}, Pods: []*corev1.Pod{
				casePod{labels: map[string]string{"app": "llm"}}.object("elsewhere", "a"),
			}},
			tmpl: repelling(map[string]string{"app": "llm"}, []string{"other"}, nil),
			want: 0,
		},
		{
			name: "an empty namespace selector looks everywhere",
			snap: Snapshot{Nodes: []*corev1.Node{node("a", "nvidia.com/gpu=8")}, Pods: []*corev1.Pod{
				casePod{labels: map[string]string{"app": "llm"}}.object("elsewhere", "a"),
			}},
			tmpl: repelling(map[string]string{"app": "llm"}, nil, &metav1.LabelSelector{}),
			want: 0,
		},
		{
			name: "a namespace selector with labels is not simulated",
			snap: Snapshot{Nodes: []*corev1.Node{node("a", "nvidia.com/gpu=8")}},
			tmpl: repelling(map[string]string{"app": "llm"}, nil, &metav1.LabelSelector{MatchLabels: map[string]string{"team": "ml"}}),
			want: 8, wantUnmod: []string{"podAntiAffinity"},
		},
		{
			name: "a pod that repels the template blocks the node",
			snap: Snapshot{Nodes: []*corev1.Node{node("a", "nvidia.com/gpu=8"), node("b", "nvidia.com/gpu=8")}, Pods: []*corev1.Pod{
				casePod{repels: map[string]string{"app": "llm"}}.object("loner", "a"),
			}},
			tmpl: func() corev1.PodTemplateSpec {
				t := template(nil, limits("nvidia.com/gpu=1"))
				t.Labels = map[string]string{"app": "llm"}
				return t
			}(),
			want: 8, wantNodes: map[string]string{"a": "0", "b": "8"},
		},
		{
			name: "rules not simulated are reported",
			snap: Snapshot{Nodes: []*corev1.Node{node("a", "nvidia.com/gpu=8")}},
			tmpl: template(func(s *corev1.PodSpec) {
				term := corev1.PodAffinityTerm{TopologyKey: "topology.kubernetes.io/zone", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}}
				s.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term}}}
				s.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{
					{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.ScheduleAnyway},
					{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule},
				}
				s.Volumes = []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}}}
			}, limits("nvidia.com/gpu=1")),
			want: 8, wantUnmod: []string{"podAntiAffinity", "topologySpreadConstraints", "persistentVolumes"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.tmpl.DeepCopy()
			got, err := Estimate(tt.snap, "serving", &tt.tmpl)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(before, &tt.tmpl) {
				t.Error("Estimate modified the template")
			}
			if got.Copies != tt.want {
				t.Errorf("Copies = %d, want %d\n%s", got.Copies, tt.want, got.Summary())
			}
			if tt.wantNodes != nil {
				if b := (capacityCase{}).breakdown(got); !maps.Equal(b, tt.wantNodes) {
					t.Errorf("nodes = %v, want %v", b, tt.wantNodes)
				}
			}
			if tt.wantLimit != "" && got.Nodes[0].Limit != tt.wantLimit {
				t.Errorf("Limit = %q, want %q (%s)", got.Nodes[0].Limit, tt.wantLimit, got.Nodes[0])
			}
			if tt.wantDetail != "" && !strings.Contains(got.Nodes[0].Detail, tt.wantDetail) {
				t.Errorf("Detail = %q, want it to contain %q", got.Nodes[0].Detail, tt.wantDetail)
			}
			if !slices.Equal(got.Unmodelled, tt.wantUnmod) {
				t.Errorf("Unmodelled = %v, want %v", got.Unmodelled, tt.wantUnmod)
			}
		})
	}
}

func TestEstimateUnknownRuntimeClass(t *testing.T) {
	tmpl := template(func(s *corev1.PodSpec) { s.RuntimeClassName = ptr.To("missing") }, limits("nvidia.com/gpu=1"))
	_, err := Estimate(Snapshot{Nodes: []*corev1.Node{node("a", "nvidia.com/gpu=1")}}, "serving", &tmpl)
	if !errors.Is(err, ErrUnknownRuntimeClass) {
		t.Fatalf("err = %v, want ErrUnknownRuntimeClass", err)
	}
}

func TestEstimateRequestAndOrder(t *testing.T) {
	tmpl := template(nil, corev1.Container{Name: "s", Resources: corev1.ResourceRequirements{
		Requests: rl("cpu=1500m", "memory=0.5"), Limits: rl("nvidia.com/gpu=2", "cpu=2")}})
	got, err := Estimate(Snapshot{Nodes: []*corev1.Node{node("z", "nvidia.com/gpu=8"), node("a", "nvidia.com/gpu=4")}}, "serving", &tmpl)
	if err != nil {
		t.Fatal(err)
	}
	// memory 0.5 rounds up to 1 byte, as the scheduler's Value() does.
	want := Resources{"cpu": 1500, "memory": 1, "nvidia.com/gpu": 2, "pods": 1}
	if !maps.Equal(got.Request, want) {
		t.Errorf("Request = %v, want %v", got.Request, want)
	}
	if got.Nodes[0].Node != "a" || got.Nodes[1].Node != "z" {
		t.Errorf("nodes not sorted by name: %v", got.Nodes)
	}
	wantSummary := "6 more fit on 2 eligible of 2 nodes (a 2, z 4)"
	if s := got.Summary(); s != wantSummary {
		t.Errorf("Summary() = %q, want %q", s, wantSummary)
	}
	if s := got.Nodes[0].String(); s != "a: 2 (nvidia.com/gpu 4 free / 2 each)" {
		t.Errorf("String() = %q", s)
	}
}

func TestSummaryExcluded(t *testing.T) {
	r := Result{Copies: 1, Nodes: []NodeFit{
		{Node: "a", Copies: 1},
		{Node: "b"},
		{Node: "c", Excluded: ExcludedTaint, Detail: "k=v:NoSchedule"},
	}, Unmodelled: []string{"podAntiAffinity"}}
	want := "1 more fit on 2 eligible of 3 nodes (a 1); excluded: c Taint; not simulated: podAntiAffinity"
	if s := r.Summary(); s != want {
		t.Errorf("Summary() = %q, want %q", s, want)
	}
	if s := r.Nodes[2].String(); s != "c: excluded (Taint: k=v:NoSchedule)" {
		t.Errorf("String() = %q", s)
	}
}

func TestEstimateTargetCounts(t *testing.T) {
	app := map[string]string{"app": "llm"}
	pod := func(name, ns, node string, lbls map[string]string, mutate func(*corev1.Pod)) *corev1.Pod {
		p := boundPod(name, node, "nvidia.com/gpu=1")
		p.Namespace, p.Labels = ns, lbls
		if mutate != nil {
			mutate(p)
		}
		return p
	}
	s := Snapshot{
		Nodes: []*corev1.Node{node("a", "nvidia.com/gpu=8")},
		Pods: []*corev1.Pod{
			pod("running-1", "serving", "a", app, nil),
			pod("running-2", "serving", "a", app, nil),
			pod("pending", "serving", "", app, func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }),
			pod("deleting", "serving", "a", app, func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{} }),
			pod("failed", "serving", "a", app, func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }),
			pod("other-ns", "staging", "a", app, nil),
			pod("other-app", "serving", "a", map[string]string{"app": "db"}, nil),
		},
	}
	tmpl := template(nil, limits("nvidia.com/gpu=1"))
	got, err := EstimateTarget(s, "serving", labels.SelectorFromSet(app), &tmpl)
	if err != nil {
		t.Fatal(err)
	}
	// 8 GPUs − 5 held (the two running, the one being deleted, the other
	// namespace's and the other app's; the pending and the failed pod hold
	// none) = 3.
	if got.Scheduled != 2 || got.Pending != 1 || got.Copies != 3 || got.Replicas() != 5 {
		t.Errorf("got Scheduled %d Pending %d Copies %d Replicas %d; want 2 1 3 5", got.Scheduled, got.Pending, got.Copies, got.Replicas())
	}
}

func TestResources(t *testing.T) {
	r := FromList(rl("cpu=1500m", "memory=1Gi", "nvidia.com/gpu=2", "hugepages-2Mi=4Mi", "ephemeral-storage=1k", "pods=3", "attachable-volumes-csi-x=2"))
	want := Resources{"cpu": 1500, "memory": 1 << 30, "nvidia.com/gpu": 2, "hugepages-2Mi": 4 << 20, "ephemeral-storage": 1000, "pods": 3, "attachable-volumes-csi-x": 2}
	if !maps.Equal(r, want) {
		t.Errorf("FromList = %v, want %v", r, want)
	}
	if got := FromList(corev1.ResourceList{"storage": rl("cpu=1")["cpu"]}); len(got) != 0 {
		t.Errorf("FromList kept an unscheduled resource: %v", got)
	}

	copiesTests := []struct {
		name      string
		req, free Resources
		want      int64
		limit     corev1.ResourceName
	}{
		{"min over resources", Resources{"cpu": 1000, "nvidia.com/gpu": 2}, Resources{"cpu": 10000, "nvidia.com/gpu": 5}, 2, "nvidia.com/gpu"},
		{"cpu limits", Resources{"cpu": 3000, "nvidia.com/gpu": 1}, Resources{"cpu": 8000, "nvidia.com/gpu": 8}, 2, "cpu"},
		{"missing free is zero", Resources{"nvidia.com/mig-1g.10gb": 1}, Resources{"nvidia.com/gpu": 8}, 0, "nvidia.com/mig-1g.10gb"},
		{"negative free is zero", Resources{"cpu": 1}, Resources{"cpu": -5}, 0, "cpu"},
		{"zero requests are not checked", Resources{"cpu": 0, "pods": 1}, Resources{"pods": 3}, 3, "pods"},
		{"ties go to the first name", Resources{"cpu": 1, "memory": 1}, Resources{"cpu": 2, "memory": 2}, 2, "cpu"},
		{"nothing requested", Resources{}, Resources{"cpu": 1}, math.MaxInt64, ""},
	}
	for _, tt := range copiesTests {
		n, limit := Copies(tt.req, tt.free)
		if n != tt.want || limit != tt.limit {
			t.Errorf("%s: Copies = %d, %q; want %d, %q", tt.name, n, limit, tt.want, tt.limit)
		}
		if Fits(tt.req, tt.free) != (tt.want >= 1) {
			t.Errorf("%s: Fits disagrees with Copies", tt.name)
		}
	}

	diff := Subtract(Resources{"cpu": 4000, "nvidia.com/gpu": 2}, Resources{"cpu": 1000, "memory": 5})
	if !maps.Equal(diff, Resources{"cpu": 3000, "nvidia.com/gpu": 2, "memory": -5}) {
		t.Errorf("Subtract = %v", diff)
	}
	sum := Resources{"cpu": 1}
	sum.Add(Resources{"cpu": 1, "pods": 1})
	if !maps.Equal(sum, Resources{"cpu": 2, "pods": 1}) {
		t.Errorf("Add = %v", sum)
	}
	if s := (Resources{"nvidia.com/gpu": 2, "cpu": 500, "memory": 1}).String(); s != "cpu=500m memory=1 nvidia.com/gpu=2" {
		t.Errorf("String = %q", s)
	}
}

// repelling is a 1-GPU template labelled lbls with a required hostname
// anti-affinity term selecting lbls.
func repelling(lbls map[string]string, namespaces []string, nsSelector *metav1.LabelSelector) corev1.PodTemplateSpec {
	t := template(func(s *corev1.PodSpec) {
		s.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: lbls},
				Namespaces: namespaces, NamespaceSelector: nsSelector,
			}},
		}}
	}, limits("nvidia.com/gpu=1"))
	t.Labels = lbls
	return t
}
