package writer

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/prescaler/prescaler/scaler"
)

// viewOf builds the view of an object with live values and annotations, the
// way Writer.view does without the cluster reads.
func viewOf(t *testing.T, live string, ann map[string]string, maxReplicas int32) view {
	t.Helper()
	v := view{live: js(t, live), annotations: ann}
	var err error
	if s, ok := ann[AnnotationOriginal]; ok {
		if v.original, err = parseAnnotation(s); err != nil {
			t.Fatal(err)
		}
	}
	if s, ok := ann[AnnotationWritten]; ok {
		if v.written, err = parseAnnotation(s); err != nil {
			t.Fatal(err)
		}
	}
	v.user = userValues(v.live, v.original, v.written)
	b, err := apiBehavior(v.user.behavior())
	if err != nil {
		t.Fatal(err)
	}
	v.UserMinReplicas, v.UserBehavior = deref(v.user.minReplicas()), scalerBehavior(b)
	v.MinReplicas, v.MaxReplicas = deref(v.live.minReplicas()), maxReplicas
	v.UserEdited = v.original != nil && !reflect.DeepEqual(v.user, v.original)
	return v
}

// after returns the live values and annotations an object has once p is applied.
func after(p applyPlan) (string, map[string]string) {
	b, _ := json.Marshal(map[string]any(p.written))
	return string(b), p.annotations
}

func ramp() *scaler.Behavior {
	return &scaler.Behavior{ScaleUp: &scaler.Rules{
		StabilizationWindowSeconds: new(int32(0)),
		SelectPolicy:               scaler.SelectMax,
		Policies:                   []scaler.Policy{{Type: scaler.PercentPolicy, Value: 100, PeriodSeconds: 15}, {Type: scaler.PodsPolicy, Value: 8, PeriodSeconds: 15}},
	}}
}

func TestPlan(t *testing.T) {
	t.Run("first write saves the original and raises the floor", func(t *testing.T) {
		v := viewOf(t, `{"minReplicas":2}`, nil, 10)
		p := plan(v, scaler.Decision{Floor: 5, Reason: scaler.ReasonForecast})
		if p.result.Outcome != OutcomeWritten || p.result.Floor != 5 || p.result.PreviousFloor != 2 || p.result.UserMinReplicas != 2 {
			t.Fatalf("result = %+v", p.result)
		}
		if got, want := p.annotations[AnnotationOriginal], `{"minReplicas":2,"behavior":null}`; got != want {
			t.Errorf("original = %s, want %s", got, want)
		}
		if got, want := p.annotations[AnnotationWritten], `{"minReplicas":5,"behavior":null}`; got != want {
			t.Errorf("written = %s, want %s", got, want)
		}
		if p.result.BehaviorChanged {
			t.Error("no behavior was due, none was changed")
		}

		// The same decision on the object as written is a no-op.
		live, ann := after(p)
		again := plan(viewOf(t, live, ann, 10), scaler.Decision{Floor: 5})
		if again.result.Outcome != OutcomeUnchanged {
			t.Errorf("second identical apply: outcome %s, want unchanged", again.result.Outcome)
		}
		// A lower floor is a write, and the original never takes prescaler's value.
		lower := plan(viewOf(t, live, ann, 10), scaler.Decision{Floor: 3})
		if lower.result.Outcome != OutcomeWritten || lower.annotations[AnnotationOriginal] != p.annotations[AnnotationOriginal] {
			t.Errorf("lowering: %+v, original %s", lower.result, lower.annotations[AnnotationOriginal])
		}
	})

	t.Run("the floor never goes below the user's nor above maxReplicas", func(t *testing.T) {
		v := viewOf(t, `{"minReplicas":3}`, nil, 8)
		if got := plan(v, scaler.Decision{Floor: 1}).result.Floor; got != 3 {
			t.Errorf("floor below the user's: wrote %d, want 3", got)
		}
		if got := plan(v, scaler.Decision{Floor: 20}).result.Floor; got != 8 {
			t.Errorf("floor above maxReplicas: wrote %d, want 8", got)
		}
	})

	t.Run("a hand edit becomes the user floor", func(t *testing.T) {
		ann := map[string]string{AnnotationOriginal: `{"minReplicas":2,"behavior":null}`, AnnotationWritten: `{"minReplicas":5,"behavior":null}`}
		v := viewOf(t, `{"minReplicas":7}`, ann, 10)
		if !v.UserEdited || v.UserMinReplicas != 7 {
			t.Fatalf("view: edited %v, user floor %d; want true, 7", v.UserEdited, v.UserMinReplicas)
		}
		p := plan(v, scaler.Decision{Floor: 5}) // decided before the edit was seen
		if p.result.Floor != 7 || !p.result.UserEdited {
			t.Errorf("result = %+v, want floor 7 and UserEdited", p.result)
		}
		if got, want := p.annotations[AnnotationOriginal], `{"minReplicas":7,"behavior":null}`; got != want {
			t.Errorf("original = %s, want %s", got, want)
		}
	})

	t.Run("a ramp opens the behavior, then the user's unset one comes back", func(t *testing.T) {
		v := viewOf(t, `{"minReplicas":2}`, nil, 10)
		p := plan(v, scaler.Decision{Floor: 4, Behavior: ramp()})
		if !p.result.BehaviorChanged || p.written.behavior() == nil {
			t.Fatalf("ramp not written: %+v", p.result)
		}
		live, ann := after(p)
		if again := plan(viewOf(t, live, ann, 10), scaler.Decision{Floor: 4, Behavior: ramp()}); again.result.Outcome != OutcomeUnchanged {
			t.Errorf("same ramp again: %s, want unchanged", again.result.Outcome)
		}
		back := plan(viewOf(t, live, ann, 10), scaler.Decision{Floor: 4})
		if back.written.behavior() != nil || !back.result.BehaviorChanged {
			t.Errorf("after the ramp: written behavior %v, changed %v; want none, true", back.written.behavior(), back.result.BehaviorChanged)
		}
		if got := back.annotations[AnnotationWritten]; !strings.Contains(got, `"behavior":null`) {
			t.Errorf("written = %s", got)
		}
	})

	t.Run("a nil decision behavior keeps the user's own", func(t *testing.T) {
		user := `{"scaleDown":{"stabilizationWindowSeconds":600,"selectPolicy":"Min","policies":[{"type":"Pods","value":1,"periodSeconds":60}]},` +
			`"scaleUp":{"stabilizationWindowSeconds":0,"selectPolicy":"Max","policies":[{"type":"Pods","value":4,"periodSeconds":15}]}}`
		v := viewOf(t, `{"minReplicas":2,"behavior":`+user+`}`, nil, 10)
		p := plan(v, scaler.Decision{Floor: 2})
		if !reflect.DeepEqual(p.written.behavior(), js(t, user)) || p.result.BehaviorChanged {
			t.Errorf("written behavior %v (changed %v), want the user's %s", p.written.behavior(), p.result.BehaviorChanged, user)
		}
	})

	t.Run("a behavior edited by hand is written as edited, not the decision's", func(t *testing.T) {
		v := viewOf(t, `{"minReplicas":2}`, nil, 10)
		p := plan(v, scaler.Decision{Floor: 4, Behavior: ramp()})
		live, ann := after(p)
		edited := strings.Replace(live, `"stabilizationWindowSeconds":0`, `"stabilizationWindowSeconds":30`, 1)
		ev := viewOf(t, edited, ann, 10)
		if !ev.UserEdited {
			t.Fatal("edit not seen")
		}
		q := plan(ev, scaler.Decision{Floor: 4, Behavior: ramp()})
		if got := q.written.behavior()["scaleUp"].(map[string]any)["stabilizationWindowSeconds"]; got != 30.0 {
			t.Errorf("scaleUp window written %v, want the user's 30", got)
		}
		if q.result.Outcome != OutcomeWritten { // the original annotation changes
			t.Errorf("outcome %s", q.result.Outcome)
		}
	})
}

