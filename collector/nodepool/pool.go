package nodepool

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Karpenter's label keys, resource names and operators this package reads.
const (
	// LabelNodePool is the label Karpenter puts on every NodeClaim and node
	// of a NodePool, naming it.
	LabelNodePool = "karpenter.sh/nodepool"
	// ResourceNodes is the node count in a NodePool's spec.limits and
	// status.resources.
	ResourceNodes corev1.ResourceName = "nodes"
	// OpGte and OpLte are Karpenter's inclusive bounds, allowed in a
	// NodePool's requirements beside the core operators.
	OpGte corev1.NodeSelectorOperator = "Gte"
	OpLte corev1.NodeSelectorOperator = "Lte"
)

// ErrMalformedNodePool: a NodePool object does not have the shape of
// karpenter.sh/v1; the error names the NodePool and the field.
var ErrMalformedNodePool = errors.New("malformed NodePool")

// Pool is a Karpenter v1 NodePool reduced to what decides whether it can add
// nodes for a pod, and how many.
type Pool struct {
	Name string
	// Requirements are spec.template.spec.requirements (minValues dropped:
	// it asks for instance type flexibility, not for a label value).
	Requirements []corev1.NodeSelectorRequirement
	// Labels are the labels every node of the pool carries, each an In
	// requirement: spec.template.metadata.labels, and those Karpenter adds
	// (karpenter.sh/nodepool, the NodeClass label, karpenter.sh/registered
	// and karpenter.sh/initialized).
	Labels map[string]string
	// Taints are spec.template.spec.taints. startupTaints are not kept:
	// they are removed before pods schedule, so they never keep one off.
	Taints []corev1.Taint
	// Limits is spec.limits; a resource not listed is not limited.
	Limits corev1.ResourceList
	// Resources is status.resources: the capacity of the pool's nodes now
	// (and of its NodeClaims still launching), "nodes" included.
	Resources corev1.ResourceList
	// Deleting: the NodePool has a deletionTimestamp. Karpenter's
	// provisioner skips it.
	Deleting bool
	// Static: spec.replicas is set. A static NodePool keeps a fixed count
	// of nodes, and the provisioner adds none for Pending pods.
	Static bool
	// Ready: the NodePool's Ready condition is True (its NodeClass is ready
	// and it passed validation). The provisioner skips a pool that is not.
	Ready bool
	// Opaque: the labels and taints of the pool's nodes are not known (the
	// cluster autoscaler's node groups, see ConfiguredPool), so every pod is
	// taken to fit.
	Opaque bool
}

// ParseNodePool reads a karpenter.sh/v1 NodePool. An error wraps
// ErrMalformedNodePool and names the NodePool and the field.
func ParseNodePool(u *unstructured.Unstructured) (Pool, error) {
	p := poolParser{name: u.GetName(), obj: u.Object}
	if p.name == "" {
		return Pool{}, fmt.Errorf("%w: metadata.name is empty", ErrMalformedNodePool)
	}
	pool := Pool{Name: p.name, Deleting: u.GetDeletionTimestamp() != nil}
	var err error
	if pool.Labels, err = p.labels(); err != nil {
		return Pool{}, err
	}
	if pool.Requirements, err = p.requirements(); err != nil {
		return Pool{}, err
	}
	if pool.Taints, err = p.taints(); err != nil {
		return Pool{}, err
	}
	if pool.Limits, err = p.resourceList("spec", "limits"); err != nil {
		return Pool{}, err
	}
	if pool.Resources, err = p.resourceList("status", "resources"); err != nil {
		return Pool{}, err
	}
	if pool.Static, err = p.present("spec", "replicas"); err != nil {
		return Pool{}, err
	}
	if pool.Ready, err = p.ready(); err != nil {
		return Pool{}, err
	}
	return pool, nil
}

