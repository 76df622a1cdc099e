package deploy

import (
	"reflect"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// placeholderRule is all that placeholder pods add to the base's RBAC.
var placeholderRule = rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"},
	Verbs: []string{"get", "create", "update", "delete"}}

// deploy/placeholders, applied beside deploy/, adds a PriorityClass the
// placeholders are preempted at and writes to Deployments, nothing else.
func TestPlaceholdersInstall(t *testing.T) {
	objs := render(t, "placeholders")
	if len(objs) != 3 {
		t.Errorf("deploy/placeholders renders %d objects, want a ClusterRole, its binding and a PriorityClass", len(objs))
	}
	var role rbacv1.ClusterRole
	fromUnstructured(t, mustFind(t, objs, "ClusterRole/prescaler-placeholders"), &role)
	if len(role.Rules) != 1 || !reflect.DeepEqual(role.Rules[0], placeholderRule) {
		t.Errorf("prescaler-placeholders rules %+v, want only %+v", role.Rules, placeholderRule)
	}
	var binding rbacv1.ClusterRoleBinding
	fromUnstructured(t, mustFind(t, objs, "ClusterRoleBinding/prescaler-placeholders"), &binding)
	if binding.RoleRef.Name != "prescaler-placeholders" || len(binding.Subjects) != 1 ||
		binding.Subjects[0].Name != "prescaler" || binding.Subjects[0].Namespace != "prescaler" {
		t.Errorf("binding %+v, want prescaler/prescaler bound to prescaler-placeholders", binding)
	}
	checkPriorityClass(t, "deploy/placeholders", objs)
}

// The chart's placeholders.enabled renders the same role and class, and
// nothing without it.
func TestChartPlaceholders(t *testing.T) {
	h := newHelm(t)
	if objs := h.template(t); find(objs, "PriorityClass/") != nil || find(objs, "ClusterRole/prescaler-placeholders") != nil {
		t.Error("placeholders' objects rendered by default")
	}
	objs := h.template(t, "--set", "placeholders.enabled=true")
	var role rbacv1.ClusterRole
	fromUnstructured(t, mustFind(t, objs, "ClusterRole/prescaler-placeholders"), &role)
	if len(role.Rules) != 1 || !reflect.DeepEqual(role.Rules[0], placeholderRule) {
		t.Errorf("chart prescaler-placeholders rules %+v, want only %+v", role.Rules, placeholderRule)
	}
	mustFind(t, objs, "ClusterRoleBinding/prescaler-placeholders")
	checkPriorityClass(t, "the chart", objs)
	scoped := h.template(t, "--set", "placeholders.enabled=true", "--set", "rbac.namespaced=true", "--set", "watchNamespace=default")
	if rb := mustFind(t, scoped, "RoleBinding/prescaler-placeholders"); rb.GetNamespace() != "default" {
		t.Errorf("scoped chart: the placeholders' RoleBinding is in %q, want default", rb.GetNamespace())
	}
}

func checkPriorityClass(t *testing.T, where string, objs []*unstructured.Unstructured) {
	t.Helper()
	var pc schedulingv1.PriorityClass
	fromUnstructured(t, mustFind(t, objs, "PriorityClass/prescaler-placeholder"), &pc)
	if pc.Value != -1 || pc.PreemptionPolicy == nil || string(*pc.PreemptionPolicy) != "Never" || pc.GlobalDefault {
		t.Errorf("%s: PriorityClass value %d, preemption %v, global %v; want -1, Never, false", where, pc.Value, pc.PreemptionPolicy, pc.GlobalDefault)
	}
}
