package deploy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/test/testbed"
)

// chartDir is the Helm chart, relative to this package.
const chartDir = "helm/prescaler"

// fullValues turns every optional part on: the namespace-scoped RBAC, the
// agent, the monitors, the alerts and the dashboard.
func fullValues() []string {
	return []string{"--set", "rbac.namespaced=true", "--set", "watchNamespace=default",
		"--set", "agent.enabled=true", "--set", "serviceMonitor.enabled=true",
		"--set", "prometheusRule.enabled=true", "--set", "grafanaDashboard.enabled=true"}
}

// values.yaml's config is config/example.yaml, whose comments it keeps; the
// two must say the same.
func TestChartConfigIsTheExample(t *testing.T) {
	var values, example map[string]any
	if err := k8syaml.Unmarshal([]byte(readFile(t, filepath.Join(chartDir, "values.yaml"))), &values); err != nil {
		t.Fatal(err)
	}
	if err := k8syaml.Unmarshal(config.Example(), &example); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(values["config"], example) {
		t.Fatalf("values.yaml's config differs from config/example.yaml: indent the example under config:\n got  %v\n want %v", values["config"], example)
	}
}

// The chart's alerts and dashboard are deploy/monitoring's (a chart reads
// no file outside its folder, so files/ links to them).
func TestChartFilesAreMonitorings(t *testing.T) {
	for _, name := range []string{"prometheusrule.yaml", "grafana-dashboard.json"} {
		chartFile, file := filepath.Join(chartDir, "files", name), filepath.Join("monitoring", name)
		if got, want := readFile(t, chartFile), readFile(t, file); got != want {
			t.Errorf("%s differs from %s: make it a link: ln -sf ../../../%s %s", chartFile, file, file, chartFile)
		}
	}
}

func TestChartLint(t *testing.T) {
	h := newHelm(t)
	for name, args := range map[string][]string{"defaults": nil, "everything on": fullValues()} {
		t.Run(name, func(t *testing.T) {
			if out, err := h.run(append([]string{"lint", "--strict", chartDir}, args...)...); err != nil {
				t.Fatalf("helm lint --strict: %v\n%s", err, out)
			}
		})
	}
}

// values.schema.json refuses a misspelt knob and a value of the wrong kind,
// naming it, at install time rather than as a chart that silently ignores it.
func TestChartSchemaNamesBadValues(t *testing.T) {
	h := newHelm(t)
	for set, want := range map[string]string{
		"replicass=3":              "additional properties 'replicass' not allowed",
		"image.pullPolicy=Often":   "/image/pullPolicy",
		"service.port=70000":       "/service/port",
		"image.digest=sha256:beef": "/image/digest",
		// The config value is checked against the config's own schema.
		"config.interwal=15s":                    "additional properties 'interwal' not allowed",
		"config.targets[0].mode=dryrun":          "/config/targets/0/mode",
		"config.targets[0].forecast.season=1day": "/config/targets/0/forecast/season",
	} {
		out, err := h.run("template", "prescaler", chartDir, "--set", set)
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("--set %s: err %v, output lacks %q:\n%s", set, err, want, out)
		}
	}
}

