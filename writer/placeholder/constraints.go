package placeholder

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	resourcehelper "k8s.io/component-helpers/resource"
)

// Requests is what one pod of template requests as kube-scheduler counts
// it, so a placeholder holding it holds exactly the room a real replica
// needs. The template is first defaulted as the API server defaults a pod:
// a container's unset request takes its limit (GPUs are usually written as
// limits only) and unset pod-level requests take the containers' sum or the
// pod-level limit. Then k8s.io/component-helpers/resource.PodRequests, the
// function the scheduler's NodeResourcesFit calls, gives
// max(Σ containers + sidecars, each init container + the sidecars started
// before it), with pod-level requests where set. The pod overhead is left
// out: it comes from the RuntimeClass, which the placeholder keeps, so the
// API server adds the same overhead to the placeholder. Zero amounts are
// dropped. The template is not modified.
func Requests(template *corev1.PodTemplateSpec) corev1.ResourceList {
	pod := &corev1.Pod{Spec: *template.Spec.DeepCopy()}
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range cs {
			fillUnset(&cs[i].Resources.Requests, cs[i].Resources.Limits)
		}
	}
	defaultPodLevelRequests(pod)
	reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{ExcludeOverhead: true})
	for name, q := range reqs {
		if q.IsZero() {
			delete(reqs, name)
		}
	}
	return reqs
}

// fillUnset copies into *dst every entry of src that *dst lacks.
func fillUnset(dst *corev1.ResourceList, src corev1.ResourceList) {
	for name, q := range src {
		if *dst == nil {
			*dst = corev1.ResourceList{}
		}
		if _, ok := (*dst)[name]; !ok {
			(*dst)[name] = q.DeepCopy()
		}
	}
}

// defaultPodLevelRequests defaults pod-level requests as the API server
// does (defaultPodRequests in k8s.io/kubernetes/pkg/apis/core/v1): with
// pod-level limits set, an unset pod-level request of a supported resource
// takes the containers' aggregate request (cpu, memory), else the limit.
func defaultPodLevelRequests(pod *corev1.Pod) {
	r := pod.Spec.Resources
	if r == nil || len(r.Limits) == 0 {
		return
	}
	if r.Requests == nil {
		r.Requests = corev1.ResourceList{}
	}
	aggregate := resourcehelper.AggregateContainerRequests(pod, resourcehelper.PodResourcesOptions{})
	for name, limit := range r.Limits {
		if _, ok := r.Requests[name]; ok || !resourcehelper.IsSupportedPodLevelResource(name) {
			continue
		}
		if q, ok := aggregate[name]; ok && (name == corev1.ResourceCPU || name == corev1.ResourceMemory) {
			r.Requests[name] = q.DeepCopy()
		} else {
			r.Requests[name] = limit.DeepCopy()
		}
	}
}

// constrain gives spec the scheduling constraints of template that decide
// which nodes, and so which node pools, a replica may use:
//
//   - nodeSelector, node affinity (required terms filter nodes, preferred
//     ones steer the choice between pools), tolerations, runtimeClassName
//     (its scheduling rules and overhead) and schedulerName, as they are;
//   - pod affinity, as it is: a replica must go where the pods it follows
//     run, and the placeholder holds room there;
//   - topology spread constraints and pod anti-affinity terms that select
//     the workload's own pods ("one replica per node", "spread over
//     zones") retargeted to the placeholders' own labels, so placeholders
//     keep apart from each other as replicas do. Kept against the
//     workload's labels they would not keep placeholders apart (they carry
//     none of those labels), and an anti-affinity term is symmetric: the
//     placeholder would repel the workload's pods from its whole topology
//     domain. With a zone key that blocks real pods from nodes where no
//     placeholder runs, and preemption cannot lift it, because the
//     scheduler preempts only on the node it places the pod on. Terms that
//     select other pods are kept as they are;
//   - the host ports the template binds, so a placeholder holds a port a
//     replica needs as it holds its GPUs.
//
// Volumes are not copied: a claim cannot be shared with the placeholder.
func constrain(spec *corev1.PodSpec, template *corev1.PodTemplateSpec, namespace string, own map[string]string) {
	src := template.Spec.DeepCopy()
	spec.NodeSelector = src.NodeSelector
	spec.Tolerations = src.Tolerations
	spec.RuntimeClassName = src.RuntimeClassName
	spec.SchedulerName = src.SchedulerName
	ownSelector := &metav1.LabelSelector{MatchLabels: own}
	workload := workloadPods{labels: labels.Set(template.Labels), namespace: namespace}
	for _, c := range src.TopologySpreadConstraints {
		if workload.selectedBy(c.LabelSelector, nil, nil) {
			c.LabelSelector, c.MatchLabelKeys = ownSelector.DeepCopy(), nil
		}
		spec.TopologySpreadConstraints = append(spec.TopologySpreadConstraints, c)
	}
	if a := src.Affinity; a != nil {
		spec.Affinity = &corev1.Affinity{
			NodeAffinity:    a.NodeAffinity,
			PodAffinity:     a.PodAffinity,
			PodAntiAffinity: workload.retarget(a.PodAntiAffinity, ownSelector),
		}
	}
}

