package nodepool

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// The Karpenter resources the Collector watches.
var (
	NodePoolResource  = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodepools"}
	NodeClaimResource = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodeclaims"}
)

// ErrNotSynced: the informer caches have not finished their first list.
var ErrNotSynced = errors.New("nodepool: informer caches not synced")

// ErrNoKarpenter: the Collector was built without Karpenter's informers
// (Available said it is not installed), so there are no NodePools to read.
var ErrNoKarpenter = errors.New("nodepool: Karpenter is not watched")

// Available reports whether the API server serves Karpenter's v1 NodePools
// and NodeClaims, so that the daemon starts their informers only where
// Karpenter is installed (their first list would never finish elsewhere).
func Available(dc discovery.DiscoveryInterface) (bool, error) {
	gv := NodePoolResource.GroupVersion().String()
	list, err := dc.ServerResourcesForGroupVersion(gv)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("nodepool: discovering %s: %w", gv, err)
	}
	served := map[string]bool{}
	for _, r := range list.APIResources {
		served[r.Name] = true
	}
	return served[NodePoolResource.Resource] && served[NodeClaimResource.Resource], nil
}

// Collector is the adapter around the pure core: it reads NodePools from a
// dynamic informer's cache, and records node start-ups as the informers see
// them, NodeClaims (with Karpenter) and Nodes (always).
type Collector struct {
	retention  time.Duration
	nodes      corelisters.NodeLister
	pools      cache.GenericLister // nil without Karpenter
	nodeClaims *sampleBook         // nil without Karpenter
	nodeStarts *sampleBook
	synced     []cache.InformerSynced
}

// NewCollector registers its informers and handlers (call it before the
// factories start): nodes on factory, shared with the other collectors;
// NodePools and NodeClaims on karpenter, which is nil where Available says
// Karpenter is not installed. retention bounds the widest window
// NodeLeadP90 answers: older samples are dropped. Needs list and watch on
// nodes, and on nodepools and nodeclaims.karpenter.sh.
func NewCollector(factory informers.SharedInformerFactory, karpenter dynamicinformer.DynamicSharedInformerFactory, retention time.Duration) (*Collector, error) {
	c := &Collector{retention: retention, nodeStarts: newSampleBook(retention)}
	nodes := factory.Core().V1().Nodes()
	c.nodes = nodes.Lister()
	reg, err := nodes.Informer().AddEventHandler(c.nodeStarts.handler(func(obj any) (types.UID, Sample, bool) {
		n, ok := obj.(*corev1.Node)
		if !ok {
			return "", Sample{}, false
		}
		s, ready := NodeSample(n)
		return n.UID, s, ready
	}))
	if err != nil {
		return nil, fmt.Errorf("nodepool: node informer handler: %w", err)
	}
	c.synced = append(c.synced, reg.HasSynced)
	if karpenter == nil {
		return c, nil
	}
	pools := karpenter.ForResource(NodePoolResource)
	c.pools = pools.Lister()
	c.nodeClaims = newSampleBook(retention)
	claims := karpenter.ForResource(NodeClaimResource).Informer()
	reg, err = claims.AddEventHandler(c.nodeClaims.handler(func(obj any) (types.UID, Sample, bool) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return "", Sample{}, false
		}
		s, ready := NodeClaimSample(u)
		return u.GetUID(), s, ready
	}))
	if err != nil {
		return nil, fmt.Errorf("nodepool: nodeclaim informer handler: %w", err)
	}
	c.synced = append(c.synced, reg.HasSynced, pools.Informer().HasSynced)
	return c, nil
}

// HasSynced reports whether every informer has finished its first list.
func (c *Collector) HasSynced() bool {
	for _, s := range c.synced {
		if !s() {
			return false
		}
	}
	return true
}

// Karpenter reports whether the Collector watches Karpenter.
func (c *Collector) Karpenter() bool { return c.pools != nil }

// Pools reads the NodePools. One that cannot be read comes back as a
// PoolFit excluded as Malformed, so the others still count.
func (c *Collector) Pools() ([]Pool, []PoolFit, error) {
	if c.pools == nil {
		return nil, nil, ErrNoKarpenter
	}
	if !c.HasSynced() {
		return nil, nil, ErrNotSynced
	}
	objs, err := c.pools.List(labels.Everything())
	if err != nil {
		return nil, nil, fmt.Errorf("nodepool: listing nodepools: %w", err)
	}
	var pools []Pool
	var malformed []PoolFit
	for _, obj := range objs {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		p, err := ParseNodePool(u)
		if err != nil {
			malformed = append(malformed, PoolFit{Pool: u.GetName(), Excluded: ExcludedMalformed, Detail: err.Error()})
			continue
		}
		pools = append(pools, p)
	}
	return pools, malformed, nil
}

// Provisionable is the pure Provisionable on the NodePools in the cache,
// for the pods of template created in namespace (see PodFromTemplate).
func (c *Collector) Provisionable(namespace string, template *corev1.PodTemplateSpec, gpu corev1.ResourceName, gpusPerNode int) (Result, error) {
	pools, malformed, err := c.Pools()
	if err != nil {
		return Result{}, err
	}
	res := Provisionable(pools, PodFromTemplate(namespace, template), gpu, gpusPerNode)
	res.Fits = append(res.Fits, malformed...)
	sortFits(res.Fits)
	return res, nil
}

