package main

import (
	"context"
	"fmt"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"

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

// seed creates the Deployment (one GPU per pod, Ready the start-up time
// after it is bound) and its HPA (min 1, on the per-pod queue depth the demo
// serves through the custom metrics API, with the upstream default
// behavior's shape on the compressed clock's periods).
func (w world) seed(ctx context.Context, kube kubernetes.Interface) error {
	s := testbed.Seed{
		Replicas:       w.replicas,
		MaxReplicas:    w.maxReplicas,
		QueueDepth:     true,
		NoCPU:          !w.cpuMetric,
		PodAnnotations: map[string]string{testbed.PodReadyDelayAnnotation: w.startup.String()},
		Behavior:       w.behavior(),
	}
	return s.Create(ctx, kube)
}

// behavior is the upstream defaults' shape (scale up by 100 % or 4 pods,
// scale down by 100 %) with the compressed clock's periods.
func (w world) behavior() *autoscalingv2.HorizontalPodAutoscalerBehavior {
	period := int32(w.policyPeriod / time.Second)
	zero, down := int32(0), int32(w.downWindow/time.Second)
	maxPolicy := autoscalingv2.MaxChangePolicySelect
	return &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &zero, SelectPolicy: &maxPolicy,
			Policies: []autoscalingv2.HPAScalingPolicy{
				{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: period},
				{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: period},
			}},
		ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &down,
			Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: period}}},
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
