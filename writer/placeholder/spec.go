package placeholder

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/writer"
)

// Labels and annotations. The component and managed-by labels are the
// Kubernetes recommended ones; the prescaler.io ones share the domain of the
// writer package's annotations (writer.AnnotationOriginal).
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelComponent = "app.kubernetes.io/component"
	// LabelPlaceholderFor holds the name of the prescaler target whose
	// placeholders the object is: a sweep reads it to find the placeholders
	// of targets no longer configured.
	LabelPlaceholderFor = "prescaler.io/placeholder-for"
	// AnnotationSpec holds a hash of everything Spec decides but the
	// replicas, so that Apply compares what it would write with what it
	// wrote, not with an object the API server has filled with defaults.
	AnnotationSpec = "prescaler.io/placeholder-spec"

	// ManagedBy is LabelManagedBy's value: prescaler's field manager name.
	ManagedBy = writer.FieldManager
	// Component is LabelComponent's value.
	Component = "placeholder"
)

// Defaults.
const (
	// DefaultImage does nothing and holds the room its pod requests.
	DefaultImage = config.DefaultPlaceholderImage
	// DefaultPriorityClassName is the PriorityClass placeholders run at.
	DefaultPriorityClassName = config.DefaultPlaceholderPriorityClass
	// DefaultPriority is below every pod at the default priority 0, so any
	// of them preempts a placeholder, and not below the cluster
	// autoscaler's default --expendable-pods-priority-cutoff of -10: pods
	// below the cutoff "don't cause scale up" (kubernetes/autoscaler,
	// cluster-autoscaler/config/flags/flags.go), and a placeholder that adds
	// no node is useless.
	DefaultPriority int32 = -1
)

// nameSuffix ends every placeholder Deployment's name.
const nameSuffix = "-placeholder"

// containerName is the placeholder pod's one container.
const containerName = "pause"

// pauseUser is the uid the pause image runs as (its USER, 65535).
const pauseUser int64 = 65535

// Errors, for errors.Is.
var (
	// ErrInvalid: a Target field or the replicas cannot make a Deployment.
	ErrInvalid = errors.New("invalid placeholder input")
	// ErrNoRequests: the workload's template requests nothing, so a
	// placeholder would hold no room and bring no node up.
	ErrNoRequests = errors.New("the pod template requests no resources")
	// ErrOverlap: the placeholder's pods and the workload's pods would
	// match each other's selectors.
	ErrOverlap = errors.New("placeholder and workload selectors overlap")
)

// Target is the workload whose replicas placeholders stand in for.
type Target struct {
	// Name is the prescaler target's name (config.Target.Name), the value
	// of LabelPlaceholderFor; a valid label value.
	Name string
	// Namespace is the workload's namespace; the placeholders run there too.
	Namespace string
	// Workload is the name of the Deployment (or other scale target) the
	// placeholders stand in for; the placeholder Deployment's name derives
	// from it (see Name).
	Workload string
	// WorkloadSelector is the workload's pod selector. When set, Spec
	// refuses placeholders that it would select. The template's labels are
	// always checked against the placeholders' selector.
	WorkloadSelector *metav1.LabelSelector
	// Owner, when set, becomes the placeholder Deployment's owner reference
	// (usually the workload Deployment), so the garbage collector removes
	// the placeholders with their workload. It is never a controller
	// reference and never blocks the owner's deletion, so it asks for no
	// permission on the owner.
	Owner *metav1.OwnerReference
	// Image is the placeholder container's image; "" means DefaultImage.
	Image string
	// PriorityClassName is the class placeholders run at; "" means
	// DefaultPriorityClassName. It must exist before pods are created (see
	// PriorityClass): the API server rejects a pod naming a missing class.
	PriorityClassName string
}

