package capacity

import (
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	nodelisters "k8s.io/client-go/listers/node/v1"
	"k8s.io/client-go/tools/cache"
)

// ErrNotSynced: the informer caches have not finished their first list, so
// a snapshot would under-count pods and over-state the free room.
var ErrNotSynced = errors.New("capacity: informer caches not synced")

// Collector estimates capacity on snapshots of shared informer caches:
// nodes, pods, LimitRanges and RuntimeClasses, kept current by watches, so a
// decision costs no API call. It is the adapter around the pure Estimate.
type Collector struct {
	deployments    appslisters.DeploymentLister
	nodes          corelisters.NodeLister
	pods           corelisters.PodLister
	limitRanges    corelisters.LimitRangeLister
	runtimeClasses nodelisters.RuntimeClassLister
	synced         []cache.InformerSynced

	// now is the clock of the snapshot memo (time.Now; tests set it).
	now func() time.Time
	// memo is the last snapshot, reused for SnapshotTTL: a loop estimates
	// every target's capacity on one view of the cluster instead of
	// listing and summing every pod once per target.
	mu     sync.Mutex
	memo   *Snapshot
	memoAt time.Time
}

// SnapshotTTL is how long Collector reuses a snapshot of its caches. The
// caches themselves trail the API server by the watch's delay; a second
// more is small beside the minutes a GPU pod takes to start, and saves
// listing and summing every pod of the cluster for each of a thousand
// targets.
const SnapshotTTL = time.Second

// NewCollector registers the informers it needs with factory; call it
// before factory.Start. The pod informer is the factory's shared one, so the
// start-up estimator and the collector share one watch. Needs list and
// watch on nodes, pods, limitranges, runtimeclasses.node.k8s.io and
// deployments.apps.
func NewCollector(factory informers.SharedInformerFactory) *Collector {
	core := factory.Core().V1()
	rc := factory.Node().V1().RuntimeClasses()
	deps := factory.Apps().V1().Deployments()
	c := &Collector{
		deployments:    deps.Lister(),
		nodes:          core.Nodes().Lister(),
		pods:           core.Pods().Lister(),
		limitRanges:    core.LimitRanges().Lister(),
		runtimeClasses: rc.Lister(),
		now:            time.Now,
	}
	c.synced = []cache.InformerSynced{
		core.Nodes().Informer().HasSynced,
		core.Pods().Informer().HasSynced,
		core.LimitRanges().Informer().HasSynced,
		rc.Informer().HasSynced,
		deps.Informer().HasSynced,
	}
	return c
}

// HasSynced reports whether every cache has finished its first list.
func (c *Collector) HasSynced() bool {
	for _, s := range c.synced {
		if !s() {
			return false
		}
	}
	return true
}

// Snapshot reads the caches, or returns the snapshot read less than
// SnapshotTTL ago. The objects are the caches' own: read only.
func (c *Collector) Snapshot() (Snapshot, error) {
	if !c.HasSynced() {
		return Snapshot{}, ErrNotSynced
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); c.memo == nil || now.Sub(c.memoAt) >= SnapshotTTL || now.Before(c.memoAt) {
		s, err := c.read()
		if err != nil {
			return Snapshot{}, err
		}
		s = s.shared()
		c.memo, c.memoAt = &s, now
	}
	return *c.memo, nil
}

// read lists the caches.
func (c *Collector) read() (Snapshot, error) {
	var s Snapshot
	var err error
	if s.Nodes, err = c.nodes.List(labels.Everything()); err != nil {
		return Snapshot{}, fmt.Errorf("listing nodes: %w", err)
	}
	if s.Pods, err = c.pods.List(labels.Everything()); err != nil {
		return Snapshot{}, fmt.Errorf("listing pods: %w", err)
	}
	if s.LimitRanges, err = c.limitRanges.List(labels.Everything()); err != nil {
		return Snapshot{}, fmt.Errorf("listing limitranges: %w", err)
	}
	if s.RuntimeClasses, err = c.runtimeClasses.List(labels.Everything()); err != nil {
		return Snapshot{}, fmt.Errorf("listing runtimeclasses: %w", err)
	}
	return s, nil
}

// Deployment estimates the capacity of d: how many more copies of its pod
// template fit, and how many of its pods are scheduled now.
func (c *Collector) Deployment(d *appsv1.Deployment) (Target, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return Target{}, fmt.Errorf("deployment %s/%s: selector: %w", d.Namespace, d.Name, err)
	}
	return c.Target(d.Namespace, sel, &d.Spec.Template)
}

// ForDeployment is Deployment on the Deployment namespace/name read from
// the cache (an HPA's scaleTargetRef, for instance).
func (c *Collector) ForDeployment(namespace, name string) (Target, error) {
	if !c.HasSynced() {
		return Target{}, ErrNotSynced
	}
	d, err := c.deployments.Deployments(namespace).Get(name)
	if err != nil {
		return Target{}, fmt.Errorf("capacity: deployment %s/%s: %w", namespace, name, err)
	}
	return c.Deployment(d)
}

// GetDeployment returns the Deployment namespace/name from the cache: the
// cache's own object, read only.
func (c *Collector) GetDeployment(namespace, name string) (*appsv1.Deployment, error) {
	if !c.HasSynced() {
		return nil, ErrNotSynced
	}
	d, err := c.deployments.Deployments(namespace).Get(name)
	if err != nil {
		return nil, fmt.Errorf("capacity: deployment %s/%s: %w", namespace, name, err)
	}
	return d, nil
}

// ScheduledPods counts the pods of namespace/selector bound to a node and
// not finished: the room they hold.
func (c *Collector) ScheduledPods(namespace string, selector labels.Selector) (int32, error) {
	if !c.HasSynced() {
		return 0, ErrNotSynced
	}
	pods, err := c.pods.Pods(namespace).List(selector)
	if err != nil {
		return 0, fmt.Errorf("capacity: listing pods of %s in %s: %w", selector, namespace, err)
	}
	var n int32
	for _, p := range pods {
		if p.Spec.NodeName != "" && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			n++
		}
	}
	return n, nil
}

// ReadyReplicas is the Ready replica count of a Deployment, from its status
// as the Deployment controller last wrote it.
func (c *Collector) ReadyReplicas(namespace, name string) (int32, error) {
	if !c.HasSynced() {
		return 0, ErrNotSynced
	}
	d, err := c.deployments.Deployments(namespace).Get(name)
	if err != nil {
		return 0, fmt.Errorf("capacity: deployment %s/%s: %w", namespace, name, err)
	}
	return d.Status.ReadyReplicas, nil
}

// Target estimates the capacity of the pods of namespace/selector made from
// template (a StatefulSet or any other workload).
func (c *Collector) Target(namespace string, selector labels.Selector, template *corev1.PodTemplateSpec) (Target, error) {
	s, err := c.Snapshot()
	if err != nil {
		return Target{}, err
	}
	t, err := EstimateTarget(s, namespace, selector, template)
	if err != nil {
		return Target{}, fmt.Errorf("capacity of %s/%s: %w", namespace, selector, err)
	}
	return t, nil
}
