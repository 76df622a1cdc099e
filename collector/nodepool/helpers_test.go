package nodepool

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const gpu corev1.ResourceName = "nvidia.com/gpu"

// rl parses "nvidia.com/gpu=2 cpu=4" into a resource list.
func rl(s string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for _, kv := range strings.Fields(s) {
		name, q, _ := strings.Cut(kv, "=")
		out[corev1.ResourceName(name)] = resource.MustParse(q)
	}
	return out
}

// readyPool is a Ready pool with the given limits and holdings.
func readyPool(name, limits, held string, mods ...func(*Pool)) Pool {
	p := Pool{Name: name, Limits: rl(limits), Resources: rl(held), Ready: true,
		Labels: map[string]string{LabelNodePool: name}}
	for _, m := range mods {
		m(&p)
	}
	return p
}

// gpuPod is a pod whose one container requests the given resources, as
// limits only (the template's usual way), admitted by PodFromTemplate.
func gpuPod(limits string, mods ...func(*corev1.PodSpec)) *corev1.Pod {
	tpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "server", Resources: corev1.ResourceRequirements{Limits: rl(limits)},
	}}}}
	for _, m := range mods {
		m(&tpl.Spec)
	}
	return PodFromTemplate("serving", tpl)
}

func selector(kv ...string) func(*corev1.PodSpec) {
	return func(s *corev1.PodSpec) {
		if s.NodeSelector == nil {
			s.NodeSelector = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			s.NodeSelector[kv[i]] = kv[i+1]
		}
	}
}

func req(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{Key: key, Operator: op, Values: values}
}

// affinity sets the required node affinity terms, each a list of
// requirements.
func affinity(terms ...[]corev1.NodeSelectorRequirement) func(*corev1.PodSpec) {
	return func(s *corev1.PodSpec) {
		ns := &corev1.NodeSelector{}
		for _, t := range terms {
			ns.NodeSelectorTerms = append(ns.NodeSelectorTerms, corev1.NodeSelectorTerm{MatchExpressions: t})
		}
		s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: ns}}
	}
}

func tolerate(t corev1.Toleration) func(*corev1.PodSpec) {
	return func(s *corev1.PodSpec) { s.Tolerations = append(s.Tolerations, t) }
}

func withRequirements(r ...corev1.NodeSelectorRequirement) func(*Pool) {
	return func(p *Pool) { p.Requirements = append(p.Requirements, r...) }
}

func withLabels(kv ...string) func(*Pool) {
	return func(p *Pool) {
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func withTaint(key string, effect corev1.TaintEffect) func(*Pool) {
	return func(p *Pool) { p.Taints = append(p.Taints, corev1.Taint{Key: key, Value: "true", Effect: effect}) }
}

// object decodes a YAML manifest the way a dynamic client does (integers
// as int64).
func object(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(manifest))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatal(err)
	}
	return u
}
