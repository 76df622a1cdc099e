package writer

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	autoscalingv2ac "k8s.io/client-go/applyconfigurations/autoscaling/v2"

	"github.com/prescaler/prescaler/config"
)

// scaledObjectGVR is KEDA's ScaledObject resource.
var scaledObjectGVR = schema.GroupVersionResource{Group: "keda.sh", Version: "v1alpha1", Resource: "scaledobjects"}

// KEDA's pause annotations (github.com/kedacore/keda/v2/apis/keda/v1alpha1).
const (
	kedaPaused         = "autoscaling.keda.sh/paused"
	kedaPausedReplicas = "autoscaling.keda.sh/paused-replicas"
)

// kind is what differs between an HPA and a ScaledObject: where the floor
// and the behavior live, and how the object is read and written.
type kind struct {
	minPath, behaviorPath []string
	// get reads the object from the API server; cached from the Cache
	// (nil, nil when the cache does not hold it).
	get    func(ctx context.Context, ref config.ObjectRef) (*object, error)
	cached func(ref config.ObjectRef) (*object, error)
	// apply and patch write the object and return it as written.
	apply       func(ctx context.Context, o *object, v values, ann map[string]string) (metav1.Object, error)
	patch       func(ctx context.Context, o *object, jsonPatch []byte) (metav1.Object, error)
	maxReplicas func(o *object) int32
	// paused reports autoscaling switched off by the object itself
	// (KEDA's pause annotations); "" when it is not.
	paused func(o *object) string
	// scaleTarget is the workload whose replicas the object scales.
	scaleTarget func(o *object) autoscalingv2.CrossVersionObjectReference
	// zeroReplicasDisable: a scale target at 0 replicas switches the
	// autoscaler off (the HPA), rather than being its idle state (KEDA).
	zeroReplicasDisable bool
	// hpaStatus returns the HPA's view (current replicas, ScalingDisabled),
	// used when the scale subresource cannot be read.
	hpaStatus func(o *object) (current int32, disabled bool)
}

// object is one read of an HPA or ScaledObject.
type object struct {
	ref           config.ObjectRef
	json          map[string]any // the whole object as JSON
	uid           types.UID
	rv            string
	generation    int64
	annotations   map[string]string
	managedFields []metav1.ManagedFieldsEntry
	event         runtime.Object // what Events are recorded on
}

func newObject(ref config.ObjectRef, obj metav1.Object, event runtime.Object, raw any) (*object, error) {
	doc, err := toJSONMap(raw)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	return &object{
		ref: ref, json: doc, uid: obj.GetUID(), rv: obj.GetResourceVersion(), generation: obj.GetGeneration(),
		annotations: obj.GetAnnotations(), managedFields: obj.GetManagedFields(), event: event,
	}, nil
}

// values are the object's floor and behavior now.
func (o *object) values(k *kind) values {
	v := values{}
	if x, ok := lookup(o.json, k.minPath); ok && x != nil {
		v[keyMin] = x
	}
	if x, ok := lookup(o.json, k.behaviorPath); ok && x != nil {
		v[keyBehavior] = x
	}
	return v
}

func (o *object) ownedBy(manager string) bool {
	for _, e := range o.managedFields {
		if e.Manager == manager {
			return true
		}
	}
	return false
}

func (w *Writer) kindOf(ref config.ObjectRef) (*kind, error) {
	switch ref.Kind {
	case config.KindHPA:
		return w.hpaKind(), nil
	case config.KindScaledObject:
		return w.scaledObjectKind(), nil
	}
	return nil, fmt.Errorf("writer: %s: %w", ref, ErrUnsupportedKind)
}

func notFound(ref config.ObjectRef, err error) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%s: %w", ref, ErrNotFound)
	}
	return err
}