// The default chart installs what `kubectl apply -k deploy/` does, but the
// Namespace (helm install --create-namespace makes it).
func TestChartDefaults(t *testing.T) {
	h := newHelm(t)
	objs := h.template(t)
	for _, want := range installObjects {
		switch want {
		case "Namespace/prescaler":
			want = ""
		case "ConfigMap/prescaler-config-":
			want = "ConfigMap/prescaler-config" // reloaded in place: a fixed name
		}
		if want != "" && find(objs, want) == nil {
			t.Errorf("the chart has no %s", want)
		}
	}
	for _, o := range objs {
		if !slices.Contains(coreAPIVersions, o.GetAPIVersion()) {
			t.Errorf("by default the chart renders %s %s/%s, which a cluster may not serve", o.GetAPIVersion(), o.GetKind(), o.GetName())
		}
		if o.GetKind() == "Namespace" {
			t.Error("the chart renders a Namespace")
		}
		if l := o.GetLabels(); l["app.kubernetes.io/instance"] != "prescaler" || l["app.kubernetes.io/managed-by"] != "Helm" ||
			!strings.HasPrefix(l["app.kubernetes.io/name"], "prescaler") || l["helm.sh/chart"] == "" {
			t.Errorf("%s/%s labels %v lack the app.kubernetes.io ones", o.GetKind(), o.GetName(), l)
		}
	}
	dep := deployment(t, objs)
	checkHardened(t, dep)
	if ds := find(objs, "DaemonSet/"); ds != nil {
		t.Errorf("the chart installs %s by default: the privileged agent is opt-in (agent.enabled)", ds.GetName())
	}
	withAgent := h.template(t, "--set", "agent.enabled=true")
	checkSelectors(t, withAgent, "prescaler", "prescaler-agent")
	checkAgent(t, withAgent, "prescaler-agent")
	if k := deployment(t, render(t, ".")); !slices.Equal(dep.Spec.Template.Spec.Containers[0].Args, k.Spec.Template.Spec.Containers[0].Args) {
		t.Errorf("the chart runs %v, kustomize %v", dep.Spec.Template.Spec.Containers[0].Args, k.Spec.Template.Spec.Containers[0].Args)
	}
	// Both installs run the release's image (TestReleaseVersionsAgree).
	if img, want := dep.Spec.Template.Spec.Containers[0].Image, releaseImage(t); img != want {
		t.Errorf("the chart's image is %q, want the release's %s", img, want)
	}

	// The ConfigMap holds the example, and the Deployment mounts it.
	var cm corev1.ConfigMap
	fromUnstructured(t, mustFind(t, objs, "ConfigMap/prescaler-config"), &cm)
	var got, want map[string]any
	if err := k8syaml.Unmarshal([]byte(cm.Data["config.yaml"]), &got); err != nil {
		t.Fatal(err)
	}
	if err := k8syaml.Unmarshal(config.Example(), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the ConfigMap's config.yaml is not config/example.yaml:\n%s", cm.Data["config.yaml"])
	}
	if v := dep.Spec.Template.Spec.Volumes[0]; v.ConfigMap == nil || v.ConfigMap.Name != cm.Name {
		t.Errorf("the config volume %+v does not mount ConfigMap %s", v, cm.Name)
	}
	if _, err := config.Parse([]byte(cm.Data["config.yaml"])); err != nil {
		t.Errorf("the rendered config does not load: %v", err)
	}
}

// The rendered chart grants exactly what the kustomize install does: the same
// Roles and ClusterRoles with the same rules, bound to the same subjects, in
// both the cluster-wide and the namespace-scoped variant.
func TestChartRBACIsKustomize(t *testing.T) {
	h := newHelm(t)
	for _, c := range []struct {
		dir  string
		args []string
	}{
		{".", nil},
		{"namespaced", fullValues()},
	} {
		t.Run(c.dir, func(t *testing.T) {
			chart, kust := rbacOf(t, h.template(t, c.args...)), rbacOf(t, render(t, c.dir))
			if len(kust) == 0 {
				t.Fatal("kustomize rendered no RBAC")
			}
			for id, k := range kust {
				if ch, ok := chart[id]; !ok {
					t.Errorf("the chart has no %s", id)
				} else if !reflect.DeepEqual(ch, k) {
					t.Errorf("%s differs:\n chart     %+v\n kustomize %+v", id, ch, k)
				}
			}
			for id := range chart {
				if _, ok := kust[id]; !ok {
					t.Errorf("the chart has %s, kustomize not", id)
				}
			}
		})
	}
}

// rbacGrant is what an RBAC object grants, without its metadata: a role's
// rules, or a binding's role and subjects.
type rbacGrant struct {
	Rules    []rbacv1.PolicyRule
	RoleRef  rbacv1.RoleRef
	Subjects []rbacv1.Subject
}

// rbacOf maps Kind/namespace/name of each RBAC object to its grant.
func rbacOf(t *testing.T, objs []*unstructured.Unstructured) map[string]rbacGrant {
	t.Helper()
	out := map[string]rbacGrant{}
	for _, o := range objs {
		var g rbacGrant
		switch o.GetKind() {
		case "ClusterRole", "Role":
			var r rbacv1.ClusterRole
			fromUnstructured(t, o, &r)
			g.Rules = r.Rules
		case "ClusterRoleBinding", "RoleBinding":
			var b rbacv1.ClusterRoleBinding
			fromUnstructured(t, o, &b)
			g.RoleRef, g.Subjects = b.RoleRef, b.Subjects
		default:
			continue
		}
		out[o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName()] = g
	}
	return out
}