// ClusterAutoscalerProvisionable is Provisionable for the cluster
// autoscaler, whose node group limits the API does not show: maxGPUs is
// the configured total, and the GPUs held now are the capacity of every
// node that has the GPU resource. GPU nodes outside the autoscaler's
// groups count as held, so the answer errs low.
func (c *Collector) ClusterAutoscalerProvisionable(namespace string, template *corev1.PodTemplateSpec, gpu corev1.ResourceName, gpusPerNode, maxGPUs int) (Result, error) {
	if !c.HasSynced() {
		return Result{}, ErrNotSynced
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return Result{}, fmt.Errorf("nodepool: listing nodes: %w", err)
	}
	var held int64
	for _, n := range nodes {
		q := n.Status.Capacity[gpu]
		held += q.Value()
	}
	pool := ConfiguredPool("cluster-autoscaler", gpu, int64(maxGPUs), held)
	return Provisionable([]Pool{pool}, PodFromTemplate(namespace, template), gpu, gpusPerNode), nil
}

// NodeClaimSamples returns the NodeClaim start-ups kept (Ready after
// now − retention); nil without Karpenter.
func (c *Collector) NodeClaimSamples(now time.Time) []Sample {
	if c.nodeClaims == nil {
		return nil
	}
	return c.nodeClaims.samples(now)
}

// NodeSamples returns the Node start-ups kept (Ready after now −
// retention), for clusters without Karpenter. A Node is created when its
// kubelet registers, so these miss the machine's boot before it.
func (c *Collector) NodeSamples(now time.Time) []Sample { return c.nodeStarts.samples(now) }

// NodeLeadP90 estimates the node lead time from the start-ups of pools
// (all when empty) that became Ready in the window before now: NodeClaims
// with Karpenter, Nodes without. It returns ErrNotSynced before the first
// lists, and an error wrapping ErrTooFewSamples below MinSamples.
func (c *Collector) NodeLeadP90(pools []string, window time.Duration, now time.Time) (Estimate, error) {
	if !c.HasSynced() {
		return Estimate{}, ErrNotSynced
	}
	if window > c.retention {
		return Estimate{}, fmt.Errorf("nodepool: window %s exceeds the retention %s", window, c.retention)
	}
	samples := c.NodeSamples(now)
	if c.Karpenter() {
		samples = c.NodeClaimSamples(now)
	}
	return LeadP90(samples, pools, now.Add(-window), now)
}

func sortFits(fits []PoolFit) {
	slices.SortFunc(fits, func(a, b PoolFit) int { return cmp.Compare(a.Pool, b.Pool) })
}

// sampleBook keeps each object's first Ready transition, by UID, as the
// startup Recorder does for pods: a Ready condition that flaps later moves
// its lastTransitionTime, and deleted objects (a NodeClaim consolidated
// away) would take their samples with them. Samples are dropped once older
// than the retention.
type sampleBook struct {
	retention time.Duration
	mu        sync.Mutex
	// byUID holds every object judged; ok=false marks one skipped.
	byUID map[types.UID]bookEntry
}

type bookEntry struct {
	Sample
	ok bool
}

func newSampleBook(retention time.Duration) *sampleBook {
	return &sampleBook{retention: retention, byUID: map[types.UID]bookEntry{}}
}

// handler records objects on add and update; deletes change nothing.
func (b *sampleBook) handler(sampleOf func(any) (types.UID, Sample, bool)) cache.ResourceEventHandlerFuncs {
	observe := func(obj any) {
		if uid, s, ready := sampleOf(obj); ready {
			b.record(uid, s)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    observe,
		UpdateFunc: func(_, obj any) { observe(obj) },
	}
}

// record keeps the first Ready seen for uid. An object first seen Ready
// long after its creation is most likely one whose Ready flapped (a node
// whose kubelet missed heartbeats): a start-up longer than the retention is
// not kept.
func (b *sampleBook) record(uid types.UID, s Sample) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, judged := b.byUID[uid]; judged {
		return
	}
	b.byUID[uid] = bookEntry{Sample: s, ok: s.Duration() <= b.retention}
}

// samples returns the samples kept that became Ready after now − retention,
// and drops the older ones.
func (b *sampleBook) samples(now time.Time) []Sample {
	b.mu.Lock()
	defer b.mu.Unlock()
	cutoff := now.Add(-b.retention)
	var out []Sample
	for uid, e := range b.byUID {
		if e.Ready.Before(cutoff) {
			delete(b.byUID, uid)
			continue
		}
		if e.ok {
			out = append(out, e.Sample)
		}
	}
	return out
}

// NodeClaimSample returns a NodeClaim's start-up when its Ready condition
// is True: creationTimestamp to the condition's lastTransitionTime, in the
// pool its karpenter.sh/nodepool label names.
func NodeClaimSample(u *unstructured.Unstructured) (Sample, bool) {
	conds, _, err := unstructured.NestedSlice(u.Object, "status", "conditions")
	if err != nil {
		return Sample{}, false
	}
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != "Ready" || m["status"] != string(corev1.ConditionTrue) {
			continue
		}
		raw, _ := m["lastTransitionTime"].(string)
		ready, err := time.Parse(time.RFC3339, raw)
		if err != nil {
			return Sample{}, false
		}
		return Sample{Pool: u.GetLabels()[LabelNodePool], Created: u.GetCreationTimestamp().Time, Ready: ready}, true
	}
	return Sample{}, false
}

// NodeSample returns a Node's start-up when its Ready condition is True:
// creationTimestamp to the condition's lastTransitionTime. Pool is its
// karpenter.sh/nodepool label, empty on nodes Karpenter did not make.
func NodeSample(n *corev1.Node) (Sample, bool) {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue && !c.LastTransitionTime.IsZero() {
			return Sample{Pool: n.Labels[LabelNodePool], Created: n.CreationTimestamp.Time, Ready: c.LastTransitionTime.Time}, true
		}
	}
	return Sample{}, false
}
