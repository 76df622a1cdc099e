package placeholder

import (
	"context"
	"errors"
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// Errors of the adapter, for errors.Is.
var (
	// ErrNotOwned: an object with the placeholder's name exists but is not
	// this target's placeholder (no prescaler labels, or another target's);
	// prescaler neither changes nor deletes it.
	ErrNotOwned = errors.New("object is not this target's placeholder")
	// ErrPriorityClass: the PriorityClass exists with a value or policy
	// that placeholders must not run at.
	ErrPriorityClass = errors.New("unsuitable placeholder PriorityClass")
)

// Outcome says what Apply did; it suits a metric label.
type Outcome string

// Outcomes.
const (
	OutcomeCreated   Outcome = "created"
	OutcomeUpdated   Outcome = "updated"
	OutcomeUnchanged Outcome = "unchanged"
	// OutcomeAbsent: zero replicas asked and no placeholder Deployment
	// exists; none is created.
	OutcomeAbsent Outcome = "absent"
)

// Placeholder is one placeholder Deployment prescaler owns.
type Placeholder struct {
	Namespace, Name string
	// Target is the prescaler target it stands in for (LabelPlaceholderFor).
	Target string
	// Replicas is the placeholders asked for; Ready those running, each
	// holding its room on a node.
	Replicas, Ready int32
}

// listPageSize bounds one List response.
const listPageSize = 500

// Client makes a target's placeholders true on the cluster.
type Client struct {
	kube kubernetes.Interface
}

// New returns a Client that writes through kube.
func New(kube kubernetes.Interface) *Client {
	return &Client{kube: kube}
}

// Apply creates or updates t's placeholder Deployment so that it keeps
// replicas placeholders for pods of template, and writes nothing when it
// already does. With replicas 0 an existing Deployment is kept, scaled to
// 0 (it holds nothing then, and the next peak is an update, not a
// create); none is created. A Deployment of the same name that is not t's
// placeholder is left alone with ErrNotOwned.
func (c *Client) Apply(ctx context.Context, t Target, template *corev1.PodTemplateSpec, replicas int32) (Outcome, error) {
	want, err := Spec(t, template, replicas)
	if err != nil {
		return "", err
	}
	var outcome Outcome
	err = retry.OnError(retry.DefaultRetry, func(err error) bool {
		return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
	}, func() error {
		outcome, err = c.apply(ctx, t.Name, want)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("placeholder Deployment %s/%s: %w", want.Namespace, want.Name, err)
	}
	return outcome, nil
}

func (c *Client) apply(ctx context.Context, target string, want *appsv1.Deployment) (Outcome, error) {
	deployments := c.kube.AppsV1().Deployments(want.Namespace)
	live, err := deployments.Get(ctx, want.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if *want.Spec.Replicas == 0 {
			return OutcomeAbsent, nil
		}
		if _, err := deployments.Create(ctx, want, metav1.CreateOptions{FieldManager: ManagedBy}); err != nil {
			return "", err
		}
		return OutcomeCreated, nil
	}
	if err != nil {
		return "", err
	}
	if !owned(live.Labels, target) {
		return "", fmt.Errorf("%w: it carries labels %v", ErrNotOwned, live.Labels)
	}
	if upToDate(live, want) {
		return OutcomeUnchanged, nil
	}
	// The live object with prescaler's parts replaced: its resourceVersion
	// makes a concurrent edit a conflict, seen on the retry.
	next := live.DeepCopy()
	maps.Copy(next.Labels, want.Labels)
	if next.Annotations == nil {
		next.Annotations = map[string]string{}
	}
	maps.Copy(next.Annotations, want.Annotations)
	next.OwnerReferences = want.OwnerReferences
	next.Spec = want.Spec
	if _, err := deployments.Update(ctx, next, metav1.UpdateOptions{FieldManager: ManagedBy}); err != nil {
		return "", err
	}
	return OutcomeUpdated, nil
}

// owned reports whether an object's labels make it target's placeholder.
func owned(l map[string]string, target string) bool {
	return l[LabelManagedBy] == ManagedBy && l[LabelComponent] == Component && l[LabelPlaceholderFor] == target
}

// upToDate reports whether live holds what Spec decided (by the hash it
// recorded) and the replicas wanted.
func upToDate(live, want *appsv1.Deployment) bool {
	return live.Annotations[AnnotationSpec] == want.Annotations[AnnotationSpec] &&
		live.Spec.Replicas != nil && *live.Spec.Replicas == *want.Spec.Replicas
}

// Remove deletes the placeholder Deployments of target in namespace. The
// deletion propagates in the background: the Deployment goes at once, so
// List no longer returns it, and the garbage collector then deletes its
// ReplicaSet and pods (grace 0, so their room is free within seconds). Each
// delete is guarded by the uid listed, so an object recreated in between is
// not deleted. Nothing to delete is no error.
func (c *Client) Remove(ctx context.Context, namespace, target string) error {
	if namespace == "" || target == "" {
		return fmt.Errorf("%w: Remove needs a namespace and a target (got %q, %q)", ErrInvalid, namespace, target)
	}
	found, err := c.list(ctx, namespace, labels.SelectorFromSet(Labels(target)))
	if err != nil {
		return fmt.Errorf("listing the placeholders of target %q in %s: %w", target, namespace, err)
	}
	for _, d := range found {
		uid := d.UID
		err := c.kube.AppsV1().Deployments(d.Namespace).Delete(ctx, d.Name, metav1.DeleteOptions{
			Preconditions:     &metav1.Preconditions{UID: &uid},
			PropagationPolicy: ptr.To(metav1.DeletePropagationBackground),
		})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting placeholder Deployment %s/%s of target %q: %w", d.Namespace, d.Name, target, err)
		}
	}
	return nil
}

// List returns every placeholder Deployment prescaler owns in namespace
// ("" for all namespaces), so that a sweep can Remove those of targets no
// longer configured.
func (c *Client) List(ctx context.Context, namespace string) ([]Placeholder, error) {
	found, err := c.list(ctx, namespace, placeholderSelector())
	if err != nil {
		where := namespace
		if where == "" {
			where = "all namespaces"
		}
		return nil, fmt.Errorf("listing placeholder Deployments in %s: %w", where, err)
	}
	out := make([]Placeholder, 0, len(found))
	for _, d := range found {
		out = append(out, Placeholder{
			Namespace: d.Namespace,
			Name:      d.Name,
			Target:    d.Labels[LabelPlaceholderFor],
			Replicas:  replicasOf(d),
			Ready:     d.Status.ReadyReplicas,
		})
	}
	return out, nil
}

// placeholderSelector selects every placeholder, of any target.
func placeholderSelector() labels.Selector {
	sel := labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedBy, LabelComponent: Component})
	exists, err := labels.NewRequirement(LabelPlaceholderFor, selection.Exists, nil)
	if err != nil { // a constant, valid key
		panic(err)
	}
	return sel.Add(*exists)
}

