package placeholder

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/prescaler/prescaler/writer"
)

const gpu corev1.ResourceName = "nvidia.com/gpu"

// list parses "cpu=2,nvidia.com/gpu=1".
func list(s string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for _, kv := range strings.Split(s, ",") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		out[corev1.ResourceName(k)] = resource.MustParse(v)
	}
	return out
}

func container(name, requests, limits string) corev1.Container {
	return corev1.Container{Name: name, Image: "vllm", Resources: corev1.ResourceRequirements{Requests: list(requests), Limits: list(limits)}}
}

// workloadTemplate is an inference server: a GPU as a limit only, the way
// the NVIDIA device plugin's users write it.
func workloadTemplate() *corev1.PodTemplateSpec {
	return &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "llm"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{container("server", "cpu=4,memory=32Gi", "nvidia.com/gpu=1,memory=32Gi")}},
	}
}

func target() Target {
	return Target{Name: "llm", Namespace: "inference", Workload: "llm-server"}
}

func sameList(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, q := range a {
		if p, ok := b[k]; !ok || p.Cmp(q) != 0 {
			return false
		}
	}
	return true
}

func TestName(t *testing.T) {
	long := strings.Repeat("a", 60)
	cases := []struct {
		name, workload string
		want           string // "" checks only the rules
		hashed         bool
	}{
		{name: "short name kept", workload: "llm-server", want: "llm-server-placeholder"},
		{name: "51 characters fit exactly", workload: strings.Repeat("b", 51), want: strings.Repeat("b", 51) + "-placeholder"},
		{name: "52 characters are hashed", workload: strings.Repeat("b", 52), hashed: true},
		{name: "253 characters are hashed", workload: strings.Repeat("c", 253), hashed: true},
		{name: "dots are not label characters", workload: "llm.v2", hashed: true},
		{name: "a dash at the cut is trimmed", workload: strings.Repeat("d", 43) + "-" + strings.Repeat("e", 20), hashed: true},
		{name: "long names differing at the end differ", workload: long + "x", hashed: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Name(c.workload)
			if c.want != "" && got != c.want {
				t.Errorf("Name(%q) = %q, want %q", c.workload, got, c.want)
			}
			if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
				t.Errorf("Name(%q) = %q is not a DNS-1123 label: %v", c.workload, got, errs)
			}
			if !strings.HasSuffix(got, nameSuffix) {
				t.Errorf("Name(%q) = %q lacks %q", c.workload, got, nameSuffix)
			}
			if c.hashed == (c.workload+nameSuffix == got) {
				t.Errorf("Name(%q) = %q: hashed %v, want %v", c.workload, got, !c.hashed, c.hashed)
			}
		})
	}
	if Name(long+"x") == Name(long+"y") {
		t.Errorf("two long names share %q", Name(long+"x"))
	}
	if Name("llm.v2") == Name("llm-v2") {
		t.Errorf("llm.v2 and llm-v2 share %q", Name("llm-v2"))
	}
}