func TestPatch(t *testing.T) {
	doc := js(t, `{"metadata":{"annotations":{"a":"1","prescaler.io/original":"x","prescaler.io/written":"y"}},
		"spec":{"minReplicaCount":4,"advanced":{"horizontalPodAutoscalerConfig":{"behavior":{"scaleUp":{}}}}}}`)
	p := newPatch(doc)
	p.set([]string{"spec", "minReplicaCount"}, nil)
	p.set([]string{"spec", "advanced", "horizontalPodAutoscalerConfig", "behavior"}, nil)
	p.remove([]string{"metadata", "annotations", AnnotationOriginal})
	p.remove([]string{"metadata", "annotations", AnnotationWritten})
	p.remove([]string{"metadata", "annotations", "absent"})
	got, _ := p.marshal()
	want := `[{"op":"remove","path":"/spec/minReplicaCount"},{"op":"remove","path":"/spec/advanced"},` +
		`{"op":"remove","path":"/metadata/annotations/prescaler.io~1original"},{"op":"remove","path":"/metadata/annotations/prescaler.io~1written"}]`
	if string(got) != want {
		t.Errorf("patch\n%s\nwant\n%s", got, want)
	}
	if !reflect.DeepEqual(p.doc, js(t, `{"metadata":{"annotations":{"a":"1"}},"spec":{}}`)) {
		t.Errorf("doc after patch = %v", p.doc)
	}

	p = newPatch(js(t, `{"spec":{"minReplicaCount":4}}`))
	p.set([]string{"spec", "advanced", "horizontalPodAutoscalerConfig", "behavior"}, map[string]any{"scaleUp": map[string]any{}})
	got, _ = p.marshal()
	if want := `[{"op":"add","path":"/spec/advanced","value":{"horizontalPodAutoscalerConfig":{"behavior":{"scaleUp":{}}}}}]`; string(got) != want {
		t.Errorf("patch\n%s\nwant\n%s", got, want)
	}
}

func fieldsEntry(t *testing.T, manager string, op metav1.ManagedFieldsOperationType, paths ...fieldpath.Path) metav1.ManagedFieldsEntry {
	t.Helper()
	raw, err := fieldpath.NewSet(paths...).ToJSON()
	if err != nil {
		t.Fatal(err)
	}
	return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, APIVersion: "autoscaling/v2", FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: raw}}
}

