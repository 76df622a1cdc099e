package deploy

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/prescaler/prescaler/config"
)

// The ConfigMap's config is config/example.yaml, which kustomize cannot read
// from outside this folder: a copy that must not drift.
func TestConfigIsTheExample(t *testing.T) {
	got, err := os.ReadFile("base/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, config.Example()) {
		t.Fatal("deploy/base/config.yaml differs from config/example.yaml: cp config/example.yaml deploy/base/config.yaml")
	}
}

func TestRenderBothInstalls(t *testing.T) {
	base := render(t, ".")
	for _, want := range []string{"Namespace/prescaler", "ServiceAccount/prescaler", "ConfigMap/prescaler-config-",
		"ClusterRole/prescaler-capacity", "ClusterRole/prescaler-targets", "ClusterRoleBinding/prescaler-capacity",
		"ClusterRoleBinding/prescaler-targets", "Role/prescaler-leader-election", "RoleBinding/prescaler-leader-election",
		"Deployment/prescaler"} {
		if find(base, want) == nil {
			t.Errorf("the base has no %s", want)
		}
	}
	ns := render(t, "namespaced")
	if find(ns, "ClusterRoleBinding/prescaler-targets") != nil {
		t.Error("the namespaced install still binds prescaler-targets cluster-wide")
	}
	rb := find(ns, "RoleBinding/prescaler-targets")
	if rb == nil || rb.GetNamespace() != "default" {
		t.Fatalf("the namespaced install has no RoleBinding prescaler-targets in default: %v", rb)
	}
	// The RBAC and the informers' scope name the same namespace.
	dep := deployment(t, ns)
	if args := dep.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--namespace="+rb.GetNamespace()) {
		t.Errorf("the namespaced Deployment's args %v lack --namespace=%s", args, rb.GetNamespace())
	}
}

// Deny by omission: no rule grants Secrets, ConfigMaps, wildcards, writes to
// workloads or their scale, or deletes.
func TestRulesAreLeastPrivilege(t *testing.T) {
	for _, dir := range []string{".", "namespaced"} {
		for _, o := range render(t, dir) {
			if o.GetKind() != "ClusterRole" && o.GetKind() != "Role" {
				continue
			}
			var role rbacv1.ClusterRole // a Role's rules decode the same
			fromUnstructured(t, o, &role)
			for _, r := range role.Rules {
				checkRule(t, dir+": "+o.GetKind()+"/"+o.GetName(), r)
			}
		}
	}
}

func checkRule(t *testing.T, where string, r rbacv1.PolicyRule) {
	t.Helper()
	all := slices.Concat(r.APIGroups, r.Resources, r.Verbs)
	if slices.Contains(all, "*") || slices.Contains(r.Verbs, "delete") || slices.Contains(r.Verbs, "deletecollection") {
		t.Errorf("%s: a wildcard or delete in %+v", where, r)
	}
	for _, res := range r.Resources {
		switch {
		case res == "secrets" || res == "configmaps":
			t.Errorf("%s grants %s", where, res)
		case slices.Contains(r.APIGroups, "apps") && res == "deployments/scale" && !slices.Equal(r.Verbs, []string{"get"}):
			t.Errorf("%s: deployments/scale verbs %v, want only get", where, r.Verbs)
		case slices.Contains(r.APIGroups, "apps") && res != "deployments/scale" &&
			slices.ContainsFunc(r.Verbs, func(v string) bool { return v != "list" && v != "watch" }):
			t.Errorf("%s: %s verbs %v, want only list and watch", where, res, r.Verbs)
		}
	}
}

// The Deployment's pod runs non-root, read-only, without capabilities.
func TestDeploymentIsHardened(t *testing.T) {
	dep := deployment(t, render(t, "."))
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	sc := c.SecurityContext
	switch {
	case *dep.Spec.Replicas != 2 || pod.ServiceAccountName != "prescaler":
		t.Errorf("replicas %d serviceAccountName %q", *dep.Spec.Replicas, pod.ServiceAccountName)
	case pod.SecurityContext == nil || !*pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.SeccompProfile == nil ||
		pod.SecurityContext.SeccompProfile.Type != "RuntimeDefault":
		t.Errorf("pod securityContext %+v", pod.SecurityContext)
	case sc == nil || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}):
		t.Errorf("container securityContext %+v", sc)
	case c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.Ports[0].ContainerPort != 8080:
		t.Errorf("probes %+v %+v ports %+v", c.LivenessProbe, c.ReadinessProbe, c.Ports)
	}
	if !strings.HasPrefix(pod.Volumes[0].ConfigMap.Name, "prescaler-config-") {
		t.Errorf("the config volume mounts %q, not the generated ConfigMap", pod.Volumes[0].ConfigMap.Name)
	}
}

func render(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Render(dir)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// find returns the object whose Kind/name starts with id.
func find(objs []*unstructured.Unstructured, id string) *unstructured.Unstructured {
	for _, o := range objs {
		if strings.HasPrefix(o.GetKind()+"/"+o.GetName(), id) {
			return o
		}
	}
	return nil
}

func deployment(t *testing.T, objs []*unstructured.Unstructured) *appsv1.Deployment {
	t.Helper()
	o := find(objs, "Deployment/prescaler")
	if o == nil {
		t.Fatal("no Deployment/prescaler")
	}
	var dep appsv1.Deployment
	fromUnstructured(t, o, &dep)
	return &dep
}

func fromUnstructured(t *testing.T, o *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, into); err != nil {
		t.Fatalf("%s/%s: %v", o.GetKind(), o.GetName(), err)
	}
}