// Every optional part on: the namespace-scoped RBAC and --namespace, the
// monitors, and a Lease name the Role follows.
func TestChartOptions(t *testing.T) {
	h := newHelm(t)
	objs := h.template(t, append(fullValues(), "--set", "config.leaderElection.leaseName=other-lease",
		"--set", "extraArgs={--log-level=debug}", "--set", "image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")...)
	dep := deployment(t, objs)
	args := dep.Spec.Template.Spec.Containers[0].Args
	if !slices.Contains(args, "--namespace=default") || args[len(args)-1] != "--log-level=debug" {
		t.Errorf("args %v, want --namespace=default and the extra argument last", args)
	}
	if img := dep.Spec.Template.Spec.Containers[0].Image; img != "ghcr.io/prescaler/prescaler@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" {
		t.Errorf("image %q, want the digest", img)
	}
	var role rbacv1.Role
	fromUnstructured(t, mustFind(t, objs, "Role/prescaler-leader-election"), &role)
	if !slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool { return slices.Equal(r.ResourceNames, []string{"other-lease"}) }) {
		t.Errorf("the leader-election Role %+v does not follow leaseName", role.Rules)
	}
	var cm corev1.ConfigMap
	fromUnstructured(t, mustFind(t, objs, "ConfigMap/prescaler-config"), &cm)
	cfg, err := config.Parse([]byte(cm.Data["config.yaml"]))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LeaderElection.LeaseName != "other-lease" {
		t.Errorf("the config's leaseName is %q", cfg.LeaderElection.LeaseName)
	}
	checkMonitors(t, objs, objs, "prescaler", "prescaler-agent")
	// The alerts select job="prescaler" whatever the release's name.
	if job, _, _ := unstructured.NestedString(mustFind(t, objs, "ServiceMonitor/prescaler").Object, "spec", "jobLabel"); job != "app.kubernetes.io/name" {
		t.Errorf("ServiceMonitor jobLabel %q, want app.kubernetes.io/name", job)
	}
	rules, err := decodeObjects([]byte(readFile(t, filepath.Join("monitoring", "prometheusrule.yaml"))))
	if err != nil || len(rules) != 1 {
		t.Fatalf("monitoring/prometheusrule.yaml: %v %v", rules, err)
	}
	if got := mustFind(t, objs, "PrometheusRule/prescaler").Object["spec"]; !reflect.DeepEqual(got, rules[0].Object["spec"]) {
		t.Errorf("the chart's PrometheusRule spec is not deploy/monitoring's:\n%v", got)
	}
	var dash corev1.ConfigMap
	fromUnstructured(t, mustFind(t, objs, "ConfigMap/prescaler-dashboard"), &dash)
	if dash.Data["prescaler.json"] != strings.TrimRight(readFile(t, filepath.Join("monitoring", "grafana-dashboard.json")), "\n") ||
		dash.Labels["grafana_dashboard"] != "1" {
		t.Errorf("the dashboard ConfigMap's labels %v or JSON differ from deploy/monitoring's", dash.Labels)
	}

	// Off switches.
	objs = h.template(t, "--set", "agent.enabled=false", "--set", "networkPolicy.enabled=false",
		"--set", "podDisruptionBudget.enabled=false", "--set", "rbac.create=false", "--set", "serviceMonitor.enabled=true")
	for _, o := range objs {
		switch o.GetKind() {
		case "DaemonSet", "PodMonitor", "NetworkPolicy", "PodDisruptionBudget", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			t.Errorf("rendered %s/%s though it is turned off", o.GetKind(), o.GetName())
		case "ServiceAccount":
			if o.GetName() != "prescaler" {
				t.Errorf("rendered ServiceAccount %s without the agent", o.GetName())
			}
		}
	}

	// Values that would install something broken fail the rendering.
	for what, args := range map[string][]string{
		"two leaders":               {"--set", "leaderElection.enabled=false"},
		"namespaced, no namespace":  {"--set", "rbac.namespaced=true"},
		"a monitor without Service": {"--set", "serviceMonitor.enabled=true", "--set", "service.enabled=false"},
	} {
		if out, err := h.run(append([]string{"template", "prescaler", chartDir}, args...)...); err == nil {
			t.Errorf("%s: helm template succeeded:\n%s", what, out)
		}
	}
}

// helm runs the helm binary that the testbed builds, with its own empty
// configuration, cache and data folders.
type helm struct {
	bin string
	env []string
}

