package deploy

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
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

// installObjects are what both installs hold (Kind/name prefixes), besides
// their binding of prescaler-targets.
var installObjects = []string{"Namespace/prescaler", "ServiceAccount/prescaler", "ConfigMap/prescaler-config-",
	"ClusterRole/prescaler-capacity", "ClusterRole/prescaler-targets", "ClusterRoleBinding/prescaler-capacity",
	"Role/prescaler-leader-election", "RoleBinding/prescaler-leader-election", "Deployment/prescaler",
	"Service/prescaler", "PodDisruptionBudget/prescaler", "NetworkPolicy/prescaler"}

// The privileged node agent is its own install (deploy/agent/), off unless
// applied: neither default install holds any of its objects.
func TestInstallsLeaveTheAgentOut(t *testing.T) {
	for _, dir := range []string{".", "namespaced"} {
		for _, o := range render(t, dir) {
			if o.GetKind() == "DaemonSet" || strings.HasPrefix(o.GetName(), "prescaler-agent") {
				t.Errorf("deploy/%s holds %s/%s: the agent is deploy/agent/, applied only by choice", dir, o.GetKind(), o.GetName())
			}
		}
	}
}

// coreAPIVersions are the API groups every cluster serves: `kubectl apply -k
// deploy/` must work without the Prometheus Operator's CRDs (or KEDA's).
var coreAPIVersions = []string{"v1", "apps/v1", "rbac.authorization.k8s.io/v1", "policy/v1", "networking.k8s.io/v1"}

func TestRenderBothInstalls(t *testing.T) {
	base := render(t, ".")
	for _, want := range append(installObjects, "ClusterRoleBinding/prescaler-targets") {
		if find(base, want) == nil {
			t.Errorf("the base has no %s", want)
		}
	}
	ns := render(t, "namespaced")
	for _, want := range installObjects {
		if find(ns, want) == nil {
			t.Errorf("the namespaced install has no %s", want)
		}
	}
	for dir, objs := range map[string][]*unstructured.Unstructured{".": base, "namespaced": ns} {
		for _, o := range objs {
			if !slices.Contains(coreAPIVersions, o.GetAPIVersion()) {
				t.Errorf("%s: %s/%s is %s, which a cluster may not serve", dir, o.GetKind(), o.GetName(), o.GetAPIVersion())
			}
			if o.GetKind() != "Namespace" && o.GetKind() != "ClusterRole" && o.GetKind() != "ClusterRoleBinding" && o.GetNamespace() == "" {
				t.Errorf("%s: %s/%s has no namespace", dir, o.GetKind(), o.GetName())
			}
		}
	}
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
	checkHardened(t, dep)
	if !strings.HasPrefix(dep.Spec.Template.Spec.Volumes[0].ConfigMap.Name, "prescaler-config-") {
		t.Errorf("the config volume mounts %q, not the generated ConfigMap", dep.Spec.Template.Spec.Volumes[0].ConfigMap.Name)
	}
}

// checkHardened checks the controller's Deployment, from kustomize or the
// chart.
func checkHardened(t *testing.T, dep *appsv1.Deployment) {
	t.Helper()
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
	case sc.Privileged != nil && *sc.Privileged:
		t.Error("the container is privileged")
	}
	if i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "GOMEMLIMIT" }); i < 0 ||
		c.Env[i].ValueFrom == nil || c.Env[i].ValueFrom.ResourceFieldRef == nil ||
		c.Env[i].ValueFrom.ResourceFieldRef.Resource != "limits.memory" || c.Env[i].ValueFrom.ResourceFieldRef.ContainerName != c.Name {
		t.Errorf("GOMEMLIMIT is not the container's memory limit: %+v", c.Env)
	}
	if c.Resources.Limits.Memory().IsZero() {
		t.Error("no memory limit: GOMEMLIMIT would be the node's memory")
	}
}

// The Service, PodDisruptionBudget and NetworkPolicy select the
// controller's pods and never the agent's, and the agent's DaemonSet selects
// only its own.
func TestSelectors(t *testing.T) {
	checkSelectors(t, append(render(t, "."), render(t, "agent")...), "prescaler", "prescaler-agent")
}

