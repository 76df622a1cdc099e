package nodepool

import (
	"fmt"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	schedcorev1 "k8s.io/component-helpers/scheduling/corev1"
)

// Exclusion says why a pool adds no node for a pod, whatever its limits.
type Exclusion string

// Exclusions, in the order they are checked.
const (
	// ExcludedMalformed: the NodePool could not be read (see
	// ErrMalformedNodePool); the others are still counted.
	ExcludedMalformed Exclusion = "Malformed"
	// ExcludedDeleting: the NodePool is being deleted.
	ExcludedDeleting Exclusion = "Deleting"
	// ExcludedStatic: a static NodePool (spec.replicas) adds no node for
	// Pending pods.
	ExcludedStatic Exclusion = "Static"
	// ExcludedNotReady: the NodePool's Ready condition is not True.
	ExcludedNotReady Exclusion = "NotReady"
	// ExcludedTaint: the pool's nodes carry a NoSchedule or NoExecute taint
	// the pod does not tolerate.
	ExcludedTaint Exclusion = "Taint"
	// ExcludedRequirements: the pod's nodeSelector or required node
	// affinity cannot be met by the pool's requirements and labels.
	ExcludedRequirements Exclusion = "Requirements"
)

// newNodeHostname stands for the hostname of a node not yet created: label
// values cannot contain spaces, so no pod can name it. Karpenter gives each
// new NodeClaim such a placeholder hostname requirement, so a pod bound to
// named hosts (kubernetes.io/hostname In [...]) gets no new node.
const newNodeHostname = "<new node>"

// Compatible reports whether Karpenter would add a node from pool for pod,
// and if not, why (a short detail: the taint, or the label that conflicts).
// It checks, as Karpenter's NodeClaim.CanAdd does:
//
//  1. taints: every NoSchedule and NoExecute taint of spec.template.spec.taints
//     is tolerated. PreferNoSchedule taints do not count: Karpenter relaxes
//     them (it adds a toleration when a pod fails to schedule otherwise).
//  2. requirements: the pod's nodeSelector together with one of its
//     required node affinity terms (any: Karpenter tries them in turn) is
//     compatible with the pool's requirements and labels (the rules are in
//     the package comment).
//     Preferred terms do not count: Karpenter relaxes them too.
//
// An Opaque pool takes every pod. Compatible does not check the pool's
// state (see Provisionable).
func Compatible(pool Pool, pod *corev1.Pod) (Exclusion, string) {
	if pool.Opaque {
		return "", ""
	}
	if taint, untolerated := untoleratedTaint(pool.Taints, pod.Spec.Tolerations); untolerated {
		return ExcludedTaint, taint.ToString()
	}
	have, err := poolRequirements(pool)
	if err != nil {
		return ExcludedMalformed, err.Error()
	}
	terms, err := podTerms(pod)
	if err != nil {
		return ExcludedRequirements, err.Error()
	}
	var first string
	for _, want := range terms {
		ok, why := compatible(have, want)
		if ok {
			return "", ""
		}
		if first == "" {
			first = why
		}
	}
	if len(terms) > 1 {
		return ExcludedRequirements, fmt.Sprintf("none of %d node affinity terms fits (first: %s)", len(terms), first)
	}
	return ExcludedRequirements, first
}

// untoleratedTaint returns the first NoSchedule or NoExecute taint the
// tolerations do not tolerate, with the scheduler's own matching; the
// comparison operators (Gt, Lt tolerations) are enabled, as Karpenter
// enables them.
func untoleratedTaint(taints []corev1.Taint, tolerations []corev1.Toleration) (corev1.Taint, bool) {
	return schedcorev1.FindMatchingUntoleratedTaint(logr.Discard(), taints, tolerations,
		func(t *corev1.Taint) bool {
			return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
		}, true)
}

// poolRequirements is what a new node of the pool may be: its requirements,
// its labels, and an unknown hostname.
func poolRequirements(pool Pool) (requirements, error) {
	r := requirements{}
	if err := r.addAll(pool.Requirements); err != nil {
		return nil, fmt.Errorf("pool %s requirement %w", pool.Name, err)
	}
	r.addLabels(pool.Labels)
	r.add(corev1.LabelHostname, valueSet{values: sets.New(newNodeHostname)})
	return r, nil
}

// podTerms returns the alternatives a node must meet for pod: the
// nodeSelector with each required node affinity term, or the nodeSelector
// alone. A term with matchFields (metadata.name) cannot match a node that
// does not exist yet, and an empty term matches no node in the scheduler:
// neither is an alternative. An error says no alternative is left.
func podTerms(pod *corev1.Pod) ([]requirements, error) {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return []requirements{nodeSelector(pod)}, nil
	}
	var out []requirements
	lastErr := fmt.Errorf("required node affinity has no terms")
	for i, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if len(term.MatchFields) > 0 || len(term.MatchExpressions) == 0 {
			lastErr = fmt.Errorf("node affinity term %d selects fields or nothing: no new node matches", i)
			continue
		}
		r := nodeSelector(pod)
		if err := r.addAll(term.MatchExpressions); err != nil {
			lastErr = fmt.Errorf("node affinity term %d: %w", i, err)
			continue
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, lastErr
	}
	return out, nil
}

func nodeSelector(pod *corev1.Pod) requirements {
	r := requirements{}
	r.addLabels(pod.Spec.NodeSelector)
	return r
}

// exclude is why pool adds no node for pod: its state, then Compatible.
func exclude(pool Pool, pod *corev1.Pod) (Exclusion, string) {
	switch {
	case pool.Deleting:
		return ExcludedDeleting, "deletionTimestamp is set"
	case pool.Static:
		return ExcludedStatic, "spec.replicas is set"
	case !pool.Ready:
		return ExcludedNotReady, "condition Ready is not True"
	}
	return Compatible(pool, pod)
}