// workloadPods describes the pods of the workload: their labels and namespace.
type workloadPods struct {
	labels    labels.Set
	namespace string
}

// selectedBy reports whether a term with this selector and these namespaces
// selects the workload's pods. A namespace selector is taken to include the
// workload's namespace: its labels are not known here, and taking a term
// for the workload's own errs towards keeping placeholders off real pods.
func (w workloadPods) selectedBy(sel *metav1.LabelSelector, namespaces []string, nsSelector *metav1.LabelSelector) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || !s.Matches(w.labels) {
		return false
	}
	return (len(namespaces) == 0 && nsSelector == nil) || slices.Contains(namespaces, w.namespace) || nsSelector != nil
}

// retarget returns anti with the terms that select the workload's pods
// pointed at the placeholders' own (see constrain).
func (w workloadPods) retarget(anti *corev1.PodAntiAffinity, own *metav1.LabelSelector) *corev1.PodAntiAffinity {
	if anti == nil {
		return nil
	}
	out := &corev1.PodAntiAffinity{}
	for _, term := range anti.RequiredDuringSchedulingIgnoredDuringExecution {
		out.RequiredDuringSchedulingIgnoredDuringExecution = append(out.RequiredDuringSchedulingIgnoredDuringExecution, w.retargetTerm(term, own))
	}
	for _, wt := range anti.PreferredDuringSchedulingIgnoredDuringExecution {
		wt.PodAffinityTerm = w.retargetTerm(wt.PodAffinityTerm, own)
		out.PreferredDuringSchedulingIgnoredDuringExecution = append(out.PreferredDuringSchedulingIgnoredDuringExecution, wt)
	}
	return out
}

func (w workloadPods) retargetTerm(term corev1.PodAffinityTerm, own *metav1.LabelSelector) corev1.PodAffinityTerm {
	if !w.selectedBy(term.LabelSelector, term.Namespaces, term.NamespaceSelector) {
		return term
	}
	// The placeholders live in the workload's namespace: no namespaces
	// means that one. matchLabelKeys name the workload's labels, which
	// placeholders do not carry.
	return corev1.PodAffinityTerm{LabelSelector: own.DeepCopy(), TopologyKey: term.TopologyKey}
}

// hostPorts returns the host ports the template's containers bind, as
// ports of the placeholder container. A hostNetwork pod binds its
// containerPorts on the host, as the API server's defaulting says.
func hostPorts(template *corev1.PodTemplateSpec) []corev1.ContainerPort {
	var ports []corev1.ContainerPort
	for _, c := range template.Spec.Containers {
		for _, p := range c.Ports {
			host := p.HostPort
			if host == 0 && template.Spec.HostNetwork {
				host = p.ContainerPort
			}
			if host == 0 {
				continue
			}
			protocol := p.Protocol
			if protocol == "" {
				protocol = corev1.ProtocolTCP
			}
			ports = append(ports, corev1.ContainerPort{ContainerPort: host, HostPort: host, HostIP: p.HostIP, Protocol: protocol})
		}
	}
	return ports
}
