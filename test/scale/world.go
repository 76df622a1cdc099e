package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/prescaler/prescaler/test/testbed"
)

// namespace holds every Deployment and HPA of the fleet, and the Lease.
const namespace = "scale"

func workloadName(i int) string { return fmt.Sprintf("w-%04d", i) }

// parallel runs f(0..n-1) on workers goroutines and returns the first
// error; the rest still finish, so nothing is left half-created unnoticed.
// The testbed's admin client allows 100 requests per second: a few workers
// reach that, more would only queue in its rate limiter.
func parallel(ctx context.Context, n, workers int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := f(ctx, i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
						cancel()
					}
					mu.Unlock()
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

// addNodes adds kwok GPU nodes in parallel: AddNode waits for each to be
// Ready and untainted (a few seconds, the node lifecycle controller's
// period), and one at a time that would be minutes for a big fleet.
func addNodes(ctx context.Context, env *testbed.Env, count int, gpus int64) error {
	return parallel(ctx, count, 8, func(ctx context.Context, i int) error {
		return env.AddGPUNodes(ctx, gpus, fmt.Sprintf("gpu-%04d", i))
	})
}

// deployment is one GPU workload, built like the testbed's seed: one
// replica, one GPU and one CPU per pod.
func deployment(name string) *appsv1.Deployment {
	one := int32(1)
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
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

// hpa scales the Deployment of the same name between 1 and maxReplicas on
// CPU 70 %. Without metrics-server the HPA controller cannot read CPU, so it
// only enforces the bounds: a floor prescaler writes is what moves replicas.
func hpa(name string, maxReplicas int32) *autoscalingv2.HorizontalPodAutoscaler {
	one, seventy := int32(1), int32(70)
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			MinReplicas:    &one,
			MaxReplicas:    maxReplicas,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &seventy}}}},
		},
	}
}

// createFleet creates the namespace and n Deployments with their HPAs.
func createFleet(ctx context.Context, kube kubernetes.Interface, n int, maxReplicas int32) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating namespace %s: %w", namespace, err)
	}
	return parallel(ctx, n, 8, func(ctx context.Context, i int) error {
		name := workloadName(i)
		if _, err := kube.AppsV1().Deployments(namespace).Create(ctx, deployment(name), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating Deployment %s: %w", name, err)
		}
		if _, err := kube.AutoscalingV2().HorizontalPodAutoscalers(namespace).Create(ctx, hpa(name, maxReplicas), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating HorizontalPodAutoscaler %s: %w", name, err)
		}
		return nil
	})
}

// waitPodsRunning waits until at least n pods of the namespace run on kwok
// nodes, logging progress now and then.
func waitPodsRunning(ctx context.Context, kube kubernetes.Interface, n int, timeout time.Duration, logf func(string, ...any)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	lastLog := time.Now()
	for {
		list, err := kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
		running := 0
		if err == nil {
			for _, p := range list.Items {
				if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
					running++
				}
			}
			if running >= n {
				return nil
			}
		}
		if time.Since(lastLog) > 15*time.Second {
			logf("%d of %d pods Running", running, n)
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("%d of %d pods Running", running, n)
			}
			return fmt.Errorf("waiting for pods: %w", errors.Join(err, ctx.Err()))
		case <-time.After(3 * time.Second):
		}
	}
}