// hpaKind writes autoscaling/v2 HorizontalPodAutoscalers with the typed client
// and apply configurations.
func (w *Writer) hpaKind() *kind {
	return &kind{
		minPath:      []string{"spec", "minReplicas"},
		behaviorPath: []string{"spec", "behavior"},
		get: func(ctx context.Context, ref config.ObjectRef) (*object, error) {
			hpa, err := w.kube.AutoscalingV2().HorizontalPodAutoscalers(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
			if err != nil {
				return nil, notFound(ref, err)
			}
			return hpaObject(ref, hpa)
		},
		cached: func(ref config.ObjectRef) (*object, error) {
			hpa, err := w.cache.HPA(ref.Namespace, ref.Name)
			if hpa == nil || err != nil {
				return nil, err
			}
			return hpaObject(ref, hpa.DeepCopy())
		},
		apply: func(ctx context.Context, o *object, v values, ann map[string]string) (metav1.Object, error) {
			spec := autoscalingv2ac.HorizontalPodAutoscalerSpec().WithMinReplicas(deref(v.minReplicas()))
			if b := v.behavior(); b != nil {
				ac, err := behaviorApplyConfig(b)
				if err != nil {
					return nil, err
				}
				spec.WithBehavior(ac)
			}
			// The uid keeps the apply from creating an object deleted since the
			// read; the resourceVersion makes it fail with a conflict, and be
			// retried on a fresh read, if the object changed since.
			cfg := autoscalingv2ac.HorizontalPodAutoscaler(o.ref.Name, o.ref.Namespace).
				WithUID(o.uid).WithResourceVersion(o.rv).WithAnnotations(ann).WithSpec(spec)
			hpa, err := w.kube.AutoscalingV2().HorizontalPodAutoscalers(o.ref.Namespace).Apply(ctx, cfg,
				metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
			return written(hpa, notFound(o.ref, err))
		},
		patch: func(ctx context.Context, o *object, p []byte) (metav1.Object, error) {
			hpa, err := w.kube.AutoscalingV2().HorizontalPodAutoscalers(o.ref.Namespace).Patch(ctx, o.ref.Name, types.JSONPatchType, p,
				metav1.PatchOptions{FieldManager: RestoreFieldManager})
			return written(hpa, notFound(o.ref, err))
		},
		maxReplicas: func(o *object) int32 {
			n, _ := lookupInt(o.json, "spec", "maxReplicas")
			return n
		},
		paused: func(*object) string { return "" },
		scaleTarget: func(o *object) autoscalingv2.CrossVersionObjectReference {
			return crossVersionRef(o.json, "", "")
		},
		zeroReplicasDisable: true,
		hpaStatus: func(o *object) (int32, bool) {
			current, _ := lookupInt(o.json, "status", "currentReplicas")
			conds, _ := lookup(o.json, []string{"status", "conditions"})
			list, _ := conds.([]any)
			for _, c := range list {
				m, _ := c.(map[string]any)
				if m["type"] == string(autoscalingv2.ScalingActive) && m["status"] == "False" && m["reason"] == "ScalingDisabled" {
					return current, true
				}
			}
			return current, false
		},
	}
}

// written is a write's answer as a metav1.Object, nil when it failed.
func written[T metav1.Object](obj T, err error) (metav1.Object, error) {
	if err != nil {
		return nil, err
	}
	return obj, nil
}

// hpaObject is one read of an HPA, which the object owns.
func hpaObject(ref config.ObjectRef, hpa *autoscalingv2.HorizontalPodAutoscaler) (*object, error) {
	// Typed reads come without apiVersion and kind; Events need them.
	hpa.APIVersion, hpa.Kind = autoscalingv2.SchemeGroupVersion.String(), config.KindHPA
	return newObject(ref, hpa, hpa, hpa)
}

// scaledObjectKind writes KEDA ScaledObjects (keda.sh/v1alpha1) with the
// dynamic client. KEDA owns the HPA it generates and rewrites it from the
// ScaledObject, so that HPA is never written.
func (w *Writer) scaledObjectKind() *kind {
	return &kind{
		minPath:      []string{"spec", "minReplicaCount"},
		behaviorPath: []string{"spec", "advanced", "horizontalPodAutoscalerConfig", "behavior"},
		get: func(ctx context.Context, ref config.ObjectRef) (*object, error) {
			u, err := w.dyn.Resource(scaledObjectGVR).Namespace(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
			if err != nil {
				return nil, notFound(ref, err)
			}
			return newObject(ref, u, u, u.Object)
		},
		cached: func(ref config.ObjectRef) (*object, error) {
			u, err := w.cache.ScaledObject(ref.Namespace, ref.Name)
			if u == nil || err != nil {
				return nil, err
			}
			u = u.DeepCopy()
			return newObject(ref, u, u, u.Object)
		},
		apply: func(ctx context.Context, o *object, v values, ann map[string]string) (metav1.Object, error) {
			spec := map[string]any{"minReplicaCount": int64(deref(v.minReplicas()))}
			if b := v.behavior(); b != nil {
				spec["advanced"] = map[string]any{"horizontalPodAutoscalerConfig": map[string]any{"behavior": intsOf(b)}}
			}
			annotations := map[string]any{}
			for k, s := range ann {
				annotations[k] = s
			}
			u := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": scaledObjectGVR.GroupVersion().String(),
				"kind":       config.KindScaledObject,
				"metadata": map[string]any{
					"name": o.ref.Name, "namespace": o.ref.Namespace,
					"uid": string(o.uid), "resourceVersion": o.rv,
					"annotations": annotations,
				},
				"spec": spec,
			}}
			so, err := w.dyn.Resource(scaledObjectGVR).Namespace(o.ref.Namespace).Apply(ctx, o.ref.Name, u,
				metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
			return written(so, notFound(o.ref, err))
		},
		patch: func(ctx context.Context, o *object, p []byte) (metav1.Object, error) {
			so, err := w.dyn.Resource(scaledObjectGVR).Namespace(o.ref.Namespace).Patch(ctx, o.ref.Name, types.JSONPatchType, p,
				metav1.PatchOptions{FieldManager: RestoreFieldManager})
			return written(so, notFound(o.ref, err))
		},
		maxReplicas: func(o *object) int32 {
			if n, ok := lookupInt(o.json, "spec", "maxReplicaCount"); ok {
				return n
			}
			return 100 // KEDA's default
		},
		paused: func(o *object) string {
			if _, ok := o.annotations[kedaPausedReplicas]; ok {
				return "paused by " + kedaPausedReplicas
			}
			if p, err := strconv.ParseBool(o.annotations[kedaPaused]); err == nil && p {
				return "paused by " + kedaPaused
			}
			return ""
		},
		scaleTarget: func(o *object) autoscalingv2.CrossVersionObjectReference {
			return crossVersionRef(o.json, "apps/v1", "Deployment") // KEDA's defaults
		},
		hpaStatus: func(*object) (int32, bool) { return 0, false },
	}
}

// behaviorApplyConfig converts a written behavior (JSON with the fields
// prescaler writes) to its apply configuration.
func behaviorApplyConfig(m map[string]any) (*autoscalingv2ac.HorizontalPodAutoscalerBehaviorApplyConfiguration, error) {
	b, err := apiBehavior(m)
	if err != nil {
		return nil, err
	}
	ac := autoscalingv2ac.HorizontalPodAutoscalerBehavior()
	if b.ScaleUp != nil {
		ac.WithScaleUp(rulesApplyConfig(b.ScaleUp))
	}
	if b.ScaleDown != nil {
		ac.WithScaleDown(rulesApplyConfig(b.ScaleDown))
	}
	return ac, nil
}

func rulesApplyConfig(r *autoscalingv2.HPAScalingRules) *autoscalingv2ac.HPAScalingRulesApplyConfiguration {
	ac := autoscalingv2ac.HPAScalingRules()
	if r.StabilizationWindowSeconds != nil {
		ac.WithStabilizationWindowSeconds(*r.StabilizationWindowSeconds)
	}
	if r.SelectPolicy != nil {
		ac.WithSelectPolicy(*r.SelectPolicy)
	}
	for _, p := range r.Policies {
		ac.WithPolicies(autoscalingv2ac.HPAScalingPolicy().WithType(p.Type).WithValue(p.Value).WithPeriodSeconds(p.PeriodSeconds))
	}
	return ac
}

func crossVersionRef(doc map[string]any, defAPIVersion, defKind string) autoscalingv2.CrossVersionObjectReference {
	ref := autoscalingv2.CrossVersionObjectReference{APIVersion: defAPIVersion, Kind: defKind}
	m, _ := lookup(doc, []string{"spec", "scaleTargetRef"})
	if t, ok := m.(map[string]any); ok {
		for key, dst := range map[string]*string{"apiVersion": &ref.APIVersion, "kind": &ref.Kind, "name": &ref.Name} {
			if s, ok := t[key].(string); ok && s != "" {
				*dst = s
			}
		}
	}
	return ref
}

func lookup(doc map[string]any, path []string) (any, bool) {
	var cur any = doc
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func lookupInt(doc map[string]any, path ...string) (int32, bool) {
	x, ok := lookup(doc, path)
	f, isNum := x.(float64)
	if !ok || !isNum {
		return 0, false
	}
	return int32(f), true
}

// intsOf returns a copy of a JSON value with integral float64s as int64, the
// form unstructured objects hold numbers in.
func intsOf(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = intsOf(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = intsOf(e)
		}
		return out
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
	}
	return v
}

// jsonPatch builds an RFC 6902 patch against a document, keeping doc as
// the document will be once the patch is applied.
type jsonPatch struct {
	doc map[string]any
	ops []map[string]any
}

func newPatch(doc map[string]any) *jsonPatch {
	c, _ := intsOf(doc).(map[string]any) // a deep copy
	return &jsonPatch{doc: c}
}

func pointer(path []string) string {
	s := ""
	for _, p := range path {
		s += "/" + escape(p)
	}
	return s
}

func escape(s string) string {
	out := []rune{}
	for _, r := range s {
		switch r {
		case '~':
			out = append(out, '~', '0')
		case '/':
			out = append(out, '~', '1')
		default:
			out = append(out, r)
		}
	}
	return string(out)
}

// replace sets an existing member (add replaces a member, and creates one
// missing from an existing object).
func (p *jsonPatch) replace(path []string, value any) {
	parent, _ := lookup(p.doc, path[:len(path)-1])
	if m, ok := parent.(map[string]any); ok {
		m[path[len(path)-1]] = value
	}
	p.ops = append(p.ops, map[string]any{"op": "add", "path": pointer(path), "value": value})
}

// set makes path hold value, creating missing parents; a nil value removes
// the path (see remove).
func (p *jsonPatch) set(path []string, value any) {
	if value == nil {
		p.remove(path)
		return
	}
	// The shallowest missing parent is added with the rest nested in it.
	for i := 1; i < len(path); i++ {
		if _, ok := lookup(p.doc, path[:i]); !ok {
			nested := value
			for j := len(path) - 1; j >= i; j-- {
				nested = map[string]any{path[j]: nested}
			}
			p.replace(path[:i], nested)
			return
		}
	}
	p.replace(path, value)
}

// remove deletes path if it exists, with the parents it would leave empty,
// up to the second level (a ScaledObject's
// spec.advanced.horizontalPodAutoscalerConfig holding nothing but the behavior
// goes with it; an annotations map holding nothing but prescaler's too).
func (p *jsonPatch) remove(path []string) {
	if _, ok := lookup(p.doc, path); !ok {
		return
	}
	top := len(path)
	for top > 2 {
		parent, _ := lookup(p.doc, path[:top-1])
		if m, ok := parent.(map[string]any); !ok || len(m) != 1 {
			break
		}
		top--
	}
	path = path[:top]
	parent, _ := lookup(p.doc, path[:len(path)-1])
	delete(parent.(map[string]any), path[len(path)-1])
	p.ops = append(p.ops, map[string]any{"op": "remove", "path": pointer(path)})
}

func (p *jsonPatch) marshal() ([]byte, error) { return json.Marshal(p.ops) }
