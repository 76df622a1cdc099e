package writer

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"

	autoscalingv2 "k8s.io/api/autoscaling/v2"

	"github.com/prescaler/prescaler/scaler"
)

// Keys of a values map (and of the annotations' JSON): the floor and the
// behavior of the object, whatever their path in it (spec.minReplicas or
// spec.minReplicaCount, spec.behavior or
// spec.advanced.horizontalPodAutoscalerConfig.behavior).
const (
	keyMin      = "minReplicas"
	keyBehavior = "behavior"
)

// Keys of one direction of a behavior that prescaler writes. The others (today
// tolerance) are never applied by prescaler, so they stay the user's.
var ruleKeys = []string{"stabilizationWindowSeconds", "selectPolicy", "policies"}

// values are the floor and behavior of one object as JSON: a missing key is an
// unset field, numbers are float64 as encoding/json decodes them. Keeping the
// user's behavior as JSON rather than as scaler.Behavior means fields prescaler
// does not model (tolerance, and whatever later API versions add) survive a
// round trip through the annotations and are restored verbatim.
type values map[string]any

// minReplicas returns the floor, or nil when it is unset.
func (v values) minReplicas() *int32 {
	f, ok := v[keyMin].(float64)
	if !ok {
		return nil
	}
	n := int32(f)
	return &n
}

// behavior returns the behavior, or nil when it is unset.
func (v values) behavior() map[string]any {
	b, _ := v[keyBehavior].(map[string]any)
	return b
}

// annotationValues is the JSON of the original and written annotations: both
// keys are always present, null meaning unset, so a reader sees at once that
// the user had no behavior.
type annotationValues struct {
	MinReplicas *int32         `json:"minReplicas"`
	Behavior    map[string]any `json:"behavior"`
}

func (v values) annotation() string {
	b, err := json.Marshal(annotationValues{MinReplicas: v.minReplicas(), Behavior: v.behavior()})
	if err != nil { // maps of JSON values always marshal
		panic(fmt.Sprintf("writer: encoding values: %v", err))
	}
	return string(b)
}

// parseAnnotation decodes an original or written annotation.
func parseAnnotation(s string) (values, error) {
	var a annotationValues
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return nil, err
	}
	v := values{}
	if a.MinReplicas != nil {
		v[keyMin] = float64(*a.MinReplicas)
	}
	if a.Behavior != nil {
		v[keyBehavior] = a.Behavior
	}
	return v, nil
}

// userValues is the user's own floor and behavior: the saved original, except
// where the live object no longer shows what prescaler last wrote. Such a field
// was edited by someone else (kubectl edit, a GitOps sync), and its live value
// is the user's new one. Fields prescaler never wrote are the user's as they
// stand. With no original saved (prescaler has not written yet) that is the
// live object itself; with no written annotation, nothing counts as edited.
//
// userSet names the keys whose live value another field manager has set, as
// managedFields show (see userSetKeys), even where it equals what prescaler
// wrote: their live value is the user's too.
func userValues(live, original, written values, userSet ...string) values {
	if original == nil {
		return live
	}
	if written == nil {
		written = live
	}
	out := values(merge3(original, written, live))
	for _, k := range userSet {
		if l, ok := live[k]; ok {
			out[k] = l
		}
	}
	return out
}

// merge3 merges field by field: a field prescaler wrote that still holds what
// it wrote comes from the original; any other field comes from the live object
// (absent if the user deleted it). Nested objects merge recursively; lists
// (the policies, atomic in the API) compare as a whole.
func merge3(orig, written, live map[string]any) map[string]any {
	out := map[string]any{}
	for k := range union(orig, written, live) {
		w, wrote := written[k]
		l, inLive := live[k]
		switch {
		case !wrote:
			if inLive {
				out[k] = l
			}
		case isMap(w) && isMap(l):
			o, _ := orig[k].(map[string]any)
			sub := merge3(o, w.(map[string]any), l.(map[string]any))
			if len(sub) > 0 || (o != nil && len(o) == 0) {
				out[k] = sub
			}
		case inLive && reflect.DeepEqual(l, w):
			if o, ok := orig[k]; ok {
				out[k] = o
			}
		case inLive:
			out[k] = l
		}
	}
	return out
}

// matches reports whether the live object still holds every field of
// written, so applying written again would change nothing.
func matches(live, written map[string]any) bool {
	for k, w := range written {
		l, ok := live[k]
		if !ok {
			return false
		}
		if isMap(w) && isMap(l) {
			if !matches(l.(map[string]any), w.(map[string]any)) {
				return false
			}
			continue
		}
		if !reflect.DeepEqual(l, w) {
			return false
		}
	}
	return true
}

