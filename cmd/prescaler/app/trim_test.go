package app

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The caches keep what their readers use and lose managedFields and
// kubectl's last-applied copy (but an HPA's, which the writer and
// discovery read), a pod's kubelet-only fields and a node's image list.
func TestTrimForCache(t *testing.T) {
	meta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: "x", Labels: map[string]string{"app": "x"},
			Annotations:   map[string]string{lastApplied: "{...}", "team": "ml"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kube-scheduler"}}}
	}
	gpu := corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}
	pod := &corev1.Pod{ObjectMeta: meta(), Spec: corev1.PodSpec{
		NodeName: "n",
		Volumes:  []corev1.Volume{{Name: "kube-api-access"}},
		Containers: []corev1.Container{{Name: "c", Image: "vllm", Env: []corev1.EnvVar{{Name: "A"}},
			VolumeMounts: []corev1.VolumeMount{{Name: "kube-api-access"}}, ReadinessProbe: &corev1.Probe{},
			Resources: corev1.ResourceRequirements{Requests: gpu},
			Ports:     []corev1.ContainerPort{{HostPort: 8080}}}},
	}, Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady}}}}
	node := &corev1.Node{ObjectMeta: meta(), Status: corev1.NodeStatus{
		Images:      []corev1.ContainerImage{{Names: []string{"vllm:latest"}}},
		Allocatable: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("8")}}}
	dep := &appsv1.Deployment{ObjectMeta: meta(), Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{
		Spec: corev1.PodSpec{Volumes: []corev1.Volume{{Name: "cache"}}}}}}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: meta()}
	for _, obj := range []any{pod, node, dep, hpa} {
		if _, err := trimForCache(obj); err != nil {
			t.Fatal(err)
		}
	}
	for kind, m := range map[string]metav1.ObjectMeta{"pod": pod.ObjectMeta, "node": node.ObjectMeta, "deployment": dep.ObjectMeta} {
		if m.ManagedFields != nil {
			t.Errorf("%s: managedFields kept", kind)
		}
		if _, ok := m.Annotations[lastApplied]; ok || m.Annotations["team"] != "ml" || m.Labels["app"] != "x" {
			t.Errorf("%s: labels %v, annotations %v", kind, m.Labels, m.Annotations)
		}
	}
	if len(hpa.ManagedFields) != 1 || len(hpa.Annotations) != 2 {
		t.Errorf("the HPA was trimmed: %+v", hpa.ObjectMeta)
	}
	c := pod.Spec.Containers[0]
	if pod.Spec.Volumes != nil || c.Env != nil || c.VolumeMounts != nil || c.ReadinessProbe != nil {
		t.Errorf("pod keeps kubelet-only fields: %+v", pod.Spec)
	}
	if pod.Spec.NodeName != "n" || c.Resources.Requests == nil || len(c.Ports) != 1 || len(pod.Status.Conditions) != 1 {
		t.Errorf("pod lost what the readers use: %+v", pod)
	}
	if len(dep.Spec.Template.Spec.Volumes) != 1 {
		t.Errorf("the Deployment's template was trimmed")
	}
	if node.Status.Images != nil || len(node.Status.Allocatable) != 1 {
		t.Errorf("node: images %v, allocatable %v", node.Status.Images, node.Status.Allocatable)
	}
}
