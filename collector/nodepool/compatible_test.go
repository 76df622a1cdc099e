package nodepool

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

type rs = []corev1.NodeSelectorRequirement

func TestCompatible(t *testing.T) {
	const (
		in           = corev1.NodeSelectorOpIn
		notIn        = corev1.NodeSelectorOpNotIn
		exists       = corev1.NodeSelectorOpExists
		doesNotExist = corev1.NodeSelectorOpDoesNotExist
		gt           = corev1.NodeSelectorOpGt
		lt           = corev1.NodeSelectorOpLt
	)
	gpuTaint := withTaint("nvidia.com/gpu", corev1.TaintEffectNoSchedule)
	cases := []struct {
		name string
		pool []func(*Pool)
		pod  []func(*corev1.PodSpec)
		// want is the exclusion, and a piece of its detail.
		want       Exclusion
		wantDetail string
	}{
		{name: "no constraints on either side"},
		{name: "unconstrained pod, constrained pool", pool: []func(*Pool){withRequirements(req("gpu-type", in, "a100"))}},
		{name: "selector met by a pool label",
			pool: []func(*Pool){withLabels("gpu-type", "a100")}, pod: []func(*corev1.PodSpec){selector("gpu-type", "a100")}},
		{name: "selector met by a pool requirement",
			pool: []func(*Pool){withRequirements(req("gpu-type", in, "a100", "h100"))}, pod: []func(*corev1.PodSpec){selector("gpu-type", "h100")}},
		{name: "selector against another value",
			pool: []func(*Pool){withRequirements(req("gpu-type", in, "a100"))}, pod: []func(*corev1.PodSpec){selector("gpu-type", "h100")},
			want: ExcludedRequirements, wantDetail: "gpu-type: the pool has In [a100], the pod needs In [h100]"},
		{name: "label and requirement of the pool narrow each other",
			pool: []func(*Pool){withLabels("gpu-type", "a100"), withRequirements(req("gpu-type", in, "a100", "h100"))},
			pod:  []func(*corev1.PodSpec){selector("gpu-type", "h100")}, want: ExcludedRequirements},
		{name: "custom label the pool does not define",
			pod: []func(*corev1.PodSpec){selector("team", "ml")}, want: ExcludedRequirements, wantDetail: "label team"},
		{name: "Exists on a custom label the pool does not define",
			pod: []func(*corev1.PodSpec){affinity(rs{req("team", exists)})}, want: ExcludedRequirements},
		{name: "NotIn on a custom label the pool does not define",
			pod: []func(*corev1.PodSpec){affinity(rs{req("team", notIn, "web")})}},
		{name: "DoesNotExist on a custom label the pool does not define",
			pod: []func(*corev1.PodSpec){affinity(rs{req("spot-only", doesNotExist)})}},
		{name: "DoesNotExist on a label the pool sets",
			pool: []func(*Pool){withLabels("spot-only", "true")},
			pod:  []func(*corev1.PodSpec){affinity(rs{req("spot-only", doesNotExist)})}, want: ExcludedRequirements},
		{name: "DoesNotExist against the pool's NotIn",
			pool: []func(*Pool){withRequirements(req("spot-only", notIn, "true"))},
			pod:  []func(*corev1.PodSpec){affinity(rs{req("spot-only", doesNotExist)})}},
		{name: "Exists against the pool's Exists",
			pool: []func(*Pool){withRequirements(req("gpu-type", exists))}, pod: []func(*corev1.PodSpec){affinity(rs{req("gpu-type", exists)})}},
		{name: "Exists against the pool's DoesNotExist",
			pool: []func(*Pool){withRequirements(req("gpu-type", doesNotExist))},
			pod:  []func(*corev1.PodSpec){affinity(rs{req("gpu-type", exists)})}, want: ExcludedRequirements},
		{name: "NotIn the pool's only value",
			pool: []func(*Pool){withRequirements(req("gpu-type", in, "t4"))},
			pod:  []func(*corev1.PodSpec){affinity(rs{req("gpu-type", notIn, "t4")})}, want: ExcludedRequirements},
		{name: "NotIn one of the pool's values",
			pool: []func(*Pool){withRequirements(req("gpu-type", in, "t4", "a100"))},
			pod:  []func(*corev1.PodSpec){affinity(rs{req("gpu-type", notIn, "t4")})}},
		{name: "Gt met by one of the pool's values",
			pool: []func(*Pool){withRequirements(req("gpu-memory-gib", in, "24", "80"))},
			pod:  []func(*corev1.PodSpec){affinity(rs{req("gpu-memory-gib", gt, "40")})}},
		{name: "Gt above every pool value",
			pool: []func(*Pool){withRequirements(req("gpu-memory-gib", in, "24", "40"))},
			pod:  []func(*corev1.PodSpec){affinity(rs{req("gpu-memory-gib", gt, "40")})}, want: ExcludedRequirements, wantDetail: ">=41"},
		{name: "Lt below the pool's Gt",
			pool: []func(*Pool){withRequirements(req("gpu-count", gt, "4"))},
			pod:  []func(*corev1.PodSpec){affinity(rs{req("gpu-count", lt, "4")})}, want: ExcludedRequirements},
		{name: "Lt overlapping the pool's Gte",
			pool: []func(*Pool){withRequirements(req("gpu-count", OpGte, "2"))},
			pod:  []func(*corev1.PodSpec){affinity(rs{req("gpu-count", lt, "3")})}},
		{name: "Gt against the pool's Lte",
			pool: []func(*Pool){withRequirements(req("gpu-count", OpLte, "4"))},
			pod:  []func(*corev1.PodSpec){affinity(rs{req("gpu-count", gt, "4")})}, want: ExcludedRequirements},
		{name: "Gt against non-integer pool values",
			pool: []func(*Pool){withRequirements(req("gpu-count", in, "many"))},
			pod:  []func(*corev1.PodSpec){affinity(rs{req("gpu-count", gt, "1")})}, want: ExcludedRequirements},
		{name: "well-known label the pool does not define",
			pod: []func(*corev1.PodSpec){selector(corev1.LabelTopologyZone, "us-east-1a")}},
		{name: "provider label the pool does not define",
			pod: []func(*corev1.PodSpec){selector("karpenter.k8s.aws/instance-gpu-name", "a100")}},
		{name: "well-known label the pool restricts",
			pool: []func(*Pool){withRequirements(req(corev1.LabelTopologyZone, in, "us-east-1b"))},
			pod:  []func(*corev1.PodSpec){selector(corev1.LabelTopologyZone, "us-east-1a")}, want: ExcludedRequirements},
		{name: "beta label normalized",
			pool: []func(*Pool){withRequirements(req(corev1.LabelArchStable, in, "amd64"))},
			pod:  []func(*corev1.PodSpec){selector("beta.kubernetes.io/arch", "arm64")}, want: ExcludedRequirements, wantDetail: corev1.LabelArchStable},
		{name: "the pool's own name",
			pod: []func(*corev1.PodSpec){selector(LabelNodePool, "gpu")}},
		{name: "another pool's name",
			pod: []func(*corev1.PodSpec){selector(LabelNodePool, "cpu")}, want: ExcludedRequirements},
		{name: "a named host",
			pod: []func(*corev1.PodSpec){selector(corev1.LabelHostname, "node-1")}, want: ExcludedRequirements},
		{name: "hostname Exists: a new node has one",
			pod: []func(*corev1.PodSpec){affinity(rs{req(corev1.LabelHostname, exists)})}},
		{name: "hostname NotIn",
			pod: []func(*corev1.PodSpec){affinity(rs{req(corev1.LabelHostname, notIn, "node-1")})}},
		{name: "second affinity term fits",
			pool: []func(*Pool){withLabels("gpu-type", "a100")},
			pod:  []func(*corev1.PodSpec){affinity(rs{req("gpu-type", in, "h100")}, rs{req("gpu-type", in, "a100")})}},
		{name: "no affinity term fits",
			pool: []func(*Pool){withLabels("gpu-type", "a100")},
			pod:  []func(*corev1.PodSpec){affinity(rs{req("gpu-type", in, "h100")}, rs{req("gpu-type", in, "t4")})},
			want: ExcludedRequirements, wantDetail: "none of 2 node affinity terms"},
		{name: "selector and affinity term both apply",
			pool: []func(*Pool){withLabels("gpu-type", "a100"), withRequirements(req(corev1.LabelTopologyZone, in, "a"))},
			pod:  []func(*corev1.PodSpec){selector("gpu-type", "a100"), affinity(rs{req(corev1.LabelTopologyZone, in, "b")})},
			want: ExcludedRequirements, wantDetail: corev1.LabelTopologyZone},
		{name: "matchFields term matches no new node",
			pod: []func(*corev1.PodSpec){func(s *corev1.PodSpec) {
				s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
					NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: rs{req("metadata.name", in, "node-1")}}}}}}
			}}, want: ExcludedRequirements, wantDetail: "selects fields"},
		{name: "untolerated NoSchedule taint",
			pool: []func(*Pool){gpuTaint}, want: ExcludedTaint, wantDetail: "nvidia.com/gpu=true:NoSchedule"},
		{name: "tolerated NoSchedule taint",
			pool: []func(*Pool){gpuTaint},
			pod:  []func(*corev1.PodSpec){tolerate(corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists})}},
		{name: "toleration for another effect",
			pool: []func(*Pool){gpuTaint},
			pod: []func(*corev1.PodSpec){tolerate(corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists,
				Effect: corev1.TaintEffectNoExecute})}, want: ExcludedTaint},
		{name: "untolerated NoExecute taint",
			pool: []func(*Pool){withTaint("dedicated", corev1.TaintEffectNoExecute)}, want: ExcludedTaint},
		{name: "PreferNoSchedule taint is relaxed",
			pool: []func(*Pool){withTaint("dedicated", corev1.TaintEffectPreferNoSchedule)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pool := readyPool("gpu", "", "", c.pool...)
			got, detail := Compatible(pool, gpuPod("nvidia.com/gpu=1", c.pod...))
			if got != c.want || !strings.Contains(detail, c.wantDetail) {
				t.Errorf("Compatible = %q (%s), want %q (…%s…)", got, detail, c.want, c.wantDetail)
			}
		})
	}
}

func TestCompatibleOnAParsedNodePool(t *testing.T) {
	pool, err := ParseNodePool(object(t, `
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: gpu}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: gpu-class}
      requirements: [{key: karpenter.k8s.aws/instance-family, operator: In, values: [p4d]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	pool.Ready = true
	for _, c := range []struct {
		selector []string
		want     Exclusion
	}{
		{[]string{LabelNodePool, "gpu"}, ""},
		{[]string{"karpenter.k8s.aws/ec2nodeclass", "gpu-class"}, ""},
		{[]string{"karpenter.k8s.aws/ec2nodeclass", "other"}, ExcludedRequirements},
		{[]string{"karpenter.sh/initialized", "true"}, ""},
		{[]string{"karpenter.k8s.aws/instance-family", "g5"}, ExcludedRequirements},
	} {
		if got, detail := Compatible(pool, gpuPod("nvidia.com/gpu=1", selector(c.selector...))); got != c.want {
			t.Errorf("selector %v: %q (%s), want %q", c.selector, got, detail, c.want)
		}
	}
}