// Name returns the placeholder Deployment's name for a workload: the
// workload's name and "-placeholder". It is a DNS-1123 label of at most 63
// characters, so the pods' generated names and hostnames derive from it
// cleanly. A name that must be changed to fit (too long, or with characters
// a label forbids, such as dots) gets a hash of the whole workload name
// before the suffix, so two workloads never share a placeholder name.
func Name(workload string) string {
	base := labelSafe(workload)
	if base == workload && len(base)+len(nameSuffix) <= validation.DNS1123LabelMaxLength {
		return base + nameSuffix
	}
	sum := sha256.Sum256([]byte(workload))
	hash := hex.EncodeToString(sum[:])[:10]
	keep := validation.DNS1123LabelMaxLength - len(nameSuffix) - len(hash) - 1
	if len(base) > keep {
		base = strings.TrimRight(base[:keep], "-")
	}
	if base == "" {
		return hash + nameSuffix
	}
	return base + "-" + hash + nameSuffix
}

// labelSafe lowercases s and replaces every character a DNS-1123 label
// forbids by "-", trimming leading and trailing dashes.
func labelSafe(s string) string {
	out := []byte(strings.ToLower(s))
	for i, c := range out {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			out[i] = '-'
		}
	}
	return strings.Trim(string(out), "-")
}

// Labels returns the labels of a target's placeholder Deployment and pods;
// they are also its selector.
func Labels(target string) map[string]string {
	return map[string]string{
		LabelManagedBy:      ManagedBy,
		LabelComponent:      Component,
		LabelPlaceholderFor: target,
	}
}

// Spec returns the Deployment that keeps replicas placeholder pods for t,
// each holding the room one pod of template needs, on the nodes where that
// pod could run. It is pure: the same inputs give the same Deployment.
func Spec(t Target, template *corev1.PodTemplateSpec, replicas int32) (*appsv1.Deployment, error) {
	if err := t.validate(template, replicas); err != nil {
		return nil, err
	}
	own := Labels(t.Name)
	if err := checkOverlap(t, template, own); err != nil {
		return nil, err
	}
	reqs := Requests(template)
	if len(reqs) == 0 {
		return nil, fmt.Errorf("%w: %s in %s: a placeholder would hold no room", ErrNoRequests, t.Workload, t.Namespace)
	}
	d := &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      Name(t.Workload),
			Namespace: t.Namespace,
			Labels:    Labels(t.Name),
		},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: Labels(t.Name)},
			// Recreate, never a surge: surge pods would ask for nodes
			// beyond N, and placeholders serve nothing, so there is no
			// availability to keep during a change. Old pods stop at
			// once (grace 0), so the room is released for moments.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			// Nothing to roll back to: a rollout is just a new template.
			RevisionHistoryLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: Labels(t.Name)},
				Spec:       podSpec(t, template, reqs, own),
			},
		},
	}
	if t.Owner != nil {
		ref := *t.Owner
		ref.Controller, ref.BlockOwnerDeletion = nil, nil
		d.OwnerReferences = []metav1.OwnerReference{ref}
	}
	hash, err := specHash(d)
	if err != nil {
		return nil, err
	}
	d.Annotations = map[string]string{AnnotationSpec: hash}
	return d, nil
}

func (t Target) validate(template *corev1.PodTemplateSpec, replicas int32) error {
	var problems []string
	if errs := validation.IsValidLabelValue(t.Name); t.Name == "" || len(errs) > 0 {
		problems = append(problems, fmt.Sprintf("target name %q is not a label value %v", t.Name, errs))
	}
	if t.Namespace == "" {
		problems = append(problems, "namespace is empty")
	}
	if t.Workload == "" {
		problems = append(problems, "workload is empty")
	}
	if template == nil {
		problems = append(problems, "pod template is nil")
	}
	if replicas < 0 {
		problems = append(problems, fmt.Sprintf("replicas %d is negative", replicas))
	}
	if name := t.PriorityClassName; name != "" {
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			problems = append(problems, fmt.Sprintf("priorityClassName %q: %s", name, strings.Join(errs, "; ")))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w for target %q: %s", ErrInvalid, t.Name, strings.Join(problems, ", "))
	}
	return nil
}