func checkSelectors(t *testing.T, objs []*unstructured.Unstructured, name, agentName string) {
	t.Helper()
	dep := deployment(t, objs)
	ds := daemonSet(t, objs, agentName)
	controllerPods, agentPods := labels.Set(dep.Spec.Template.Labels), labels.Set(ds.Spec.Template.Labels)

	var svc corev1.Service
	fromUnstructured(t, mustFind(t, objs, "Service/"+name), &svc)
	var pdb policyv1.PodDisruptionBudget
	fromUnstructured(t, mustFind(t, objs, "PodDisruptionBudget/"+name), &pdb)
	var np networkingv1.NetworkPolicy
	fromUnstructured(t, mustFind(t, objs, "NetworkPolicy/"+name), &np)
	selectors := map[string]labels.Selector{
		"Deployment":          mustSelector(t, dep.Spec.Selector),
		"Service":             labels.SelectorFromSet(svc.Spec.Selector),
		"PodDisruptionBudget": mustSelector(t, pdb.Spec.Selector),
		"NetworkPolicy":       mustSelector(t, &np.Spec.PodSelector),
	}
	for what, sel := range selectors {
		if sel.Empty() || !sel.Matches(controllerPods) || sel.Matches(agentPods) {
			t.Errorf("the %s's selector %q must select the controller's pods %v and not the agent's %v", what, sel, controllerPods, agentPods)
		}
	}
	if sel := mustSelector(t, ds.Spec.Selector); !sel.Matches(agentPods) || sel.Matches(controllerPods) {
		t.Errorf("the DaemonSet's selector %q must select its own pods only", sel)
	}

	// Service: 8080 as http-metrics, onto the container's port.
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http-metrics" || svc.Spec.Ports[0].Port != 8080 ||
		svc.Spec.Ports[0].TargetPort.String() != dep.Spec.Template.Spec.Containers[0].Ports[0].Name {
		t.Errorf("Service ports %+v, want http-metrics 8080 onto the container's port %q", svc.Spec.Ports, dep.Spec.Template.Spec.Containers[0].Ports[0].Name)
	}
	// PodDisruptionBudget: one of the two replicas stays.
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 || pdb.Spec.MaxUnavailable != nil {
		t.Errorf("PodDisruptionBudget minAvailable %v maxUnavailable %v, want minAvailable 1", pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable)
	}
	checkNetworkPolicy(t, &np)
}

// checkNetworkPolicy: ingress to 8080 only; egress to the API server,
// Prometheus and DNS ports only.
func checkNetworkPolicy(t *testing.T, np *networkingv1.NetworkPolicy) {
	t.Helper()
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
		t.Errorf("NetworkPolicy policyTypes %v, want Ingress and Egress (without Egress, egress is not restricted)", np.Spec.PolicyTypes)
	}
	var in []string
	for _, r := range np.Spec.Ingress {
		in = append(in, ports(r.Ports)...)
	}
	if !slices.Equal(in, []string{"TCP/8080"}) {
		t.Errorf("NetworkPolicy ingress ports %v, want only TCP/8080", in)
	}
	var out []string
	for _, r := range np.Spec.Egress {
		if len(r.Ports) == 0 {
			t.Errorf("an egress rule without ports allows everything: %+v", r)
		}
		out = append(out, ports(r.Ports)...)
	}
	slices.Sort(out)
	if want := []string{"TCP/443", "TCP/53", "TCP/6443", "TCP/9090", "UDP/53"}; !slices.Equal(out, want) {
		t.Errorf("NetworkPolicy egress ports %v, want %v", out, want)
	}
}

func ports(ps []networkingv1.NetworkPolicyPort) []string {
	var out []string
	for _, p := range ps {
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		out = append(out, string(proto)+"/"+p.Port.String())
	}
	return out
}

// The NVML agent as docs/agent.md says: GPU nodes only, the GPU taint
// tolerated, no GPU requested, the pod-resources folder read-only, UID 0
// without capabilities, and no API access.
func TestAgentDaemonSet(t *testing.T) {
	objs := render(t, "agent")
	checkAgent(t, objs, "prescaler-agent")
	for _, o := range objs {
		if o.GetKind() != "ClusterRoleBinding" && o.GetKind() != "RoleBinding" {
			continue
		}
		var rb rbacv1.RoleBinding // a ClusterRoleBinding's subjects decode the same
		fromUnstructured(t, o, &rb)
		for _, s := range rb.Subjects {
			if s.Name == "prescaler-agent" {
				t.Errorf("%s/%s binds the agent's ServiceAccount, which needs no RBAC", o.GetKind(), o.GetName())
			}
		}
	}
}

