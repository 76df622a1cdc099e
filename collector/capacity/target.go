package capacity

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Target is the capacity of one scale target: what the daemon passes to
// scaler.Inputs.CapacityReplicas is Replicas().
type Target struct {
	Result
	// Scheduled counts the target's pods bound to a node, neither terminated
	// nor being deleted: they keep their place whatever the estimate says.
	Scheduled int32
	// Pending counts the target's pods not yet bound (and not terminated).
	// They wait for the same free room Result.Copies counts, so a daemon
	// may want to report them; they are not subtracted here.
	Pending int32
}

// Replicas is how many replicas of the target the cluster can run now: its
// scheduled pods plus the copies that fit in the free room.
func (t Target) Replicas() int32 { return t.Scheduled + t.Copies }

// EstimateTarget is Estimate for the pods of namespace/selector, a
// Deployment's pods for instance, with their scheduled and pending counts.
// Pods being deleted are not counted as scheduled: they hold their room
// until they are gone, but the target is losing them.
func EstimateTarget(s Snapshot, namespace string, selector labels.Selector, template *corev1.PodTemplateSpec) (Target, error) {
	res, err := Estimate(s, namespace, template)
	if err != nil {
		return Target{}, err
	}
	t := Target{Result: res}
	for _, p := range s.Pods {
		if p.Namespace != namespace || !selector.Matches(labels.Set(p.Labels)) ||
			p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || p.DeletionTimestamp != nil {
			continue
		}
		if p.Spec.NodeName != "" {
			t.Scheduled++
		} else {
			t.Pending++
		}
	}
	return t, nil
}
