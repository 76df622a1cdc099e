package testbed

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// podCompleteStageFile is kwok's "fast" stage that completes a Job's pods
// as soon as they run (left out by Options.JobPodsKeepRunning).
const podCompleteStageFile = "pod-fast-pod-complete.yaml"

// CompletePod ends a Running pod's containers with exitCode, as the
// kubelet reports a finished container: phase Succeeded for 0, Failed
// otherwise. A Job's controller then counts it.
func CompletePod(ctx context.Context, kube kubernetes.Interface, namespace, name string, exitCode int32) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod, err := kube.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.NewTime(time.Now())
		phase, reason := corev1.PodSucceeded, "Completed"
		if exitCode != 0 {
			phase, reason = corev1.PodFailed, "Error"
		}
		statuses := make([]corev1.ContainerStatus, 0, len(pod.Spec.Containers))
		for _, c := range pod.Spec.Containers {
			statuses = append(statuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: exitCode, Reason: reason, StartedAt: pod.CreationTimestamp, FinishedAt: now}}})
		}
		pod.Status.Phase, pod.Status.ContainerStatuses = phase, statuses
		for i, c := range pod.Status.Conditions {
			if c.Type == corev1.PodReady || c.Type == corev1.ContainersReady {
				pod.Status.Conditions[i].Status = corev1.ConditionFalse
			}
		}
		if _, err := kube.CoreV1().Pods(namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("completing pod %s/%s: %w", namespace, name, err)
		}
		return nil
	})
}
