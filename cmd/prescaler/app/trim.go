package app

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// lastApplied is the annotation kubectl apply keeps a copy of the whole
// object in.
const lastApplied = corev1.LastAppliedConfigAnnotation

// trimForCache is the informers' transform: it drops what no reader of the
// caches uses before an object is stored, since the caches hold every pod,
// node and Deployment of the cluster for the process's life.
//
//   - managedFields and kubectl's last-applied copy of pods, nodes,
//     Deployments and LimitRanges (usually the largest part of their
//     metadata). HPAs keep everything: the writer reads their managedFields
//     to tell which fields another manager owns (writer/kinds.go), and
//     discovery their annotations.
//   - of a pod, what only the kubelet uses: volumes, and each container's
//     command, environment, mounts and probes. The capacity estimate reads
//     a pod's requests (containers' resources, overhead, the status'
//     allocated resources), node, ports, labels, affinity and phase; the
//     start-up recorder its conditions, restarts and creation time. The
//     templates the estimate admits come from the Deployments, kept whole.
//   - a node's status.images, the list of every image it holds.
//
// The informer owns the object it passes, so it is changed in place.
func trimForCache(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		trimMeta(&o.ObjectMeta)
		trimPodSpec(&o.Spec)
	case *corev1.Node:
		trimMeta(&o.ObjectMeta)
		o.Status.Images = nil
	case *appsv1.Deployment:
		trimMeta(&o.ObjectMeta)
	case *corev1.LimitRange:
		trimMeta(&o.ObjectMeta)
	}
	return obj, nil
}

func trimMeta(m *metav1.ObjectMeta) {
	m.ManagedFields = nil
	delete(m.Annotations, lastApplied)
}

func trimPodSpec(s *corev1.PodSpec) {
	s.Volumes = nil
	for _, cs := range [][]corev1.Container{s.InitContainers, s.Containers} {
		for i := range cs {
			c := &cs[i]
			c.Command, c.Args, c.WorkingDir = nil, nil, ""
			c.Env, c.EnvFrom = nil, nil
			c.VolumeMounts, c.VolumeDevices = nil, nil
			c.LivenessProbe, c.ReadinessProbe, c.StartupProbe, c.Lifecycle = nil, nil, nil, nil
		}
	}
}
