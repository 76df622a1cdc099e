package placeholder

import (
	"context"
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

// writes lists the verbs of the write actions the fake recorded.
func writes(kube *fake.Clientset) []string {
	var out []string
	for _, a := range kube.Actions() {
		switch a.GetVerb() {
		case "get", "list", "watch":
		default:
			out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
		}
	}
	return out
}

func getPlaceholder(t *testing.T, kube *fake.Clientset) *appsv1.Deployment {
	t.Helper()
	d, err := kube.AppsV1().Deployments("inference").Get(context.Background(), "llm-server-placeholder", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestApply(t *testing.T) {
	ctx := context.Background()
	kube := fake.NewClientset()
	c := New(kube)

	if got, err := c.Apply(ctx, target(), workloadTemplate(), 0); err != nil || got != OutcomeAbsent {
		t.Fatalf("Apply 0 on nothing = %s, %v; want absent", got, err)
	}
	if w := writes(kube); len(w) > 0 {
		t.Fatalf("Apply 0 on nothing wrote %v", w)
	}

	if got, err := c.Apply(ctx, target(), workloadTemplate(), 3); err != nil || got != OutcomeCreated {
		t.Fatalf("first Apply = %s, %v; want created", got, err)
	}
	want, _ := Spec(target(), workloadTemplate(), 3)
	if d := getPlaceholder(t, kube); *d.Spec.Replicas != 3 || d.Annotations[AnnotationSpec] != want.Annotations[AnnotationSpec] {
		t.Fatalf("created replicas %d spec %s", *d.Spec.Replicas, d.Annotations[AnnotationSpec])
	}

	kube.ClearActions()
	if got, err := c.Apply(ctx, target(), workloadTemplate(), 3); err != nil || got != OutcomeUnchanged {
		t.Fatalf("same Apply = %s, %v; want unchanged", got, err)
	}
	if w := writes(kube); len(w) > 0 {
		t.Fatalf("an unchanged Apply wrote %v", w)
	}

	if got, err := c.Apply(ctx, target(), workloadTemplate(), 5); err != nil || got != OutcomeUpdated {
		t.Fatalf("Apply 5 = %s, %v; want updated", got, err)
	}
	if d := getPlaceholder(t, kube); *d.Spec.Replicas != 5 {
		t.Fatalf("replicas %d, want 5", *d.Spec.Replicas)
	}

	twoGPUs := workloadTemplate()
	twoGPUs.Spec.Containers[0].Resources.Limits[gpu] = resource.MustParse("2")
	if got, err := c.Apply(ctx, target(), twoGPUs, 5); err != nil || got != OutcomeUpdated {
		t.Fatalf("Apply with 2 GPUs = %s, %v; want updated", got, err)
	}
	d := getPlaceholder(t, kube)
	if q := d.Spec.Template.Spec.Containers[0].Resources.Requests[gpu]; q.Value() != 2 {
		t.Fatalf("GPU request %s, want 2", q.String())
	}

	kube.ClearActions()
	if got, err := c.Apply(ctx, target(), twoGPUs, 0); err != nil || got != OutcomeUpdated {
		t.Fatalf("Apply 0 = %s, %v; want updated", got, err)
	}
	if d := getPlaceholder(t, kube); *d.Spec.Replicas != 0 {
		t.Fatalf("replicas %d, want 0: kept at 0, not deleted", *d.Spec.Replicas)
	}
	if w := writes(kube); len(w) != 1 || w[0] != "update deployments" {
		t.Fatalf("Apply 0 wrote %v, want one update", w)
	}
}

func TestApplyKeepsOthersObjects(t *testing.T) {
	foreign := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "llm-server-placeholder", Namespace: "inference",
		Labels: map[string]string{"app": "mine"}}}
	otherTarget := foreign.DeepCopy()
	otherTarget.Labels = Labels("other")
	for _, existing := range []*appsv1.Deployment{foreign, otherTarget} {
		kube := fake.NewClientset(existing)
		_, err := New(kube).Apply(context.Background(), target(), workloadTemplate(), 2)
		if !errors.Is(err, ErrNotOwned) {
			t.Fatalf("Apply over %v: err = %v, want ErrNotOwned", existing.Labels, err)
		}
		if !strings.Contains(err.Error(), "inference/llm-server-placeholder") {
			t.Errorf("error %q does not name the object", err)
		}
		if w := writes(kube); len(w) > 0 {
			t.Errorf("Apply over %v wrote %v", existing.Labels, w)
		}
	}
}

func TestApplyRetriesConflicts(t *testing.T) {
	ctx := context.Background()
	kube := fake.NewClientset()
	c := New(kube)
	if _, err := c.Apply(ctx, target(), workloadTemplate(), 1); err != nil {
		t.Fatal(err)
	}
	conflicts := 0
	kube.PrependReactor("update", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts++; conflicts == 1 {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "apps", Resource: "deployments"}, "llm-server-placeholder", errors.New("edited meanwhile"))
		}
		return false, nil, nil
	})
	if got, err := c.Apply(ctx, target(), workloadTemplate(), 4); err != nil || got != OutcomeUpdated {
		t.Fatalf("Apply after a conflict = %s, %v", got, err)
	}
	if conflicts != 2 {
		t.Errorf("%d update attempts, want 2", conflicts)
	}
	if d := getPlaceholder(t, kube); *d.Spec.Replicas != 4 {
		t.Errorf("replicas %d, want 4", *d.Spec.Replicas)
	}
}

