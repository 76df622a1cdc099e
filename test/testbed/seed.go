package testbed

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The seed's names: the world prescaler's example configuration describes.
const (
	SeedNamespace  = "default"
	SeedDeployment = "ai-inference"
	SeedHPA        = "inference-hpa"
	// SeedQueueMetric is the per-pod metric the seed's HPA scales on, served
	// by the Prometheus adapter in the user's cluster and by
	// Options.PodMetrics here.
	SeedQueueMetric = "ai_request_queue_depth"
)

// Seed is the user's world: the ai-inference Deployment (one GPU and one
// CPU per pod, label app=ai-inference) scaled by inference-hpa, in
// namespace default. The zero value is one replica, maxReplicas 20, and an
// HPA on CPU 70 % only.
type Seed struct {
	// Replicas is the Deployment's replicas at creation (default 1).
	Replicas int32
	// MaxReplicas is the HPA's maxReplicas (default 20).
	MaxReplicas int32
	// QueueDepth adds the HPA's Pods metric SeedQueueMetric, AverageValue 5.
	QueueDepth bool
	// NoCPU leaves out the HPA's CPU 70 % metric (without metrics-server its
	// value is unknown, and the HPA controller then never scales down).
	NoCPU bool
	// PodAnnotations go on the pod template (e.g. PodReadyDelayAnnotation).
	PodAnnotations map[string]string
	// Behavior is the HPA's behavior (nil: unset).
	Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior
}

// SeedLabels are the labels of the seed's pods.
func SeedLabels() map[string]string { return map[string]string{"app": SeedDeployment} }

// Deployment is the seed's Deployment.
func (s Seed) Deployment() *appsv1.Deployment {
	replicas := s.Replicas
	if replicas == 0 {
		replicas = 1
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: SeedDeployment, Namespace: SeedNamespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: SeedLabels()},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: SeedLabels(), Annotations: s.PodAnnotations},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "server", Image: "inference:latest",
					Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
						Limits:   corev1.ResourceList{ResourceGPU: resource.MustParse("1")},
					},
				}}},
			},
		},
	}
}

// HPA is the seed's HorizontalPodAutoscaler: minReplicas 1.
func (s Seed) HPA() *autoscalingv2.HorizontalPodAutoscaler {
	one, maxReplicas := int32(1), s.MaxReplicas
	if maxReplicas == 0 {
		maxReplicas = 20
	}
	var metrics []autoscalingv2.MetricSpec
	if s.QueueDepth {
		metrics = append(metrics, autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType,
			Pods: &autoscalingv2.PodsMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: SeedQueueMetric},
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType,
					AverageValue: resource.NewQuantity(5, resource.DecimalSI)}}})
	}
	if !s.NoCPU {
		seventy := int32(70)
		metrics = append(metrics, autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU,
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &seventy}}})
	}
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: SeedHPA, Namespace: SeedNamespace},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: SeedDeployment},
			MinReplicas:    &one,
			MaxReplicas:    maxReplicas,
			Metrics:        metrics,
			Behavior:       s.Behavior,
		},
	}
}

// Create creates the Deployment and the HPA.
func (s Seed) Create(ctx context.Context, kube kubernetes.Interface) error {
	if _, err := kube.AppsV1().Deployments(SeedNamespace).Create(ctx, s.Deployment(), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("seed: creating Deployment %s: %w", SeedDeployment, err)
	}
	if _, err := kube.AutoscalingV2().HorizontalPodAutoscalers(SeedNamespace).Create(ctx, s.HPA(), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("seed: creating HorizontalPodAutoscaler %s: %w", SeedHPA, err)
	}
	return nil
}