func newHelm(t *testing.T) *helm {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the helm binary the testbed builds")
	}
	ctx := t.Context()
	if dl, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-30*time.Second))
		defer cancel()
	}
	info, err := testbed.Build(ctx, testbed.BuildOptions{Logf: t.Logf})
	if err != nil {
		t.Fatalf("helm is built with the testbed's binaries (make testbed): %v", err)
	}
	home := t.TempDir()
	return &helm{bin: filepath.Join(info.Dir, "helm"), env: append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))}
}

func (h *helm) run(args ...string) ([]byte, error) {
	cmd := exec.Command(h.bin, args...)
	cmd.Env = h.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return append(out, stderr.Bytes()...), err
	}
	return out, nil
}

// template renders the chart as release prescaler in namespace prescaler.
func (h *helm) template(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	return h.render(t, append([]string{"--no-hooks"}, args...)...)
}

// hooks renders the chart's hooks alone: what helm creates at a lifecycle
// event (an uninstall), not at install.
func (h *helm) hooks(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	return slices.DeleteFunc(h.render(t, args...), func(o *unstructured.Unstructured) bool {
		return o.GetAnnotations()["helm.sh/hook"] == ""
	})
}

func (h *helm) render(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := h.run(append([]string{"template", "prescaler", chartDir, "--namespace", "prescaler"}, args...)...)
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", args, err, out)
	}
	objs, err := decodeObjects(out)
	if err != nil {
		t.Fatalf("helm template %v: %v", args, err)
	}
	return objs
}

// decodeObjects splits a multi-document YAML stream into objects, each
// with a kind and a name.
func decodeObjects(stream []byte) ([]*unstructured.Unstructured, error) {
	objs, err := testbed.DecodeManifests(stream)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if o.GetKind() == "" || o.GetName() == "" {
			return nil, fmt.Errorf("an object without kind or name: %v", o.Object)
		}
	}
	return objs, nil
}

// The uninstall hook: a Job that stops the controller and restores every
// object under the chart's ServiceAccount, and a Role, alive only while the
// hook runs, that may scale the controller's own Deployment and nothing
// else. TestHelmUninstallRestores runs it on the real control plane.
func TestChartUninstallHook(t *testing.T) {
	h := newHelm(t)
	hooks := h.hooks(t, "--set", "watchNamespace=default")
	var job batchv1.Job
	fromUnstructured(t, mustFind(t, hooks, "Job/prescaler-uninstall"), &job)
	pod := job.Spec.Template.Spec
	want := []string{"restore", "--all", "--stop-deployment=prescaler/prescaler", "--stop-timeout=2m", "--namespace=default"}
	if !slices.Equal(pod.Containers[0].Args, want) {
		t.Errorf("the hook runs %v, want %v", pod.Containers[0].Args, want)
	}
	if pod.ServiceAccountName != "prescaler" || pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("the hook's pod runs as %q with restartPolicy %s", pod.ServiceAccountName, pod.RestartPolicy)
	}
	// The wait for the controller's pods must not count the hook's own.
	dep := deployment(t, h.template(t))
	selector, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if selector.Matches(labels.Set(job.Spec.Template.Labels)) {
		t.Errorf("the controller's selector %s matches the hook's pod labels %v", selector, job.Spec.Template.Labels)
	}
	for _, o := range hooks {
		if a := o.GetAnnotations(); a["helm.sh/hook"] != "pre-delete" || !strings.Contains(a["helm.sh/hook-delete-policy"], "hook-succeeded") {
			t.Errorf("%s/%s hook annotations %v", o.GetKind(), o.GetName(), a)
		}
	}
	rules := rbacOf(t, hooks)["Role/prescaler/prescaler-uninstall"].Rules
	wantRules := []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, ResourceNames: []string{"prescaler"}, Verbs: []string{"get"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments/scale"}, ResourceNames: []string{"prescaler"}, Verbs: []string{"update"}},
	}
	if !reflect.DeepEqual(rules, wantRules) {
		t.Errorf("the hook's Role grants %+v, want %+v", rules, wantRules)
	}
	if hooks := h.hooks(t, "--set", "uninstall.restore=false"); len(hooks) != 0 {
		t.Errorf("uninstall.restore=false still renders %d hooks", len(hooks))
	}
	if find(h.hooks(t, "--set", "rbac.create=false"), "Role/prescaler-uninstall") != nil {
		t.Error("rbac.create=false still renders the hook's Role")
	}
}