// checkOverlap refuses placeholders whose pods the workload's selector
// would select (the workload's controller would adopt them, its Services
// would send them traffic) or whose selector would select the workload's
// pods (the placeholder Deployment would adopt or count them).
func checkOverlap(t Target, template *corev1.PodTemplateSpec, own map[string]string) error {
	if labels.SelectorFromSet(own).Matches(labels.Set(template.Labels)) {
		return fmt.Errorf("%w: the pod template of %s in %s carries the placeholder labels %v", ErrOverlap, t.Workload, t.Namespace, own)
	}
	if t.WorkloadSelector == nil {
		return nil
	}
	sel, err := metav1.LabelSelectorAsSelector(t.WorkloadSelector)
	if err != nil {
		return fmt.Errorf("%w: the selector of %s in %s: %w", ErrInvalid, t.Workload, t.Namespace, err)
	}
	// The Deployment controller adds pod-template-hash to every pod; a
	// workload selector on it alone would still match.
	podLabels := labels.Set{appsv1.DefaultDeploymentUniqueLabelKey: ""}
	maps.Copy(podLabels, own)
	if sel.Matches(podLabels) {
		return fmt.Errorf("%w: the selector of %s in %s (%s) selects the placeholder pods", ErrOverlap, t.Workload, t.Namespace, sel)
	}
	return nil
}

// podSpec is the placeholder pod: one pause container holding reqs, with
// the template's scheduling constraints (see constraints) and nothing that
// would give it access or work to do.
func podSpec(t Target, template *corev1.PodTemplateSpec, reqs corev1.ResourceList, own map[string]string) corev1.PodSpec {
	image := t.Image
	if image == "" {
		image = DefaultImage
	}
	class := t.PriorityClassName
	if class == "" {
		class = DefaultPriorityClassName
	}
	spec := corev1.PodSpec{
		Containers: []corev1.Container{{
			Name:            containerName,
			Image:           image,
			ImagePullPolicy: corev1.PullIfNotPresent,
			// Limits equal to requests: extended resources (GPUs) and
			// hugepages require it, and a namespace quota on limits
			// admits the pod.
			Resources: corev1.ResourceRequirements{Requests: reqs, Limits: reqs.DeepCopy()},
			Ports:     hostPorts(template),
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false),
				ReadOnlyRootFilesystem:   ptr.To(true),
				RunAsNonRoot:             ptr.To(true),
				RunAsUser:                ptr.To(pauseUser),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
		}},
		PriorityClassName: class,
		// Preempted or removed, a placeholder has nothing to finish: its
		// room goes to the real pod at once.
		TerminationGracePeriodSeconds: ptr.To[int64](0),
		AutomountServiceAccountToken:  ptr.To(false),
		EnableServiceLinks:            ptr.To(false),
		SecurityContext: &corev1.PodSecurityContext{
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
	constrain(&spec, template, t.Namespace, own)
	return spec
}

// specHash is a hash of d without its replicas and annotations.
func specHash(d *appsv1.Deployment) (string, error) {
	c := d.DeepCopy()
	c.Spec.Replicas = nil
	c.Annotations = nil
	raw, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("hashing placeholder Deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:16]), nil
}

// PriorityClass returns the class placeholders run at: value (DefaultPriority
// unless there is a reason), preemptionPolicy Never, so a placeholder never
// preempts anything to make room for itself (it only waits, Pending, which
// is what asks the node autoscaler for a node), and never the global
// default, which would put every pod without a class below the workloads.
func PriorityClass(name string, value int32) *schedulingv1.PriorityClass {
	return &schedulingv1.PriorityClass{
		TypeMeta: metav1.TypeMeta{APIVersion: "scheduling.k8s.io/v1", Kind: "PriorityClass"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				LabelManagedBy: ManagedBy,
				LabelComponent: Component,
			},
		},
		Value:            value,
		GlobalDefault:    false,
		PreemptionPolicy: ptr.To(corev1.PreemptNever),
		Description: "prescaler placeholder pods: they hold nodes up ahead of a forecast peak " +
			"and are preempted by any pod at the default priority.",
	}
}