func TestRequests(t *testing.T) {
	cases := []struct {
		name string
		spec corev1.PodSpec
		want string
	}{
		{
			name: "GPU from the limit only",
			spec: corev1.PodSpec{Containers: []corev1.Container{container("server", "cpu=4", "nvidia.com/gpu=1,memory=32Gi")}},
			want: "cpu=4,memory=32Gi,nvidia.com/gpu=1",
		},
		{
			name: "containers are summed",
			spec: corev1.PodSpec{Containers: []corev1.Container{
				container("server", "cpu=4,memory=32Gi", "nvidia.com/gpu=2"),
				container("proxy", "cpu=500m,memory=1Gi", ""),
			}},
			want: "cpu=4500m,memory=33Gi,nvidia.com/gpu=2",
		},
		{
			name: "an init container larger than the containers sets that resource",
			spec: corev1.PodSpec{
				InitContainers: []corev1.Container{container("download", "cpu=8,memory=4Gi", "")},
				Containers:     []corev1.Container{container("server", "cpu=2,memory=16Gi", "nvidia.com/gpu=1")},
			},
			want: "cpu=8,memory=16Gi,nvidia.com/gpu=1",
		},
		{
			name: "a sidecar adds to the containers and to later init containers",
			spec: corev1.PodSpec{
				InitContainers: []corev1.Container{
					func() corev1.Container {
						c := container("mesh", "cpu=1,memory=1Gi", "")
						c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
						return c
					}(),
					container("download", "cpu=6", ""),
				},
				Containers: []corev1.Container{container("server", "cpu=2,memory=16Gi", "nvidia.com/gpu=1")},
			},
			want: "cpu=7,memory=17Gi,nvidia.com/gpu=1",
		},
		{
			name: "pod-level limits default the pod-level requests",
			spec: corev1.PodSpec{
				Resources:  &corev1.ResourceRequirements{Limits: list("cpu=8,memory=64Gi")},
				Containers: []corev1.Container{container("server", "cpu=2", "nvidia.com/gpu=1")},
			},
			want: "cpu=2,memory=64Gi,nvidia.com/gpu=1",
		},
		{
			name: "pod-level requests override the containers'",
			spec: corev1.PodSpec{
				Resources:  &corev1.ResourceRequirements{Requests: list("cpu=3,memory=20Gi")},
				Containers: []corev1.Container{container("server", "cpu=2,memory=16Gi", "nvidia.com/gpu=1")},
			},
			want: "cpu=3,memory=20Gi,nvidia.com/gpu=1",
		},
		{
			name: "overhead is left to the RuntimeClass",
			spec: corev1.PodSpec{
				Overhead:   list("cpu=250m,memory=120Mi"),
				Containers: []corev1.Container{container("server", "cpu=1", "nvidia.com/gpu=1")},
			},
			want: "cpu=1,nvidia.com/gpu=1",
		},
		{
			name: "zero amounts are dropped",
			spec: corev1.PodSpec{Containers: []corev1.Container{container("server", "cpu=0,memory=1Gi", "")}},
			want: "memory=1Gi",
		},
		{
			name: "nothing requested",
			spec: corev1.PodSpec{Containers: []corev1.Container{container("server", "", "")}},
			want: "",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tmpl := &corev1.PodTemplateSpec{Spec: c.spec}
			before := tmpl.DeepCopy()
			got := Requests(tmpl)
			if !sameList(got, list(c.want)) {
				t.Errorf("Requests = %v, want %s", got, c.want)
			}
			if !reflect.DeepEqual(tmpl, before) {
				t.Error("Requests modified the template")
			}
		})
	}
}

func TestSpecPod(t *testing.T) {
	tg := target()
	tg.Owner = &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "llm-server", UID: "u1",
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
	tmpl := workloadTemplate()
	tmpl.Annotations = map[string]string{"prometheus.io/scrape": "true"}
	tmpl.Spec.ServiceAccountName = "llm"
	tmpl.Spec.Volumes = []corev1.Volume{{Name: "weights"}}
	before := tmpl.DeepCopy()

	d, err := Spec(tg, tmpl, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tmpl, before) {
		t.Error("Spec modified the template")
	}
	own := map[string]string{LabelManagedBy: "prescaler", LabelComponent: "placeholder", LabelPlaceholderFor: "llm"}
	checks := []struct {
		what      string
		got, want any
	}{
		{"name", d.Name, "llm-server-placeholder"},
		{"namespace", d.Namespace, "inference"},
		{"labels", d.Labels, own},
		{"selector", d.Spec.Selector, &metav1.LabelSelector{MatchLabels: own}},
		{"pod labels", d.Spec.Template.Labels, own},
		{"pod annotations", d.Spec.Template.Annotations, map[string]string(nil)},
		{"replicas", *d.Spec.Replicas, int32(3)},
		{"strategy", d.Spec.Strategy.Type, appsv1.RecreateDeploymentStrategyType},
		{"owner", d.OwnerReferences, []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "llm-server", UID: "u1"}}},
		{"containers", len(d.Spec.Template.Spec.Containers), 1},
		{"image", d.Spec.Template.Spec.Containers[0].Image, DefaultImage},
		{"priority class", d.Spec.Template.Spec.PriorityClassName, DefaultPriorityClassName},
		{"grace", *d.Spec.Template.Spec.TerminationGracePeriodSeconds, int64(0)},
		{"token", *d.Spec.Template.Spec.AutomountServiceAccountToken, false},
		{"service links", *d.Spec.Template.Spec.EnableServiceLinks, false},
		{"service account", d.Spec.Template.Spec.ServiceAccountName, ""},
		{"volumes", len(d.Spec.Template.Spec.Volumes), 0},
		{"init containers", len(d.Spec.Template.Spec.InitContainers), 0},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	res := d.Spec.Template.Spec.Containers[0].Resources
	want := list("cpu=4,memory=32Gi,nvidia.com/gpu=1")
	if !sameList(res.Requests, want) || !sameList(res.Limits, want) {
		t.Errorf("resources = %v / %v, want %v as both", res.Requests, res.Limits, want)
	}
	if d.Annotations[AnnotationSpec] == "" {
		t.Errorf("no %s annotation", AnnotationSpec)
	}

	tg.Image, tg.PriorityClassName = "mirror.example/pause:3.10", "batch-placeholder"
	d, err = Spec(tg, tmpl, 3)
	if err != nil {
		t.Fatal(err)
	}
	if c := d.Spec.Template.Spec.Containers[0]; c.Image != tg.Image || d.Spec.Template.Spec.PriorityClassName != tg.PriorityClassName {
		t.Errorf("configured image and class: %s, %s", c.Image, d.Spec.Template.Spec.PriorityClassName)
	}
}

