package nodepool

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

const gpuNodePool = `
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: gpu
spec:
  template:
    metadata:
      labels: {gpu-type: a100}
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
        - {key: karpenter.k8s.aws/instance-family, operator: In, values: [p4d, p5], minValues: 1}
        - {key: karpenter.k8s.aws/instance-gpu-count, operator: Gt, values: ["3"]}
        - {key: karpenter.sh/capacity-type, operator: NotIn, values: [spot]}
      taints:
        - {key: nvidia.com/gpu, value: "true", effect: NoSchedule}
      startupTaints:
        - {key: node.example.com/booting, effect: NoSchedule}
  limits:
    nvidia.com/gpu: 64
    cpu: "1000"
    memory: 4000Gi
status:
  resources: {nvidia.com/gpu: "16", cpu: "192", nodes: "2"}
  conditions:
    - {type: NodeClassReady, status: "True", lastTransitionTime: "2026-03-01T12:00:00Z"}
    - {type: Ready, status: "True", lastTransitionTime: "2026-03-01T12:00:00Z"}
`

func TestParseNodePool(t *testing.T) {
	got, err := ParseNodePool(object(t, gpuNodePool))
	if err != nil {
		t.Fatal(err)
	}
	want := Pool{
		Name: "gpu",
		Requirements: []corev1.NodeSelectorRequirement{
			req("karpenter.k8s.aws/instance-family", corev1.NodeSelectorOpIn, "p4d", "p5"),
			req("karpenter.k8s.aws/instance-gpu-count", corev1.NodeSelectorOpGt, "3"),
			req("karpenter.sh/capacity-type", corev1.NodeSelectorOpNotIn, "spot"),
		},
		Labels: map[string]string{
			"gpu-type": "a100", LabelNodePool: "gpu", "karpenter.k8s.aws/ec2nodeclass": "default",
			"karpenter.sh/registered": "true", "karpenter.sh/initialized": "true",
		},
		// startupTaints are not kept.
		Taints:    []corev1.Taint{{Key: "nvidia.com/gpu", Value: "true", Effect: corev1.TaintEffectNoSchedule}},
		Limits:    rl("nvidia.com/gpu=64 cpu=1000 memory=4000Gi"),
		Resources: rl("nvidia.com/gpu=16 cpu=192 nodes=2"),
		Ready:     true,
	}
	if !reflect.DeepEqual(got.Requirements, want.Requirements) || !reflect.DeepEqual(got.Labels, want.Labels) ||
		!reflect.DeepEqual(got.Taints, want.Taints) || got.Name != want.Name || got.Ready != want.Ready ||
		got.Deleting || got.Static {
		t.Errorf("ParseNodePool =\n %+v, want\n %+v", got, want)
	}
	for _, l := range []struct{ got, want corev1.ResourceList }{{got.Limits, want.Limits}, {got.Resources, want.Resources}} {
		if len(l.got) != len(l.want) {
			t.Errorf("resources %v, want %v", l.got, l.want)
		}
		for name, q := range l.want {
			if g := l.got[name]; g.Cmp(q) != 0 {
				t.Errorf("%s = %s, want %s", name, g.String(), q.String())
			}
		}
	}
}

func TestParseNodePoolState(t *testing.T) {
	u := object(t, `
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: static, deletionTimestamp: "2026-03-01T12:00:00Z"}
spec:
  replicas: 3
  template: {spec: {requirements: []}}
status:
  conditions: [{type: Ready, status: "False"}]
`)
	got, err := ParseNodePool(u)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Deleting || !got.Static || got.Ready {
		t.Errorf("deleting %v static %v ready %v, want true true false", got.Deleting, got.Static, got.Ready)
	}
	// No Ready condition: Karpenter's provisioner skips the pool.
	if got, _ := ParseNodePool(object(t, "{apiVersion: karpenter.sh/v1, kind: NodePool, metadata: {name: new}}")); got.Ready {
		t.Error("a pool without a Ready condition parsed as Ready")
	}
}

func TestParseNodePoolMalformed(t *testing.T) {
	cases := []struct {
		name, spec, want string
	}{
		{"unknown operator", `template: {spec: {requirements: [{key: a, operator: Near, values: [b]}]}}`,
			`"broken": spec.template.spec.requirements[0]: operator "Near" is not`},
		{"Gt without an integer", `template: {spec: {requirements: [{key: a, operator: Gt, values: [many]}]}}`,
			`spec.template.spec.requirements[0]: operator Gt: "many" is not an integer`},
		{"Lt with two values", `template: {spec: {requirements: [{key: a, operator: Lt, values: ["1", "2"]}]}}`,
			`spec.template.spec.requirements[0]: operator Lt needs one integer value`},
		{"In without values", `template: {spec: {requirements: [{key: a, operator: In}]}}`,
			`spec.template.spec.requirements[0]: operator In needs values`},
		{"requirement without a key", `template: {spec: {requirements: [{operator: Exists}]}}`,
			`spec.template.spec.requirements[0].key: must be a non-empty string`},
		{"requirements not a list", `template: {spec: {requirements: {key: a}}}`,
			`spec.template.spec.requirements: is a map[string]interface {}, not a list`},
		{"a value not a string", `template: {spec: {requirements: [{key: a, operator: In, values: [1]}]}}`,
			`spec.template.spec.requirements[0].values[0]: is a int64, not a string`},
		{"a label not a string", `template: {metadata: {labels: {gpu: 1}}}`,
			`spec.template.metadata.labels.gpu: is a int64, not a string`},
		{"a taint's effect", `template: {spec: {taints: [{key: a, effect: Never}]}}`,
			`spec.template.spec.taints[0].effect: "Never" is not NoSchedule`},
		{"a limit not a quantity", `limits: {nvidia.com/gpu: lots}`,
			`spec.limits.nvidia.com/gpu: quantities must match`},
		{"limits not a map", `limits: [1]`, `spec.limits: is a []interface {}, not a map`},
		{"nodeClassRef without a kind", `template: {spec: {nodeClassRef: {group: g, name: n}}}`,
			`spec.template.spec.nodeClassRef: group, kind and name must be strings`},
		{"template not an object", `template: 3`, `spec.template.metadata.labels:`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := object(t, "{apiVersion: karpenter.sh/v1, kind: NodePool, metadata: {name: broken}, spec: {"+c.spec+"}}")
			_, err := ParseNodePool(u)
			if !errors.Is(err, ErrMalformedNodePool) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want ErrMalformedNodePool with %q", err, c.want)
			}
		})
	}
	t.Run("status.resources", func(t *testing.T) {
		u := object(t, `{apiVersion: karpenter.sh/v1, kind: NodePool, metadata: {name: broken}, status: {resources: {cpu: true}}}`)
		if _, err := ParseNodePool(u); err == nil || !strings.Contains(err.Error(), `"broken": status.resources.cpu: true (bool) is not a quantity`) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("no name", func(t *testing.T) {
		if _, err := ParseNodePool(object(t, `{apiVersion: karpenter.sh/v1, kind: NodePool}`)); !errors.Is(err, ErrMalformedNodePool) {
			t.Errorf("err = %v", err)
		}
	})
}