// list pages through the Deployments sel selects.
func (c *Client) list(ctx context.Context, namespace string, sel labels.Selector) ([]appsv1.Deployment, error) {
	var out []appsv1.Deployment
	opts := metav1.ListOptions{LabelSelector: sel.String(), Limit: listPageSize}
	for {
		page, err := c.kube.AppsV1().Deployments(namespace).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.Continue == "" {
			return out, nil
		}
		opts.Continue = page.Continue
	}
}

func replicasOf(d appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1 // the API server's default
	}
	return *d.Spec.Replicas
}

// EnsurePriorityClass creates the PriorityClass placeholders run at (see
// PriorityClass) when it is missing. One that exists is used as it is if it
// is suitable: the value asked, preemptionPolicy Never, not the global
// default; otherwise ErrPriorityClass names what is wrong, and nothing is
// changed (the class is cluster-wide and may be someone else's). value
// must be negative: pods at the default priority 0 preempt only pods of a
// strictly lower priority.
func (c *Client) EnsurePriorityClass(ctx context.Context, name string, value int32) error {
	if value >= 0 {
		return fmt.Errorf("%w %s: value %d is not below 0, the priority of pods without a class; they could not preempt placeholders", ErrPriorityClass, name, value)
	}
	classes := c.kube.SchedulingV1().PriorityClasses()
	live, err := classes.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = classes.Create(ctx, PriorityClass(name, value), metav1.CreateOptions{FieldManager: ManagedBy})
		if !apierrors.IsAlreadyExists(err) {
			if err != nil {
				return fmt.Errorf("creating PriorityClass %s: %w", name, err)
			}
			return nil
		}
		live, err = classes.Get(ctx, name, metav1.GetOptions{}) // created meanwhile: check it
	}
	if err != nil {
		return fmt.Errorf("reading PriorityClass %s: %w", name, err)
	}
	switch {
	case live.Value != value:
		return fmt.Errorf("%w %s: value %d, placeholders need %d", ErrPriorityClass, name, live.Value, value)
	case live.PreemptionPolicy == nil || *live.PreemptionPolicy != corev1.PreemptNever:
		return fmt.Errorf("%w %s: preemptionPolicy %s lets placeholders preempt other pods; it must be %s",
			ErrPriorityClass, name, policyOf(live.PreemptionPolicy), corev1.PreemptNever)
	case live.GlobalDefault:
		return fmt.Errorf("%w %s: it is the global default, so every pod without a class would run at placeholder priority", ErrPriorityClass, name)
	}
	return nil
}

func policyOf(p *corev1.PreemptionPolicy) corev1.PreemptionPolicy {
	if p == nil {
		return corev1.PreemptLowerPriority // the API server's default
	}
	return *p
}