func placeholderIn(ns, name, target string) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: Labels(target), UID: types.UID("uid-" + name)},
		Spec:   appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)},
		Status: appsv1.DeploymentStatus{ReadyReplicas: 1}}
}

func TestListAndRemove(t *testing.T) {
	ctx := context.Background()
	notPlaceholder := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "prescaler", Namespace: "prescaler-system",
		Labels: map[string]string{LabelManagedBy: ManagedBy, LabelComponent: "controller"}}}
	kube := fake.NewClientset(
		placeholderIn("inference", "llm-placeholder", "llm"),
		placeholderIn("inference", "embed-placeholder", "embed"),
		placeholderIn("batch", "llm-placeholder", "batch-llm"),
		notPlaceholder,
	)
	c := New(kube)

	all, err := c.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("List(all) = %+v, want the 3 placeholders", all)
	}
	inference, err := c.List(ctx, "inference")
	if err != nil {
		t.Fatal(err)
	}
	if len(inference) != 2 {
		t.Fatalf("List(inference) = %+v, want 2", inference)
	}
	for _, p := range inference {
		if p.Namespace != "inference" || p.Replicas != 2 || p.Ready != 1 || (p.Target != "llm" && p.Target != "embed") {
			t.Errorf("listed %+v", p)
		}
	}

	kube.ClearActions()
	if err := c.Remove(ctx, "inference", "llm"); err != nil {
		t.Fatal(err)
	}
	var deletes []k8stesting.DeleteActionImpl
	for _, a := range kube.Actions() {
		if d, ok := a.(k8stesting.DeleteActionImpl); ok {
			deletes = append(deletes, d)
		}
	}
	if len(deletes) != 1 || deletes[0].Name != "llm-placeholder" || deletes[0].Namespace != "inference" {
		t.Fatalf("deletes = %+v, want inference/llm-placeholder only", deletes)
	}
	opts := deletes[0].DeleteOptions
	if opts.PropagationPolicy == nil || *opts.PropagationPolicy != metav1.DeletePropagationBackground {
		t.Errorf("propagation %v, want Background (the pods go too)", opts.PropagationPolicy)
	}
	if opts.Preconditions == nil || opts.Preconditions.UID == nil || *opts.Preconditions.UID != "uid-llm-placeholder" {
		t.Errorf("preconditions %+v, want the listed uid", opts.Preconditions)
	}
	left, _ := c.List(ctx, "")
	if len(left) != 2 {
		t.Errorf("after Remove: %+v, want embed and batch-llm", left)
	}
	if err := c.Remove(ctx, "inference", "llm"); err != nil {
		t.Errorf("removing nothing: %v", err)
	}
	if err := c.Remove(ctx, "", "llm"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Remove without a namespace: %v, want ErrInvalid", err)
	}
}