// ConfiguredPool is a pool whose limit is not readable through the API,
// the cluster autoscaler's node groups: maxGPUs is the configured total
// (the groups' maximum sizes times a node's GPUs) and heldGPUs what the
// nodes hold now. It has no requirements and no taints, so every pod fits:
// the node groups' labels and taints are not known either.
func ConfiguredPool(name string, gpu corev1.ResourceName, maxGPUs, heldGPUs int64) Pool {
	return Pool{
		Name:      name,
		Limits:    corev1.ResourceList{gpu: *resource.NewQuantity(maxGPUs, resource.DecimalSI)},
		Resources: corev1.ResourceList{gpu: *resource.NewQuantity(heldGPUs, resource.DecimalSI)},
		Ready:     true,
		Opaque:    true,
	}
}

// poolParser reads the fields of one NodePool object.
type poolParser struct {
	name string
	obj  map[string]any
}

func (p poolParser) errorf(path, format string, args ...any) error {
	return fmt.Errorf("%w %q: %s: %s", ErrMalformedNodePool, p.name, path, fmt.Sprintf(format, args...))
}

// field returns the value at path, nil when absent (or null).
func (p poolParser) field(path ...string) (any, error) {
	v, _, err := unstructured.NestedFieldNoCopy(p.obj, path...)
	if err != nil {
		return nil, p.errorf(strings.Join(path, "."), "%v", err)
	}
	return v, nil
}

func (p poolParser) present(path ...string) (bool, error) {
	v, err := p.field(path...)
	return v != nil, err
}

// labels reads spec.template.metadata.labels and adds the labels Karpenter
// puts on every node of the pool.
func (p poolParser) labels() (map[string]string, error) {
	const path = "spec.template.metadata.labels"
	v, err := p.field("spec", "template", "metadata", "labels")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	if v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, p.errorf(path, "is a %T, not a map", v)
		}
		for k, val := range m {
			s, ok := val.(string)
			if !ok {
				return nil, p.errorf(path+"."+k, "is a %T, not a string", val)
			}
			out[k] = s
		}
	}
	class, err := p.nodeClassLabel()
	if err != nil {
		return nil, err
	}
	maps.Copy(out, class)
	// Karpenter labels the node with its pool, and marks it registered and
	// initialized as it joins (NewNodeClaimTemplate adds the last two as
	// requirements for the pods that select them).
	out[LabelNodePool] = p.name
	out["karpenter.sh/registered"] = "true"
	out["karpenter.sh/initialized"] = "true"
	return out, nil
}

// nodeClassLabel is the label Karpenter puts on the nodes of a NodeClass:
// <group>/<kind in lower case>=<name> (NodeClassLabelKey).
func (p poolParser) nodeClassLabel() (map[string]string, error) {
	const path = "spec.template.spec.nodeClassRef"
	v, err := p.field("spec", "template", "spec", "nodeClassRef")
	if err != nil || v == nil {
		return nil, err
	}
	ref, ok := v.(map[string]any)
	if !ok {
		return nil, p.errorf(path, "is a %T, not an object", v)
	}
	group, _ := ref["group"].(string)
	kind, _ := ref["kind"].(string)
	name, _ := ref["name"].(string)
	if group == "" || kind == "" || name == "" {
		return nil, p.errorf(path, "group, kind and name must be strings")
	}
	return map[string]string{group + "/" + strings.ToLower(kind): name}, nil
}

// objects reads the list at path as objects.
func (p poolParser) objects(path ...string) ([]map[string]any, error) {
	v, err := p.field(path...)
	if err != nil || v == nil {
		return nil, err
	}
	list, ok := v.([]any)
	if !ok {
		return nil, p.errorf(strings.Join(path, "."), "is a %T, not a list", v)
	}
	out := make([]map[string]any, len(list))
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, p.errorf(fmt.Sprintf("%s[%d]", strings.Join(path, "."), i), "is a %T, not an object", item)
		}
		out[i] = m
	}
	return out, nil
}

