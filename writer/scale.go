package writer

import (
	"context"
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// disabled returns the scale target's replicas and whether autoscaling is off
// for the target, with the reason. An HPA is off while its scale target has 0
// replicas and its minReplicas is not 0: the HPA controller then leaves the
// target alone (condition ScalingActive=False, reason ScalingDisabled) and a
// floor written meanwhile would take effect, unasked, the moment someone
// scales the target up. A ScaledObject at 0 replicas is merely idle (KEDA
// scales it from zero); it is off while paused by KEDA's annotations.
//
// The replicas come from the scale subresource, as the HPA controller reads
// them; when that read fails (RBAC, a missing target) the HPA's own status
// stands in and the failure is logged.
func (w *Writer) disabled(ctx context.Context, k *kind, o *object, minReplicas int32) (current int32, off bool, why string) {
	if why := k.paused(o); why != "" {
		current, _ = w.scaleReplicasOrStatus(ctx, k, o)
		return current, true, why
	}
	spec, err := w.scaleReplicas(ctx, o.ref.Namespace, k.scaleTarget(o))
	if err != nil {
		w.log.Warn("cannot read the scale target; using the HPA status", "namespace", o.ref.Namespace, "kind", o.ref.Kind, "name", o.ref.Name, "error", err)
		current, hpaOff := k.hpaStatus(o)
		if hpaOff {
			return current, true, "the HPA reports ScalingDisabled (its scale target has 0 replicas)"
		}
		return current, false, ""
	}
	if k.zeroReplicasDisable && spec.spec == 0 && minReplicas != 0 {
		return spec.status, true, "the scale target has 0 replicas: the HPA is disabled"
	}
	return spec.status, false, ""
}

func (w *Writer) scaleReplicasOrStatus(ctx context.Context, k *kind, o *object) (int32, error) {
	s, err := w.scaleReplicas(ctx, o.ref.Namespace, k.scaleTarget(o))
	if err != nil {
		current, _ := k.hpaStatus(o)
		return current, err
	}
	return s.status, nil
}

type scaleReplicas struct{ spec, status int32 }

// scaleReplicas reads the scale subresource of a scale target, or the
// Deployment from the cache where it holds it.
func (w *Writer) scaleReplicas(ctx context.Context, namespace string, ref autoscalingv2.CrossVersionObjectReference) (scaleReplicas, error) {
	if s, ok, err := w.cachedDeploymentReplicas(namespace, ref); ok || err != nil {
		return s, err
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return scaleReplicas{}, fmt.Errorf("scale target apiVersion %q: %w", ref.APIVersion, err)
	}
	gk := schema.GroupKind{Group: gv.Group, Kind: ref.Kind}
	m, err := w.mapper.RESTMapping(gk, gv.Version)
	if meta.IsNoMatchError(err) {
		// A kind installed since discovery was cached.
		if r, ok := w.mapper.(meta.ResettableRESTMapper); ok {
			r.Reset()
			m, err = w.mapper.RESTMapping(gk, gv.Version)
		}
	}
	if err != nil {
		return scaleReplicas{}, fmt.Errorf("scale target %s: %w", gk, err)
	}
	u, err := w.dyn.Resource(m.Resource).Namespace(namespace).Get(ctx, ref.Name, metav1.GetOptions{}, "scale")
	if err != nil {
		return scaleReplicas{}, fmt.Errorf("scale of %s %s/%s: %w", ref.Kind, namespace, ref.Name, err)
	}
	spec, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
	status, _, _ := unstructured.NestedInt64(u.Object, "status", "replicas")
	return scaleReplicas{spec: int32(spec), status: int32(status)}, nil
}
