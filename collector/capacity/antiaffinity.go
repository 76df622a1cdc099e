package capacity

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// LimitPodAntiAffinity is NodeFit.Limit when required pod anti-affinity
// keyed on the node's hostname bounds the node to one copy (the template
// repels its own pods), or to none (a pod there repels the template, or the
// template repels it).
const LimitPodAntiAffinity = "podAntiAffinity"

// podTerm is one required pod anti-affinity term with topology key
// kubernetes.io/hostname: no two pods it relates on one node.
type podTerm struct {
	namespaces map[string]bool // nil: all namespaces
	selector   labels.Selector
}

func (t podTerm) matches(p *corev1.Pod) bool {
	return (t.namespaces == nil || t.namespaces[p.Namespace]) && t.selector.Matches(labels.Set(p.Labels))
}

// hostnameAntiAffinity returns the pod's required anti-affinity terms keyed
// on kubernetes.io/hostname, the one form the estimate simulates (InterPodAffinity
// filter, per node). partial is true when the pod has other required terms:
// another topology key (zone: a cap per domain, not per node), a namespace
// selector with labels (the namespaces' labels are not in the snapshot), or
// matchLabelKeys (merged at admission from labels a template lacks).
func hostnameAntiAffinity(p *corev1.Pod) (terms []podTerm, partial bool) {
	a := p.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil {
		return nil, false
	}
	for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		if term.TopologyKey != corev1.LabelHostname || len(term.MatchLabelKeys) > 0 || len(term.MismatchLabelKeys) > 0 {
			partial = true
			continue
		}
		t := podTerm{namespaces: map[string]bool{}}
		switch ns := term.NamespaceSelector; {
		case ns != nil && len(ns.MatchLabels) == 0 && len(ns.MatchExpressions) == 0:
			t.namespaces = nil // an empty selector: every namespace
		case ns != nil:
			partial = true
			continue
		case len(term.Namespaces) > 0:
			for _, n := range term.Namespaces {
				t.namespaces[n] = true
			}
		default:
			t.namespaces[p.Namespace] = true
		}
		if term.LabelSelector == nil {
			continue // selects no pod
		}
		sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
		if err != nil {
			partial = true
			continue
		}
		t.selector = sel
		terms = append(terms, t)
	}
	return terms, partial
}

// antiAffinityConflict returns a pod on the node that rules the template out
// by hostname anti-affinity: one its terms select, or one whose own terms
// select it.
func antiAffinityConflict(pod *corev1.Pod, terms []podTerm, onNode []*corev1.Pod) *corev1.Pod {
	for _, other := range onNode {
		for _, t := range terms {
			if t.matches(other) {
				return other
			}
		}
		theirs, _ := hostnameAntiAffinity(other)
		for _, t := range theirs {
			if t.matches(pod) {
				return other
			}
		}
	}
	return nil
}