func (p poolParser) requirements() ([]corev1.NodeSelectorRequirement, error) {
	items, err := p.objects("spec", "template", "spec", "requirements")
	if err != nil {
		return nil, err
	}
	out := make([]corev1.NodeSelectorRequirement, 0, len(items))
	for i, item := range items {
		r, err := p.requirement(item, fmt.Sprintf("spec.template.spec.requirements[%d]", i))
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (p poolParser) requirement(item map[string]any, path string) (corev1.NodeSelectorRequirement, error) {
	var r corev1.NodeSelectorRequirement
	key, ok := item["key"].(string)
	if !ok || key == "" {
		return r, p.errorf(path+".key", "must be a non-empty string")
	}
	op, _ := item["operator"].(string)
	r = corev1.NodeSelectorRequirement{Key: key, Operator: corev1.NodeSelectorOperator(op)}
	if v, ok := item["values"]; ok && v != nil {
		list, ok := v.([]any)
		if !ok {
			return r, p.errorf(path+".values", "is a %T, not a list", v)
		}
		for j, s := range list {
			str, ok := s.(string)
			if !ok {
				return r, p.errorf(fmt.Sprintf("%s.values[%d]", path, j), "is a %T, not a string", s)
			}
			r.Values = append(r.Values, str)
		}
	}
	// The same checks the pure core makes, so that a pool that parses is
	// one it can use.
	if _, err := newValueSet(r.Operator, r.Values); err != nil {
		return r, p.errorf(path, "%v", err)
	}
	return r, nil
}

func (p poolParser) taints() ([]corev1.Taint, error) {
	items, err := p.objects("spec", "template", "spec", "taints")
	if err != nil {
		return nil, err
	}
	out := make([]corev1.Taint, 0, len(items))
	for i, item := range items {
		path := fmt.Sprintf("spec.template.spec.taints[%d]", i)
		key, _ := item["key"].(string)
		value, _ := item["value"].(string)
		effect, _ := item["effect"].(string)
		if key == "" {
			return nil, p.errorf(path+".key", "must be a non-empty string")
		}
		switch e := corev1.TaintEffect(effect); e {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
			out = append(out, corev1.Taint{Key: key, Value: value, Effect: e})
		default:
			return nil, p.errorf(path+".effect", "%q is not NoSchedule, PreferNoSchedule or NoExecute", effect)
		}
	}
	return out, nil
}

// resourceList reads a map of quantities, written as strings or numbers
// (the CRD's int-or-string).
func (p poolParser) resourceList(path ...string) (corev1.ResourceList, error) {
	v, err := p.field(path...)
	if err != nil || v == nil {
		return nil, err
	}
	where := strings.Join(path, ".")
	m, ok := v.(map[string]any)
	if !ok {
		return nil, p.errorf(where, "is a %T, not a map", v)
	}
	out := make(corev1.ResourceList, len(m))
	for name, raw := range m {
		q, err := quantity(raw)
		if err != nil {
			return nil, p.errorf(where+"."+name, "%v", err)
		}
		out[corev1.ResourceName(name)] = q
	}
	return out, nil
}

func quantity(v any) (resource.Quantity, error) {
	switch x := v.(type) {
	case string:
		return resource.ParseQuantity(x)
	case int64:
		return *resource.NewQuantity(x, resource.DecimalSI), nil
	case float64:
		return resource.ParseQuantity(strconv.FormatFloat(x, 'f', -1, 64))
	}
	return resource.Quantity{}, fmt.Errorf("%v (%T) is not a quantity", v, v)
}

// ready reads the Ready condition of status.conditions.
func (p poolParser) ready() (bool, error) {
	conds, err := p.objects("status", "conditions")
	if err != nil {
		return false, err
	}
	for _, c := range conds {
		if c["type"] == "Ready" {
			return c["status"] == string(corev1.ConditionTrue), nil
		}
	}
	return false, nil
}