func TestSpecConstraints(t *testing.T) {
	own := &metav1.LabelSelector{MatchLabels: Labels("llm")}
	workloadSel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "llm"}}
	cacheSel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "kv-cache"}}
	required := &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
		{Key: "nvidia.com/gpu.product", Operator: corev1.NodeSelectorOpIn, Values: []string{"NVIDIA-H100-80GB-HBM3"}},
	}}}}
	preferred := []corev1.PreferredSchedulingTerm{{Weight: 10, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
		{Key: "karpenter.sh/capacity-type", Operator: corev1.NodeSelectorOpIn, Values: []string{"spot"}},
	}}}}
	tolerations := []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	podAffinity := &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{
		{LabelSelector: cacheSel, TopologyKey: "topology.kubernetes.io/zone"},
	}}

	tmpl := workloadTemplate()
	tmpl.Spec.NodeSelector = map[string]string{"pool": "gpu"}
	tmpl.Spec.Tolerations = tolerations
	tmpl.Spec.RuntimeClassName = ptr.To("nvidia")
	tmpl.Spec.SchedulerName = "gpu-scheduler"
	tmpl.Spec.Affinity = &corev1.Affinity{
		NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: required, PreferredDuringSchedulingIgnoredDuringExecution: preferred},
		PodAffinity:  podAffinity,
		PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{
				{LabelSelector: workloadSel, TopologyKey: "kubernetes.io/hostname", MatchLabelKeys: []string{"pod-template-hash"}},
				{LabelSelector: cacheSel, TopologyKey: "kubernetes.io/hostname"},
				{LabelSelector: workloadSel, TopologyKey: "kubernetes.io/hostname", Namespaces: []string{"other"}},
			},
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{
				{Weight: 50, PodAffinityTerm: corev1.PodAffinityTerm{LabelSelector: workloadSel, TopologyKey: "topology.kubernetes.io/zone",
					NamespaceSelector: &metav1.LabelSelector{}}},
			},
		},
	}
	tmpl.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{
		{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: workloadSel,
			MatchLabelKeys: []string{"pod-template-hash"}, MinDomains: ptr.To[int32](2)},
		{MaxSkew: 2, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: cacheSel},
	}
	tmpl.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8000}, {ContainerPort: 9400, HostPort: 9400}}

	d, err := Spec(target(), tmpl, 1)
	if err != nil {
		t.Fatal(err)
	}
	spec := d.Spec.Template.Spec
	checks := []struct {
		what      string
		got, want any
	}{
		{"nodeSelector", spec.NodeSelector, map[string]string{"pool": "gpu"}},
		{"tolerations", spec.Tolerations, tolerations},
		{"runtimeClassName", spec.RuntimeClassName, ptr.To("nvidia")},
		{"schedulerName", spec.SchedulerName, "gpu-scheduler"},
		{"required node affinity", spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution, required},
		{"preferred node affinity", spec.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution, preferred},
		{"pod affinity", spec.Affinity.PodAffinity, podAffinity},
		{"required anti-affinity", spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, []corev1.PodAffinityTerm{
			{LabelSelector: own, TopologyKey: "kubernetes.io/hostname"},
			{LabelSelector: cacheSel, TopologyKey: "kubernetes.io/hostname"},
			{LabelSelector: workloadSel, TopologyKey: "kubernetes.io/hostname", Namespaces: []string{"other"}},
		}},
		{"preferred anti-affinity", spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution, []corev1.WeightedPodAffinityTerm{
			{Weight: 50, PodAffinityTerm: corev1.PodAffinityTerm{LabelSelector: own, TopologyKey: "topology.kubernetes.io/zone"}},
		}},
		{"spread", spec.TopologySpreadConstraints, []corev1.TopologySpreadConstraint{
			{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: own, MinDomains: ptr.To[int32](2)},
			{MaxSkew: 2, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: cacheSel},
		}},
		{"host ports", spec.Containers[0].Ports, []corev1.ContainerPort{{ContainerPort: 9400, HostPort: 9400, Protocol: corev1.ProtocolTCP}}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.what, c.got, c.want)
		}
	}

	t.Run("hostNetwork binds the container ports", func(t *testing.T) {
		tmpl := workloadTemplate()
		tmpl.Spec.HostNetwork = true
		tmpl.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8000, Protocol: corev1.ProtocolUDP}}
		d, err := Spec(target(), tmpl, 1)
		if err != nil {
			t.Fatal(err)
		}
		if d.Spec.Template.Spec.HostNetwork {
			t.Error("placeholder runs in the host network")
		}
		want := []corev1.ContainerPort{{ContainerPort: 8000, HostPort: 8000, Protocol: corev1.ProtocolUDP}}
		if got := d.Spec.Template.Spec.Containers[0].Ports; !reflect.DeepEqual(got, want) {
			t.Errorf("ports = %+v, want %+v", got, want)
		}
	})
}

