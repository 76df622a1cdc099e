package writer

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	appslisters "k8s.io/client-go/listers/apps/v1"
	autoscalinglisters "k8s.io/client-go/listers/autoscaling/v2"
	"k8s.io/client-go/tools/cache"

	"github.com/prescaler/prescaler/config"
)

// Cache serves the writer's reads from informers' caches, so that a loop
// whose decision changes nothing costs the API server no request: the HPA
// controller reads its HPAs the same way. Each method returns the cached
// object, or nil and no error when the cache does not hold it (not yet
// seen, or a kind it does not watch); the writer then asks the API server.
// The objects are the cache's own and are never modified.
//
// A cached object may lag the API server by the watch's delay. Reads that
// only inform (Observe, Announce, ScaleTarget) take it as it is; Apply
// writes with the resourceVersion it read, so a write based on a stale
// read fails with a conflict and is retried on a read from the API server,
// and Restore always reads the API server.
type Cache interface {
	HPA(namespace, name string) (*autoscalingv2.HorizontalPodAutoscaler, error)
	ScaledObject(namespace, name string) (*unstructured.Unstructured, error)
	Deployment(namespace, name string) (*appsv1.Deployment, error)
}

// Listers is a Cache over informers' listers. A nil lister answers nothing
// (the writer reads the API server for that kind).
type Listers struct {
	HPAs          autoscalinglisters.HorizontalPodAutoscalerLister
	ScaledObjects cache.GenericLister
	Deployments   appslisters.DeploymentLister
}

// HPA implements Cache.
func (l Listers) HPA(namespace, name string) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	if l.HPAs == nil {
		return nil, nil
	}
	return cached(l.HPAs.HorizontalPodAutoscalers(namespace).Get(name))
}

// ScaledObject implements Cache.
func (l Listers) ScaledObject(namespace, name string) (*unstructured.Unstructured, error) {
	if l.ScaledObjects == nil {
		return nil, nil
	}
	obj, err := cached(l.ScaledObjects.ByNamespace(namespace).Get(name))
	if obj == nil || err != nil {
		return nil, err
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("ScaledObject cache holds a %T", obj)
	}
	return u, nil
}

// Deployment implements Cache.
func (l Listers) Deployment(namespace, name string) (*appsv1.Deployment, error) {
	if l.Deployments == nil {
		return nil, nil
	}
	return cached(l.Deployments.Deployments(namespace).Get(name))
}

// cached turns a lister's NotFound into "not cached": a lister only knows
// what its watch has delivered, so the API server has the last word.
func cached[T any](obj T, err error) (T, error) {
	var zero T
	if apierrors.IsNotFound(err) {
		return zero, nil
	}
	return obj, err
}

// ErrUnsupportedScaleTarget: the object scales something other than a
// Deployment. prescaler reads the pods of the workload it scales (their
// template's GPU request for the capacity, their start-up times, their
// readiness) through the Deployment, so it decides only for objects that
// scale one; Restore still gives any object back.
var ErrUnsupportedScaleTarget = errors.New("only a Deployment (apps/v1) is supported as the scale target")

// deploymentGroup is the API group of Deployments.
const deploymentGroup = "apps"

// supportedScaleTarget is the one answer to "may prescaler decide for an
// object that scales ref?": yes for a Deployment.
func supportedScaleTarget(owner config.ObjectRef, ref autoscalingv2.CrossVersionObjectReference) error {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return fmt.Errorf("%s: scale target apiVersion %q: %w", owner, ref.APIVersion, err)
	}
	if ref.Kind != "Deployment" || gv.Group != deploymentGroup {
		return fmt.Errorf("%s scales %s %s (%s): %w", owner, ref.Kind, ref.Name, ref.APIVersion, ErrUnsupportedScaleTarget)
	}
	return nil
}

// ScaleTarget returns the name of the Deployment that ref's object scales
// (read from the cache when it holds the object), or
// ErrUnsupportedScaleTarget when it scales anything else.
func (w *Writer) ScaleTarget(ctx context.Context, ref config.ObjectRef) (string, error) {
	k, err := w.kindOf(ref)
	if err != nil {
		return "", err
	}
	o, err := w.read(ctx, k, ref, true)
	if err != nil {
		return "", err
	}
	target := k.scaleTarget(o)
	if err := supportedScaleTarget(ref, target); err != nil {
		return "", err
	}
	return target.Name, nil
}

// read returns the object ref names: from the cache when fromCache and it
// holds the object as recent as prescaler's last write to it, else from the
// API server.
func (w *Writer) read(ctx context.Context, k *kind, ref config.ObjectRef, fromCache bool) (*object, error) {
	if fromCache && w.cache != nil {
		o, err := k.cached(ref)
		if err != nil {
			return nil, err
		}
		if o != nil && w.seenOwnWrite(o) {
			return o, nil
		}
	}
	return k.get(ctx, ref)
}

// writeMark is an object as prescaler last wrote it. Every write prescaler
// makes changes the spec (the floor, the behavior), which raises
// metadata.generation, and the HPA controller's and KEDA's status updates
// do not: a cached object of a lower generation than the mark has not yet
// seen prescaler's last write. Read from such a cache, a loop would plan
// against the floor before it (and take a floor it wants back for one
// already there). resourceVersions cannot be compared for order; the
// generation can.
type writeMark struct {
	uid        types.UID
	generation int64
}

// wrote records obj, the answer of a successful write to ref.
func (w *Writer) wrote(ref config.ObjectRef, obj metav1.Object) {
	if obj != nil {
		w.marks.Store(ref, writeMark{uid: obj.GetUID(), generation: obj.GetGeneration()})
	}
}

// seenOwnWrite reports whether the cached o is at least as recent as
// prescaler's last write to it (or prescaler never wrote to it, or it was
// deleted and recreated since).
func (w *Writer) seenOwnWrite(o *object) bool {
	v, ok := w.marks.Load(o.ref)
	if !ok {
		return true
	}
	mark := v.(writeMark)
	return mark.uid != o.uid || o.generation >= mark.generation
}

// cachedDeploymentReplicas reads a Deployment's replicas from the cache, as
// its scale subresource would give them; ok is false when the cache cannot
// answer.
func (w *Writer) cachedDeploymentReplicas(namespace string, ref autoscalingv2.CrossVersionObjectReference) (scaleReplicas, bool, error) {
	if w.cache == nil || supportedScaleTarget(config.ObjectRef{}, ref) != nil {
		return scaleReplicas{}, false, nil
	}
	d, err := w.cache.Deployment(namespace, ref.Name)
	if err != nil || d == nil {
		return scaleReplicas{}, false, err
	}
	spec := int32(1) // the API's default for an unset spec.replicas
	if d.Spec.Replicas != nil {
		spec = *d.Spec.Replicas
	}
	return scaleReplicas{spec: spec, status: d.Status.Replicas}, true, nil
}
