package startup

import (
	"fmt"
	"maps"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/tools/cache"
)

// Recorder keeps the start-up sample of every pod the shared pod informer
// sees become Ready, and answers for a target over a window. Samples outlive
// their pods (a scale-down does not erase what the last scale-up measured)
// until they are older than the retention.
type Recorder struct {
	retention   time.Duration
	synced      cache.InformerSynced
	deployments appslisters.DeploymentLister

	mu sync.Mutex
	// samples by pod UID; a UID present with ok=false was judged and
	// skipped (see observe).
	samples map[types.UID]entry
	// unready holds pods seen before they were Ready: their first Ready
	// transition is then known to be the start-up, restarts or not.
	unready map[types.UID]struct{}
}

type entry struct {
	Sample
	ok bool
}

// NewRecorder registers a handler on factory's pod informer, and the
// Deployment informer for ForDeployment (call it before factory.Start). retention bounds the widest window that For can answer:
// older samples are dropped.
func NewRecorder(factory informers.SharedInformerFactory, retention time.Duration) (*Recorder, error) {
	r := &Recorder{retention: retention, samples: map[types.UID]entry{}, unready: map[types.UID]struct{}{}}
	inf := factory.Core().V1().Pods().Informer()
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.observe(obj) },
		UpdateFunc: func(_, obj any) { r.observe(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				r.mu.Lock()
				delete(r.unready, p.UID)
				r.mu.Unlock()
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("startup: pod informer handler: %w", err)
	}
	deps := factory.Apps().V1().Deployments()
	r.deployments = deps.Lister()
	depsSynced := deps.Informer().HasSynced
	r.synced = func() bool { return reg.HasSynced() && depsSynced() }
	return r, nil
}

// HasSynced reports whether the handler has seen the informer's first list.
func (r *Recorder) HasSynced() bool { return r.synced() }

// observe records a pod's first Ready transition. A pod found already Ready
// with restarted containers is skipped: its Ready time may follow a restart
// long after its start-up, and nothing in its status tells the first one.
func (r *Recorder) observe(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, done := r.samples[p.UID]; done {
		return
	}
	s, ready := SampleOf(p)
	if !ready {
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			r.unready[p.UID] = struct{}{}
		}
		return
	}
	_, sawUnready := r.unready[p.UID]
	delete(r.unready, p.UID)
	r.samples[p.UID] = entry{Sample: s, ok: sawUnready || restarts(p) == 0}
}

// SampleOf returns the pod's sample when its Ready condition is True: the
// condition's lastTransitionTime against the pod's creation.
func SampleOf(p *corev1.Pod) (Sample, bool) {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && !c.LastTransitionTime.IsZero() {
			return Sample{
				Namespace: p.Namespace, Labels: maps.Clone(p.Labels),
				Created: p.CreationTimestamp.Time, Ready: c.LastTransitionTime.Time,
			}, true
		}
	}
	return Sample{}, false
}

func restarts(p *corev1.Pod) int32 {
	var n int32
	for _, cs := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, c := range cs {
			n += c.RestartCount
		}
	}
	return n
}

// Samples returns the kept samples that became Ready after now − retention,
// and drops the older ones.
func (r *Recorder) Samples(now time.Time) []Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	cutoff := now.Add(-r.retention)
	var out []Sample
	for uid, e := range r.samples {
		if e.Ready.Before(cutoff) {
			delete(r.samples, uid)
			continue
		}
		if e.ok {
			out = append(out, e.Sample)
		}
	}
	return out
}

// For estimates the start-up of the pods of namespace/selector that became
// Ready in the window before now. It returns ErrNoSamples when none did, and
// ErrNotSynced before the informer's first list.
func (r *Recorder) For(namespace string, selector labels.Selector, window time.Duration, now time.Time) (Estimate, error) {
	if !r.HasSynced() {
		return Estimate{}, ErrNotSynced
	}
	if window > r.retention {
		return Estimate{}, fmt.Errorf("startup: window %s exceeds the retention %s", window, r.retention)
	}
	return Summarize(Select(r.Samples(now), namespace, selector, now.Add(-window), now))
}

// Deployment is For on the Deployment's selector (its pods of every
// ReplicaSet, old and new).
func (r *Recorder) Deployment(d *appsv1.Deployment, window time.Duration, now time.Time) (Estimate, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return Estimate{}, fmt.Errorf("deployment %s/%s: selector: %w", d.Namespace, d.Name, err)
	}
	return r.For(d.Namespace, sel, window, now)
}

// ForDeployment is Deployment on the Deployment namespace/name read from the
// cache (an HPA's scaleTargetRef, for instance).
func (r *Recorder) ForDeployment(namespace, name string, window time.Duration, now time.Time) (Estimate, error) {
	if !r.HasSynced() {
		return Estimate{}, ErrNotSynced
	}
	d, err := r.deployments.Deployments(namespace).Get(name)
	if err != nil {
		return Estimate{}, fmt.Errorf("startup: deployment %s/%s: %w", namespace, name, err)
	}
	return r.Deployment(d, window, now)
}