func TestReleaseOwnership(t *testing.T) {
	path := fieldpath.MakePathOrDie
	entries := []metav1.ManagedFieldsEntry{
		fieldsEntry(t, "kubectl-client-side-apply", metav1.ManagedFieldsOperationUpdate,
			path("spec", "maxReplicas"), path("spec", "behavior", "scaleDown", "selectPolicy")),
		fieldsEntry(t, FieldManager, metav1.ManagedFieldsOperationApply,
			path("metadata", "annotations", AnnotationOriginal), path("metadata", "annotations", AnnotationWritten),
			path("spec", "minReplicas"), path("spec", "behavior", "scaleDown", "selectPolicy"),
			path("spec", "behavior", "scaleUp", "policies")),
	}
	entries[1].Manager = FieldManager
	final := js(t, `{"spec":{"minReplicas":2,"maxReplicas":10,"behavior":{"scaleDown":{"selectPolicy":"Max"}}}}`)
	now := metav1.Now()
	out, err := releaseOwnership(entries, final, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].Manager != "kubectl-client-side-apply" || out[1].Manager != RestoreFieldManager {
		t.Fatalf("entries = %+v", out)
	}
	got, err := ownedFields(out, RestoreFieldManager)
	if err != nil {
		t.Fatal(err)
	}
	// minReplicas was prescaler's alone; scaleDown.selectPolicy is co-owned
	// and stays with its other owner; scaleUp.policies will not exist.
	if want := []string{".spec.minReplicas"}; !reflect.DeepEqual(got, want) {
		t.Errorf("restore manager owns %v, want %v", got, want)
	}
	if out[1].Operation != metav1.ManagedFieldsOperationUpdate || out[1].APIVersion != "autoscaling/v2" {
		t.Errorf("restore entry = %+v", out[1])
	}
}

// The floor is the user's when another manager owns it on the object beside
// prescaler; not when prescaler owns it alone, when only another manager
// does (prescaler has not written, or a restore released it), when the other
// entry is a subresource's, or when the other manager owns other fields.
func TestUserSetKeys(t *testing.T) {
	path := fieldpath.MakePathOrDie
	hpaMin, soMin := []string{"spec", "minReplicas"}, []string{"spec", "minReplicaCount"}
	prescalerOwns := func(p ...string) metav1.ManagedFieldsEntry {
		parts := make([]any, len(p))
		for i := range p {
			parts[i] = p[i]
		}
		return fieldsEntry(t, FieldManager, metav1.ManagedFieldsOperationApply, path(parts...), path("metadata", "annotations", AnnotationWritten))
	}
	apply, update := metav1.ManagedFieldsOperationApply, metav1.ManagedFieldsOperationUpdate
	statusEntry := fieldsEntry(t, "kube-controller-manager", update, path("spec", "minReplicas"))
	statusEntry.Subresource = "status"
	cases := []struct {
		name    string
		minPath []string
		entries []metav1.ManagedFieldsEntry
		want    []string
	}{
		{"prescaler alone", hpaMin, []metav1.ManagedFieldsEntry{
			fieldsEntry(t, "kubectl", apply, path("spec", "maxReplicas")), prescalerOwns(hpaMin...)}, nil},
		{"applied by the user beside prescaler", hpaMin, []metav1.ManagedFieldsEntry{
			fieldsEntry(t, "kubectl", apply, path("spec", "minReplicas"), path("spec", "maxReplicas")), prescalerOwns(hpaMin...)}, []string{keyMin}},
		{"updated by the user, then written unchanged by prescaler", hpaMin, []metav1.ManagedFieldsEntry{
			fieldsEntry(t, "kubectl-edit", update, path("spec", "minReplicas")), prescalerOwns(hpaMin...)}, []string{keyMin}},
		{"the user's alone: prescaler has not written", hpaMin, []metav1.ManagedFieldsEntry{
			fieldsEntry(t, "kubectl", apply, path("spec", "minReplicas"))}, nil},
		{"a subresource entry is not the user", hpaMin, []metav1.ManagedFieldsEntry{statusEntry, prescalerOwns(hpaMin...)}, nil},
		{"ScaledObject minReplicaCount", soMin, []metav1.ManagedFieldsEntry{
			fieldsEntry(t, "argocd-controller", apply, path("spec", "minReplicaCount")), prescalerOwns(soMin...)}, []string{keyMin}},
		{"ScaledObject: the HPA's path is not the floor", soMin, []metav1.ManagedFieldsEntry{
			fieldsEntry(t, "argocd-controller", apply, path("spec", "minReplicas")), prescalerOwns(soMin...)}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := userSetKeys(tc.entries, tc.minPath)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("userSetKeys = %v, want %v", got, tc.want)
			}
		})
	}
	bad := []metav1.ManagedFieldsEntry{{Manager: "kubectl", FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte("{not json")}}}
	if _, err := userSetKeys(bad, hpaMin); err == nil {
		t.Error("undecodable managedFields: no error")
	}
}