func checkAgent(t *testing.T, objs []*unstructured.Unstructured, name string) {
	t.Helper()
	ds := daemonSet(t, objs, name)
	pod := ds.Spec.Template.Spec
	var sa corev1.ServiceAccount
	fromUnstructured(t, mustFind(t, objs, "ServiceAccount/"+pod.ServiceAccountName), &sa)
	if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken ||
		pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("the agent's ServiceAccount %q or pod mounts a token", pod.ServiceAccountName)
	}
	if pod.NodeSelector["nvidia.com/gpu.present"] != "true" {
		t.Errorf("agent nodeSelector %v, want nvidia.com/gpu.present=true", pod.NodeSelector)
	}
	if !slices.ContainsFunc(pod.Tolerations, func(tl corev1.Toleration) bool {
		return tl.Key == "nvidia.com/gpu" && tl.Operator == corev1.TolerationOpExists && tl.Effect == corev1.TaintEffectNoSchedule
	}) {
		t.Errorf("agent tolerations %+v lack nvidia.com/gpu:NoSchedule", pod.Tolerations)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("agent containers %+v", pod.Containers)
	}
	c := pod.Containers[0]
	if len(c.Args) < 2 || c.Args[0] != "agent" || !slices.Contains(c.Args, "--listen=:9400") || c.Ports[0].ContainerPort != 9400 {
		t.Errorf("agent args %v ports %+v, want agent --listen=:9400", c.Args, c.Ports)
	}
	for _, rl := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
		for r := range rl {
			if strings.HasPrefix(string(r), "nvidia.com/") {
				t.Errorf("the agent requests %s: it would take a GPU from workloads", r)
			}
		}
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if env["NVIDIA_VISIBLE_DEVICES"].Value != "all" || env["NVIDIA_DRIVER_CAPABILITIES"].Value != "utility" ||
		env["NODE_NAME"].ValueFrom == nil || env["NODE_NAME"].ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("agent env %+v", c.Env)
	}
	const dir = "/var/lib/kubelet/pod-resources"
	if len(pod.Volumes) != 1 || pod.Volumes[0].HostPath == nil || pod.Volumes[0].HostPath.Path != dir ||
		len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != dir || !c.VolumeMounts[0].ReadOnly {
		t.Errorf("agent volumes %+v mounts %+v, want the host's %s read-only", pod.Volumes, c.VolumeMounts, dir)
	}
	psc, sc := pod.SecurityContext, c.SecurityContext
	switch {
	case psc == nil || psc.RunAsUser == nil || *psc.RunAsUser != 0 || psc.SeccompProfile == nil || psc.SeccompProfile.Type != "RuntimeDefault":
		t.Errorf("agent pod securityContext %+v, want UID 0 (the socket is root-only) and RuntimeDefault seccomp", psc)
	case sc == nil || (sc.Privileged != nil && *sc.Privileged) || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.Capabilities == nil ||
		!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("agent container securityContext %+v", sc)
	case pod.HostNetwork || pod.HostPID || pod.HostIPC:
		t.Error("the agent shares a host namespace")
	case c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz":
		t.Errorf("agent liveness probe %+v", c.LivenessProbe)
	}
}

// deploy/monitoring's ServiceMonitor scrapes the Service's http-metrics port
// and its PodMonitor the agents' metrics port, keeping their pod labels.
func TestMonitoring(t *testing.T) {
	checkMonitors(t, append(render(t, "."), render(t, "agent")...), render(t, "monitoring"), "prescaler", "prescaler-agent")
}

func checkMonitors(t *testing.T, install, monitors []*unstructured.Unstructured, name, agentName string) {
	t.Helper()
	svc := mustFind(t, install, "Service/"+name)
	sm := mustFind(t, monitors, "ServiceMonitor/"+name)
	if sm.GetAPIVersion() != "monitoring.coreos.com/v1" || sm.GetNamespace() != svc.GetNamespace() {
		t.Errorf("ServiceMonitor %s in %q, want monitoring.coreos.com/v1 in the Service's namespace %q", sm.GetAPIVersion(), sm.GetNamespace(), svc.GetNamespace())
	}
	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	if len(sel) == 0 || !labels.SelectorFromSet(sel).Matches(labels.Set(svc.GetLabels())) {
		t.Errorf("the ServiceMonitor's selector %v does not select the Service's labels %v", sel, svc.GetLabels())
	}
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(eps) != 1 || eps[0].(map[string]any)["port"] != "http-metrics" {
		t.Errorf("ServiceMonitor endpoints %v, want port http-metrics", eps)
	}

	ds := daemonSet(t, install, agentName)
	pm := mustFind(t, monitors, "PodMonitor/"+agentName)
	sel, _, _ = unstructured.NestedStringMap(pm.Object, "spec", "selector", "matchLabels")
	if len(sel) == 0 || !labels.SelectorFromSet(sel).Matches(labels.Set(ds.Spec.Template.Labels)) {
		t.Errorf("the PodMonitor's selector %v does not select the agent's pods %v", sel, ds.Spec.Template.Labels)
	}
	pes, _, _ := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints")
	if len(pes) != 1 || pes[0].(map[string]any)["port"] != ds.Spec.Template.Spec.Containers[0].Ports[0].Name ||
		pes[0].(map[string]any)["honorLabels"] != true {
		t.Errorf("PodMonitor endpoints %v, want the agent's port with honorLabels (docs/agent.md)", pes)
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

func mustFind(t *testing.T, objs []*unstructured.Unstructured, id string) *unstructured.Unstructured {
	t.Helper()
	o := find(objs, id)
	if o == nil {
		t.Fatalf("no %s", id)
	}
	return o
}

func daemonSet(t *testing.T, objs []*unstructured.Unstructured, name string) *appsv1.DaemonSet {
	t.Helper()
	var ds appsv1.DaemonSet
	fromUnstructured(t, mustFind(t, objs, "DaemonSet/"+name), &ds)
	return &ds
}

func mustSelector(t *testing.T, ls *metav1.LabelSelector) labels.Selector {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		t.Fatal(err)
	}
	return sel
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
