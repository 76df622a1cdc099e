package adapters

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	"github.com/prescaler/prescaler/collector/capacity"
	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/daemon"
	"github.com/prescaler/prescaler/writer/placeholder"
)

// Placeholders keeps targets' placeholder pods as a Deployment beside the
// workload (see writer/placeholder). It is also the daemon's source of
// the placeholders' Deployments for the sweep, in Namespaces (none: all).
type Placeholders struct {
	Client     *placeholder.Client
	Targets    *ScaleTargets
	Capacity   *capacity.Collector
	Namespaces []string
}

// Keep implements daemon.PlaceholderSink.
func (p Placeholders) Keep(ctx context.Context, t *config.Target, n int32) error {
	name, err := p.Targets.Deployment(ctx, t)
	if err != nil {
		return err
	}
	dep, err := p.Capacity.GetDeployment(t.Namespace, name)
	if err != nil {
		return err
	}
	_, err = p.Client.Apply(ctx, placeholderTarget(t, dep), &dep.Spec.Template, n)
	return err
}

// placeholderTarget describes the placeholders of t's workload dep. The
// workload owns them (not as their controller), so deleting the workload
// deletes them too.
func placeholderTarget(t *config.Target, dep *appsv1.Deployment) placeholder.Target {
	return placeholder.Target{
		Name: t.Name, Namespace: t.Namespace, Workload: dep.Name, WorkloadSelector: dep.Spec.Selector,
		Owner: &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "Deployment", Name: dep.Name, UID: dep.UID,
			BlockOwnerDeletion: ptr.To(false)},
		Image: t.Nodes.Placeholders.Image, PriorityClassName: t.Nodes.Placeholders.PriorityClassName,
	}
}

// Owned implements daemon.PlaceholderSink.
func (p Placeholders) Owned(ctx context.Context) ([]daemon.PlaceholderRef, error) {
	list, err := eachNamespace(p.Namespaces, func(ns string) ([]placeholder.Placeholder, error) { return p.Client.List(ctx, ns) })
	if err != nil {
		return nil, err
	}
	refs := make([]daemon.PlaceholderRef, 0, len(list))
	seen := map[daemon.PlaceholderRef]bool{}
	for _, d := range list {
		ref := daemon.PlaceholderRef{Namespace: d.Namespace, Target: d.Target}
		if !seen[ref] {
			seen[ref] = true
			refs = append(refs, ref)
		}
	}
	return refs, nil
}

// Remove implements daemon.PlaceholderSink.
func (p Placeholders) Remove(ctx context.Context, ref daemon.PlaceholderRef) error {
	return p.Client.Remove(ctx, ref.Namespace, ref.Target)
}

// heldByPlaceholders is the room t's scheduled placeholders hold: each
// holds one replica's, and the real pods take it by preemption, so it is
// room the target has, not room it must ask the pools for.
func heldByPlaceholders(c *capacity.Collector, t *config.Target) (int32, error) {
	if !t.Nodes.Placeholders.Enabled {
		return 0, nil
	}
	return c.ScheduledPods(t.Namespace, labels.SelectorFromSet(placeholder.Labels(t.Name)))
}