func TestSpecNeverOverlaps(t *testing.T) {
	cases := []struct {
		name      string
		labels    map[string]string
		selector  *metav1.LabelSelector
		wantError bool
	}{
		{name: "ordinary workload", labels: map[string]string{"app": "llm"}, selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "llm"}}},
		{name: "workload managed by prescaler's name as another component", labels: map[string]string{LabelManagedBy: "prescaler", LabelComponent: "server"},
			selector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelComponent: "server"}}},
		{name: "no selector given", labels: map[string]string{"app": "llm"}},
		{name: "template carries the placeholder labels", labels: Labels("llm"), wantError: true},
		{name: "selector on managed-by alone", labels: map[string]string{LabelManagedBy: "prescaler", "app": "llm"},
			selector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelManagedBy: "prescaler"}}, wantError: true},
		{name: "selector by expression on the component", labels: map[string]string{"app": "llm"},
			selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: LabelComponent, Operator: metav1.LabelSelectorOpIn, Values: []string{"placeholder", "server"}},
			}}, wantError: true},
		{name: "selector that excludes only other apps", labels: map[string]string{"tier": "gpu"},
			selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "app", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"web"}},
			}}, wantError: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := target()
			tg.WorkloadSelector = c.selector
			tmpl := workloadTemplate()
			tmpl.Labels = c.labels
			d, err := Spec(tg, tmpl, 2)
			if c.wantError {
				if !errors.Is(err, ErrOverlap) {
					t.Fatalf("err = %v, want ErrOverlap", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Neither selector selects the other's pods.
			own, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
			if err != nil {
				t.Fatal(err)
			}
			if own.Matches(labels.Set(c.labels)) {
				t.Errorf("the placeholder selector %s selects the workload's pods %v", own, c.labels)
			}
			if c.selector != nil {
				sel, _ := metav1.LabelSelectorAsSelector(c.selector)
				podLabels := labels.Set{appsv1.DefaultDeploymentUniqueLabelKey: "5d8f7c9b4"}
				for k, v := range d.Spec.Template.Labels {
					podLabels[k] = v
				}
				if sel.Matches(podLabels) {
					t.Errorf("the workload selector %s selects the placeholder pods %v", sel, podLabels)
				}
			}
			if !reflect.DeepEqual(d.Spec.Template.Labels, Labels("llm")) {
				t.Errorf("the placeholder pod carries labels %v beyond its own", d.Spec.Template.Labels)
			}
		})
	}
}

