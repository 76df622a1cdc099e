package main

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/prescaler/prescaler/demo/loadgen"
	"github.com/prescaler/prescaler/test/testbed"
)

// The user's world, as in the e2e suite's seed: Deployment ai-inference and
// HorizontalPodAutoscaler inference-hpa in namespace default.
const (
	namespace  = "default"
	deployment = "ai-inference"
	hpaName    = "inference-hpa"
	// queueTarget is the HPA's AverageValue of ai_request_queue_depth.
	queueTarget = 5
)

var appLabels = map[string]string{"app": deployment}

// world describes the Deployment and HPA the demo creates.
type world struct {
	replicas    int32         // the Deployment's replicas at creation
	maxReplicas int32         // the HPA's maxReplicas
	startup     time.Duration // bound → Ready, through kwok's delayed pod-ready stage
	cpuMetric   bool
	// downWindow is the HPA's scale-down stabilization window and
	// policyPeriod the period of its rate policies: the upstream defaults
	// (300 s, 15 s) are hours of trace time on a compressed clock.
	downWindow, policyPeriod time.Duration
}

// seed creates the Deployment (one GPU per pod) and its HPA (min 1, on the
// per-pod queue depth the demo serves through the custom metrics API).
func (w world) seed(ctx context.Context, kube kubernetes.Interface) error {
	if _, err := kube.AppsV1().Deployments(namespace).Create(ctx, w.deployment(), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating Deployment %s: %w", deployment, err)
	}
	if _, err := kube.AutoscalingV2().HorizontalPodAutoscalers(namespace).Create(ctx, w.hpa(), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating HorizontalPodAutoscaler %s: %w", hpaName, err)
	}
	return nil
}

func (w world) deployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: deployment, Namespace: namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: &w.replicas,
			Selector: &metav1.LabelSelector{MatchLabels: appLabels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      appLabels,
					Annotations: map[string]string{testbed.PodReadyDelayAnnotation: w.startup.String()},
				},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "server", Image: "inference:latest",
					Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
						Limits:   corev1.ResourceList{testbed.ResourceGPU: resource.MustParse("1")},
					},
				}}},
			},
		},
	}
}

func (w world) hpa() *autoscalingv2.HorizontalPodAutoscaler {
	one := int32(1)
	metrics := []autoscalingv2.MetricSpec{{
		Type: autoscalingv2.PodsMetricSourceType,
		Pods: &autoscalingv2.PodsMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: loadgen.MetricQueueDepth},
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType,
				AverageValue: resource.NewQuantity(queueTarget, resource.DecimalSI)},
		},
	}}
	if w.cpuMetric {
		seventy := int32(70)
		metrics = append(metrics, autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU,
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &seventy}}})
	}
	period := int32(w.policyPeriod / time.Second)
	zero, down := int32(0), int32(w.downWindow/time.Second)
	maxPolicy := autoscalingv2.MaxChangePolicySelect
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: hpaName, Namespace: namespace},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: deployment},
			MinReplicas:    &one,
			MaxReplicas:    w.maxReplicas,
			Metrics:        metrics,
			// The upstream defaults' shape (scale up by 100 % or 4 pods,
			// scale down by 100 %) on the compressed clock's periods.
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &zero, SelectPolicy: &maxPolicy,
					Policies: []autoscalingv2.HPAScalingPolicy{
						{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: period},
						{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: period},
					}},
				ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &down,
					Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: period}}},
			},
		},
	}
}

// podCounts is the Deployment's pods by state.
type podCounts struct {
	// Ready pods serve; Starting ones are bound to a node (holding a GPU)
	// and loading; Unschedulable ones found no free GPU.
	Ready, Starting, Unschedulable int
}

// Scheduled is the pods holding a GPU.
func (c podCounts) Scheduled() int { return c.Ready + c.Starting }

// pods watches the Deployment's pods through an informer.
type pods struct {
	lister corelisters.PodNamespaceLister
}

// watchPods starts an informer on the Deployment's pods and waits for its
// cache.
func watchPods(ctx context.Context, kube kubernetes.Interface) (*pods, error) {
	f := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = labels.SelectorFromSet(appLabels).String()
		}))
	lister := f.Core().V1().Pods().Lister()
	f.Start(ctx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return nil, fmt.Errorf("pod informer for %v did not sync", typ)
		}
	}
	return &pods{lister: lister.Pods(namespace)}, nil
}

// counts classifies the live pods (terminating ones no longer count).
func (p *pods) counts() podCounts {
	list, _ := p.lister.List(labels.Everything())
	var c podCounts
	for _, pod := range list {
		switch {
		case pod.DeletionTimestamp != nil:
		case podReady(pod):
			c.Ready++
		case pod.Spec.NodeName != "":
			c.Starting++
		default:
			c.Unschedulable++
		}
	}
	return c
}

// ready reports whether the named pod is Ready.
func (p *pods) ready(name string) bool {
	pod, err := p.lister.Get(name)
	return err == nil && pod.DeletionTimestamp == nil && podReady(pod)
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitReady waits until n pods are Ready.
func (p *pods) waitReady(ctx context.Context, n int) error {
	for p.counts().Ready < n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d Ready pods (%+v): %w", n, p.counts(), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}