func TestRemoveNamesTheObject(t *testing.T) {
	kube := fake.NewClientset(placeholderIn("inference", "llm-placeholder", "llm"))
	kube.PrependReactor("delete", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "llm-placeholder", errors.New("no RBAC"))
	})
	err := New(kube).Remove(context.Background(), "inference", "llm")
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "inference/llm-placeholder") {
		t.Errorf("err = %v, want Forbidden naming inference/llm-placeholder", err)
	}
}

func TestEnsurePriorityClass(t *testing.T) {
	ctx := context.Background()
	existing := func(value int32, policy *corev1.PreemptionPolicy, global bool) *schedulingv1.PriorityClass {
		return &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: DefaultPriorityClassName},
			Value: value, PreemptionPolicy: policy, GlobalDefault: global}
	}
	never, lower := ptr.To(corev1.PreemptNever), ptr.To(corev1.PreemptLowerPriority)
	cases := []struct {
		name     string
		existing *schedulingv1.PriorityClass
		value    int32
		wantErr  string // "" for success
		creates  bool
	}{
		{name: "created when missing", value: -1, creates: true},
		{name: "suitable one kept", existing: existing(-1, never, false), value: -1},
		{name: "another value", existing: existing(-5, never, false), value: -1, wantErr: "value -5, placeholders need -1"},
		{name: "may preempt", existing: existing(-1, lower, false), value: -1, wantErr: "preemptionPolicy PreemptLowerPriority"},
		{name: "policy unset means may preempt", existing: existing(-1, nil, false), value: -1, wantErr: "preemptionPolicy PreemptLowerPriority"},
		{name: "global default", existing: existing(-1, never, true), value: -1, wantErr: "global default"},
		{name: "value not below 0", value: 0, wantErr: "not below 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kube := fake.NewClientset()
			if c.existing != nil {
				kube = fake.NewClientset(c.existing)
			}
			err := New(kube).EnsurePriorityClass(ctx, DefaultPriorityClassName, c.value)
			if c.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if c.wantErr != "" {
				if !errors.Is(err, ErrPriorityClass) || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), DefaultPriorityClassName) {
					t.Fatalf("err = %v, want ErrPriorityClass naming %s and %q", err, DefaultPriorityClassName, c.wantErr)
				}
			}
			w := writes(kube)
			if c.creates != (len(w) == 1 && w[0] == "create priorityclasses") || (!c.creates && len(w) > 0) {
				t.Fatalf("writes %v, creates %v", w, c.creates)
			}
			if c.creates {
				pc, err := kube.SchedulingV1().PriorityClasses().Get(ctx, DefaultPriorityClassName, metav1.GetOptions{})
				if err != nil || pc.Value != -1 || *pc.PreemptionPolicy != corev1.PreemptNever || pc.GlobalDefault {
					t.Fatalf("created %+v, %v", pc, err)
				}
			}
		})
	}
}

// TestEnsurePriorityClassRace: a class created by someone else between the
// read and the create is checked, not taken for an error.
func TestEnsurePriorityClassRace(t *testing.T) {
	kube := fake.NewClientset(PriorityClass(DefaultPriorityClassName, -1))
	gets := 0
	kube.PrependReactor("get", "priorityclasses", func(k8stesting.Action) (bool, runtime.Object, error) {
		if gets++; gets == 1 {
			return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "scheduling.k8s.io", Resource: "priorityclasses"}, DefaultPriorityClassName)
		}
		return false, nil, nil
	})
	if err := New(kube).EnsurePriorityClass(context.Background(), DefaultPriorityClassName, -1); err != nil {
		t.Fatal(err)
	}
	if err := New(kube).EnsurePriorityClass(context.Background(), DefaultPriorityClassName, -2); !errors.Is(err, ErrPriorityClass) {
		t.Fatalf("err = %v, want ErrPriorityClass", err)
	}
}