func TestSpecRefuses(t *testing.T) {
	cases := []struct {
		name     string
		edit     func(*Target, *corev1.PodTemplateSpec) *corev1.PodTemplateSpec
		replicas int32
		want     error
		mention  string
	}{
		{name: "empty target name", edit: func(t *Target, p *corev1.PodTemplateSpec) *corev1.PodTemplateSpec { t.Name = ""; return p }, want: ErrInvalid, mention: "target name"},
		{name: "target name not a label value", edit: func(t *Target, p *corev1.PodTemplateSpec) *corev1.PodTemplateSpec { t.Name = "llm/a"; return p }, want: ErrInvalid, mention: "llm/a"},
		{name: "no namespace", edit: func(t *Target, p *corev1.PodTemplateSpec) *corev1.PodTemplateSpec { t.Namespace = ""; return p }, want: ErrInvalid, mention: "namespace"},
		{name: "no workload", edit: func(t *Target, p *corev1.PodTemplateSpec) *corev1.PodTemplateSpec { t.Workload = ""; return p }, want: ErrInvalid, mention: "workload"},
		{name: "no template", edit: func(*Target, *corev1.PodTemplateSpec) *corev1.PodTemplateSpec { return nil }, want: ErrInvalid, mention: "template"},
		{name: "negative replicas", edit: func(_ *Target, p *corev1.PodTemplateSpec) *corev1.PodTemplateSpec { return p }, replicas: -1, want: ErrInvalid, mention: "-1"},
		{name: "bad class name", edit: func(t *Target, p *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
			t.PriorityClassName = "Low_Prio"
			return p
		}, want: ErrInvalid, mention: "Low_Prio"},
		{name: "nothing requested", edit: func(_ *Target, p *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
			return p
		}, want: ErrNoRequests, mention: "llm-server"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := target()
			tmpl := c.edit(&tg, workloadTemplate())
			_, err := Spec(tg, tmpl, c.replicas)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Errorf("error %q does not mention %q", err, c.mention)
			}
		})
	}
}

func TestSpecHash(t *testing.T) {
	base, err := Spec(target(), workloadTemplate(), 2)
	if err != nil {
		t.Fatal(err)
	}
	hash := func(tmpl *corev1.PodTemplateSpec, replicas int32) string {
		d, err := Spec(target(), tmpl, replicas)
		if err != nil {
			t.Fatal(err)
		}
		return d.Annotations[AnnotationSpec]
	}
	if h := hash(workloadTemplate(), 2); h != base.Annotations[AnnotationSpec] {
		t.Errorf("the same inputs hash differently: %s, %s", h, base.Annotations[AnnotationSpec])
	}
	if h := hash(workloadTemplate(), 7); h != base.Annotations[AnnotationSpec] {
		t.Error("the replicas change the hash; a scale would look like a new spec")
	}
	twoGPUs := workloadTemplate()
	twoGPUs.Spec.Containers[0].Resources.Limits[gpu] = resource.MustParse("2")
	if h := hash(twoGPUs, 2); h == base.Annotations[AnnotationSpec] {
		t.Error("a new GPU count keeps the hash")
	}
}

func TestPriorityClass(t *testing.T) {
	pc := PriorityClass(DefaultPriorityClassName, DefaultPriority)
	if pc.Name != "prescaler-placeholder" || pc.Value != -1 || pc.GlobalDefault ||
		pc.PreemptionPolicy == nil || *pc.PreemptionPolicy != corev1.PreemptNever {
		t.Errorf("PriorityClass = %s value %d globalDefault %v preemptionPolicy %v", pc.Name, pc.Value, pc.GlobalDefault, pc.PreemptionPolicy)
	}
	// -1: below pods without a class (0), above the cluster autoscaler's
	// default expendable cutoff (-10), below which no node is added.
	if !(DefaultPriority < 0 && DefaultPriority >= -10) {
		t.Errorf("DefaultPriority %d is not in [-10, 0)", DefaultPriority)
	}
}

// TestDomain keeps prescaler's own labels and annotations in the domain the
// writer's annotations use.
func TestDomain(t *testing.T) {
	domain, _, _ := strings.Cut(writer.AnnotationOriginal, "/")
	for _, key := range []string{LabelPlaceholderFor, AnnotationSpec} {
		if d, _, _ := strings.Cut(key, "/"); d != domain {
			t.Errorf("%s is not in %s", key, domain)
		}
	}
	if ManagedBy != writer.FieldManager {
		t.Errorf("managed-by %q is not the field manager %q", ManagedBy, writer.FieldManager)
	}
}