func isMap(v any) bool { _, ok := v.(map[string]any); return ok }

func union(ms ...map[string]any) map[string]struct{} {
	keys := map[string]struct{}{}
	for _, m := range ms {
		for k := range m {
			keys[k] = struct{}{}
		}
	}
	return keys
}

// toJSONMap converts a value to its JSON form (maps, float64, strings…).
func toJSONMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// apiBehavior decodes a behavior's JSON into the API type; nil stays nil.
func apiBehavior(m map[string]any) (*autoscalingv2.HorizontalPodAutoscalerBehavior, error) {
	if m == nil {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out autoscalingv2.HorizontalPodAutoscalerBehavior
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("behavior %s: %w", b, err)
	}
	return &out, nil
}

// scalerBehavior converts the API behavior to the scaler's model. Fields the
// scaler does not model (tolerance) are left out: prescaler never writes them,
// so they stay as the user set them.
func scalerBehavior(b *autoscalingv2.HorizontalPodAutoscalerBehavior) *scaler.Behavior {
	if b == nil {
		return nil
	}
	return &scaler.Behavior{ScaleUp: scalerRules(b.ScaleUp), ScaleDown: scalerRules(b.ScaleDown)}
}

func scalerRules(r *autoscalingv2.HPAScalingRules) *scaler.Rules {
	if r == nil {
		return nil
	}
	out := &scaler.Rules{}
	if r.StabilizationWindowSeconds != nil {
		out.StabilizationWindowSeconds = new(*r.StabilizationWindowSeconds)
	}
	if r.SelectPolicy != nil {
		out.SelectPolicy = scaler.SelectPolicy(*r.SelectPolicy)
	}
	for _, p := range r.Policies {
		out.Policies = append(out.Policies, scaler.Policy{Type: scaler.PolicyType(p.Type), Value: p.Value, PeriodSeconds: p.PeriodSeconds})
	}
	return out
}

// The autoscaling/v2 defaults (k8s.io/kubernetes pkg/apis/autoscaling/v2
// defaults.go): the apiserver fills every unset field of a direction once a
// behavior is set, except the scale-down stabilization window, which the HPA
// controller takes from its --horizontal-pod-autoscaler-downscale-stabilization.
func defaultRules(up bool) autoscalingv2.HPAScalingRules {
	maxPolicy := autoscalingv2.MaxChangePolicySelect
	if up {
		return autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: new(int32(0)),
			SelectPolicy:               &maxPolicy,
			Policies: []autoscalingv2.HPAScalingPolicy{
				{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
				{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
			},
		}
	}
	return autoscalingv2.HPAScalingRules{
		SelectPolicy: &maxPolicy,
		Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
		},
	}
}

// writtenBehavior is the JSON prescaler applies for behavior b: both
// directions with every field prescaler writes filled, from b or else from
// the API defaults. Applying complete rules leaves no field that the
// apiserver defaulted and nobody owns, so when prescaler later stops applying
// a behavior (the user had none) server-side apply prunes all of it and the
// behavior is unset again, not left with defaults.
func writtenBehavior(b *scaler.Behavior) map[string]any {
	if b == nil {
		return nil
	}
	return map[string]any{
		"scaleUp":   writtenRules(b.ScaleUp, defaultRules(true)),
		"scaleDown": writtenRules(b.ScaleDown, defaultRules(false)),
	}
}

func writtenRules(r *scaler.Rules, def autoscalingv2.HPAScalingRules) map[string]any {
	out := def
	if r != nil {
		if r.StabilizationWindowSeconds != nil {
			out.StabilizationWindowSeconds = new(*r.StabilizationWindowSeconds)
		}
		if r.SelectPolicy != "" {
			p := autoscalingv2.ScalingPolicySelect(r.SelectPolicy)
			out.SelectPolicy = &p
		}
		if len(r.Policies) > 0 {
			out.Policies = make([]autoscalingv2.HPAScalingPolicy, len(r.Policies))
			for i, p := range r.Policies {
				out.Policies[i] = autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.HPAScalingPolicyType(p.Type), Value: p.Value, PeriodSeconds: p.PeriodSeconds}
			}
		}
	}
	m, err := toJSONMap(out)
	if err != nil { // a struct of ints and strings always marshals
		panic(fmt.Sprintf("writer: encoding rules: %v", err))
	}
	for k := range m {
		if !slices.Contains(ruleKeys, k) {
			delete(m, k)
		}
	}
	return m
}

// describeBehavior is a behavior for an Event message.
func describeBehavior(m map[string]any) string {
	b, err := apiBehavior(m)
	if err != nil {
		return fmt.Sprintf("%v", m)
	}
	return scalerBehavior(b).String()
}
