package testbed

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
)

// ResourceGPU is the extended resource the NVIDIA device plugin advertises.
const ResourceGPU corev1.ResourceName = "nvidia.com/gpu"

// kwok manages the nodes that carry this label (and their pods). A label,
// not an annotation: kwok passes a label selector to its watch, so a node
// that loses the label reaches kwok as deleted and kwok forgets it (cancelling
// its pending heartbeat); an annotation is filtered on kwok's side only, and
// a node that loses it would still be heartbeated.
const (
	kwokNodeLabel      = "kwok.x-k8s.io/node"
	kwokNodeLabelValue = "fake"
)

// NodeSpec describes a fake node.
type NodeSpec struct {
	// Name of the node.
	Name string
	// Allocatable resources, also used as capacity: ResourceGPU, MIG
	// profiles ("nvidia.com/mig-1g.10gb"), cpu, memory, pods. cpu, memory and
	// pods default to 32, 256Gi and 110 when absent.
	Allocatable corev1.ResourceList
	// Labels added to the defaults (kwok.x-k8s.io/node=fake, which makes
	// kwok manage the node, type=kwok, kubernetes.io/hostname,
	// kubernetes.io/os, kubernetes.io/arch).
	Labels map[string]string
	// Taints of the node.
	Taints []corev1.Taint
}

// GPUNode returns the spec of a node with gpus whole GPUs.
func GPUNode(name string, gpus int64) NodeSpec {
	return NodeSpec{Name: name, Allocatable: corev1.ResourceList{
		ResourceGPU: *resource.NewQuantity(gpus, resource.DecimalSI),
	}}
}

// AddGPUNodes adds one Ready kwok node per name, each with gpus
// nvidia.com/gpu: the usual GPU pool of a test.
func (e *Env) AddGPUNodes(ctx context.Context, gpus int64, names ...string) error {
	for _, name := range names {
		if _, err := e.AddNode(ctx, GPUNode(name, gpus)); err != nil {
			return err
		}
	}
	return nil
}

// AddNode creates a kwok node and waits until it is Ready and schedulable
// (the node lifecycle controller has removed its not-ready taint).
func (e *Env) AddNode(ctx context.Context, spec NodeSpec) (*corev1.Node, error) {
	if spec.Name == "" {
		return nil, fmt.Errorf("testbed: NodeSpec.Name is empty")
	}
	alloc := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	maps.Copy(alloc, spec.Allocatable)
	labels := map[string]string{
		kwokNodeLabel:            kwokNodeLabelValue,
		"type":                   "kwok",
		"kubernetes.io/hostname": spec.Name,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     "amd64",
	}
	maps.Copy(labels, spec.Labels)
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:   spec.Name,
			Labels: labels,
		},
		Spec: corev1.NodeSpec{Taints: spec.Taints},
		// kwok's node-initialize stage keeps allocatable and capacity as
		// given and fills in conditions, addresses and nodeInfo.
		Status: corev1.NodeStatus{Allocatable: alloc, Capacity: alloc},
	}
	if _, err := e.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("testbed: creating node %s: %w", spec.Name, err)
	}
	return e.waitNode(ctx, spec.Name, "Ready and untainted", func(n *corev1.Node) bool {
		return nodeReady(n) == corev1.ConditionTrue && !hasTaint(n, corev1.TaintNodeNotReady) && !hasTaint(n, corev1.TaintNodeUnreachable)
	})
}

// Cordon marks a node unschedulable, like kubectl cordon.
func (e *Env) Cordon(ctx context.Context, name string) error {
	return e.setUnschedulable(ctx, name, true)
}

// Uncordon marks a node schedulable again.
func (e *Env) Uncordon(ctx context.Context, name string) error {
	return e.setUnschedulable(ctx, name, false)
}

func (e *Env) setUnschedulable(ctx context.Context, name string, v bool) error {
	patch := fmt.Appendf(nil, `{"spec":{"unschedulable":%t}}`, v)
	if _, err := e.Client.CoreV1().Nodes().Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("testbed: setting node %s unschedulable=%t: %w", name, v, err)
	}
	return nil
}

// SetNodeReady makes a node NotReady or Ready again.
//
// NotReady: kwok stops managing the node (so its heartbeats stop, as when a
// kubelet dies), its Ready condition is set to False, and SetNodeReady waits
// until the node lifecycle controller has tainted it not-ready (so the
// scheduler avoids it; after tolerationSeconds, 300s by default, its pods are
// evicted). Ready: kwok manages it again, and SetNodeReady waits for
// Ready=True and the taints to go.
func (e *Env) SetNodeReady(ctx context.Context, name string, ready bool) error {
	if ready {
		patch := fmt.Appendf(nil, `{"metadata":{"labels":{%q:%q}}}`, kwokNodeLabel, kwokNodeLabelValue)
		if _, err := e.Client.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("testbed: node %s: %w", name, err)
		}
		_, err := e.waitNode(ctx, name, "Ready and untainted", func(n *corev1.Node) bool {
			return nodeReady(n) == corev1.ConditionTrue && !hasTaint(n, corev1.TaintNodeNotReady) && !hasTaint(n, corev1.TaintNodeUnreachable)
		})
		return err
	}
	patch := fmt.Appendf(nil, `{"metadata":{"labels":{%q:null}}}`, kwokNodeLabel)
	if _, err := e.Client.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("testbed: node %s: %w", name, err)
	}
	// A heartbeat kwok had in flight can still land after the label is gone,
	// so set the condition until it sticks.
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		n, err := e.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if nodeReady(n) == corev1.ConditionFalse && hasTaint(n, corev1.TaintNodeNotReady) {
			return true, nil
		}
		if nodeReady(n) != corev1.ConditionFalse {
			now := metav1.Now()
			cond := corev1.NodeCondition{
				Type: corev1.NodeReady, Status: corev1.ConditionFalse,
				Reason: "KubeletNotReady", Message: "testbed: node made NotReady",
				LastHeartbeatTime: now, LastTransitionTime: now,
			}
			// Conditions merge by type in a strategic merge patch.
			patch, _ := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.NodeCondition{cond}}})
			if _, err := e.Client.CoreV1().Nodes().PatchStatus(ctx, name, patch); err != nil && !apierrors.IsConflict(err) {
				return false, err
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("testbed: making node %s NotReady (condition False and not-ready taint): %w", name, err)
	}
	return nil
}

// DeleteNode deletes a node.
func (e *Env) DeleteNode(ctx context.Context, name string) error {
	if err := e.Client.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("testbed: deleting node %s: %w", name, err)
	}
	return nil
}

// waitNode polls a node until ok holds (timeout: StartTimeout).
func (e *Env) waitNode(ctx context.Context, name, what string, ok func(*corev1.Node) bool) (*corev1.Node, error) {
	var last *corev1.Node
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, e.opts.StartTimeout, true, func(ctx context.Context) (bool, error) {
		n, err := e.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = n
		return ok(n), nil
	})
	if err != nil {
		state := "never seen"
		if last != nil {
			state = fmt.Sprintf("Ready=%s, taints %v", nodeReady(last), last.Spec.Taints)
		}
		return nil, fmt.Errorf("testbed: node %s not %s (%s): %w", name, what, state, err)
	}
	return last, nil
}

func nodeReady(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

func hasTaint(n *corev1.Node, key string) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}
