package capacity

import (
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	resourcehelper "k8s.io/component-helpers/resource"
)

// ErrUnknownRuntimeClass: the template names a RuntimeClass that does not
// exist, so the RuntimeClass admission plugin would reject its pods.
var ErrUnknownRuntimeClass = errors.New("unknown RuntimeClass")

// admit returns the pod the scheduler would see for a copy of template
// created in namespace: the template is not a Pod, and the API server changes
// a Pod on its way in. It applies, in the API server's order,
//
//  1. Pod defaulting (SetDefaults_Pod): a container's request defaults to its
//     limit. This is the common GPU case: nvidia.com/gpu is usually written as
//     a limit only, and the Deployment's template keeps no request;
//     hostNetwork pods get hostPort = containerPort.
//  2. LimitRanger: a Container LimitRange's default limits and requests fill
//     what the container leaves unset.
//  3. RuntimeClass: the class's pod overhead and its scheduling node
//     selector and tolerations are merged in.
//  4. Pod-level requests default from the pod-level limits and the container
//     requests (PodLevelResources).
//
// The template is not modified.
func admit(template *corev1.PodTemplateSpec, namespace string, limitRanges []*corev1.LimitRange, runtimeClasses []*nodev1.RuntimeClass) (*corev1.Pod, error) {
	pod := &corev1.Pod{ObjectMeta: *template.ObjectMeta.DeepCopy(), Spec: *template.Spec.DeepCopy()}
	pod.Namespace = namespace
	spec := &pod.Spec

	for _, cs := range [][]corev1.Container{spec.Containers, spec.InitContainers} {
		for i := range cs {
			requestsFromLimits(&cs[i].Resources)
			if spec.HostNetwork {
				for j := range cs[i].Ports {
					if cs[i].Ports[j].HostPort == 0 {
						cs[i].Ports[j].HostPort = cs[i].Ports[j].ContainerPort
					}
				}
			}
		}
	}

	for _, lr := range limitRanges {
		if lr.Namespace != namespace {
			continue
		}
		for _, item := range lr.Spec.Limits {
			if item.Type != corev1.LimitTypeContainer {
				continue
			}
			for _, cs := range [][]corev1.Container{spec.Containers, spec.InitContainers} {
				for i := range cs {
					fillUnset(&cs[i].Resources.Limits, item.Default)
					fillUnset(&cs[i].Resources.Requests, item.DefaultRequest)
				}
			}
		}
	}

	if name := spec.RuntimeClassName; name != nil && *name != "" {
		var rc *nodev1.RuntimeClass
		for _, c := range runtimeClasses {
			if c.Name == *name {
				rc = c
				break
			}
		}
		if rc == nil {
			return nil, fmt.Errorf("%w %q", ErrUnknownRuntimeClass, *name)
		}
		if rc.Overhead != nil && spec.Overhead == nil {
			spec.Overhead = rc.Overhead.PodFixed.DeepCopy()
		}
		if s := rc.Scheduling; s != nil {
			for k, v := range s.NodeSelector {
				if spec.NodeSelector == nil {
					spec.NodeSelector = map[string]string{}
				}
				// The admission plugin rejects a pod whose own selector
				// conflicts; keeping the pod's value then matches no more
				// nodes than the merged one would.
				if _, ok := spec.NodeSelector[k]; !ok {
					spec.NodeSelector[k] = v
				}
			}
			spec.Tolerations = append(spec.Tolerations, s.Tolerations...)
		}
	}

	defaultPodLevelRequests(pod)
	return pod, nil
}

// requestsFromLimits sets each unset request to its limit (SetDefaults_Pod).
func requestsFromLimits(r *corev1.ResourceRequirements) {
	fillUnset(&r.Requests, r.Limits)
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

// defaultPodLevelRequests mirrors defaultPodRequests in
// k8s.io/kubernetes/pkg/apis/core/v1: when pod-level limits are set, an unset
// pod-level request of a supported resource defaults to the containers'
// aggregate request (cpu, memory) or else to the pod-level limit.
func defaultPodLevelRequests(pod *corev1.Pod) {
	r := pod.Spec.Resources
	if r == nil || len(r.Limits) == 0 {
		return
	}
	reqs := r.Requests
	if reqs == nil {
		reqs = corev1.ResourceList{}
	}
	for name, q := range resourcehelper.AggregateContainerRequests(pod, resourcehelper.PodResourcesOptions{}) {
		if _, ok := reqs[name]; !ok && (name == corev1.ResourceCPU || name == corev1.ResourceMemory) {
			reqs[name] = q.DeepCopy()
		}
	}
	for name, q := range r.Limits {
		if _, ok := reqs[name]; !ok && resourcehelper.IsSupportedPodLevelResource(name) {
			reqs[name] = q.DeepCopy()
		}
	}
	if len(reqs) > 0 {
		r.Requests = reqs
	}
}

// podRequest is the template copy's effective request, as NodeResourcesFit
// computes it before the pod is bound: the larger of the containers' sum
// (plus restartable sidecar init containers) and the largest init container
// (with the sidecars started before it), pod-level requests where set, plus
// the pod overhead; and one "pods" slot.
func podRequest(pod *corev1.Pod) Resources {
	r := FromList(resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{}))
	r[corev1.ResourcePods] = 1
	return r
}

// boundRequest is what a pod already on a node holds, as the scheduler's
// node cache counts it: with in-place resize, the largest of the spec, the
// allocated and the actuated resources.
func boundRequest(pod *corev1.Pod) Resources {
	r := FromList(resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{
		UseStatusResources: true,
		InPlacePodLevelResourcesVerticalScalingEnabled: true,
	}))
	r[corev1.ResourcePods] = 1
	return r
}

// allocatable is a node's allocatable in scheduler units. A node that lists
// no "pods" allocatable takes none, as in the scheduler.
func allocatable(node *corev1.Node) Resources {
	r := FromList(node.Status.Allocatable)
	if _, ok := r[corev1.ResourcePods]; !ok {
		r[corev1.ResourcePods] = 0
	}
	return r
}
