package nodepool

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"

	"github.com/prescaler/prescaler/collector/capacity"
)

// PoolFit is one pool's part of a Result.
type PoolFit struct {
	Pool string
	// Replicas is how many more replicas of the pod the pool may add nodes
	// for; 0 on an excluded pool, and not meaningful when Unbounded.
	Replicas int32
	// Unbounded: no resource the pod requests is limited (and there is no
	// node count limit), so the pool's limits do not bound the replicas.
	Unbounded bool
	// Limit is the limited resource that sets Replicas ("nodes" for the node
	// count); empty when Unbounded or excluded.
	Limit corev1.ResourceName
	// PartialNode is how many of Replicas need a node smaller than
	// gpusPerNode (the part of the GPU limit left over after whole nodes):
	// Karpenter launches a node only if its whole capacity fits within what
	// the limit leaves, so these come only if the pool offers a smaller
	// instance type. 0 unless the GPU limit sets Replicas with per-node
	// packing.
	PartialNode int32
	// Excluded says why the pool adds no node for the pod; empty when it
	// can.
	Excluded Exclusion
	// Detail is the limit's arithmetic, or the exclusion's cause.
	Detail string
}

// String is a one-line account of the pool, for logs and Events.
func (f PoolFit) String() string {
	switch {
	case f.Excluded != "":
		return fmt.Sprintf("%s: excluded (%s: %s)", f.Pool, f.Excluded, f.Detail)
	case f.Unbounded:
		return fmt.Sprintf("%s: unbounded (%s)", f.Pool, f.Detail)
	}
	return fmt.Sprintf("%s: %d (%s)", f.Pool, f.Replicas, f.Detail)
}

// Result is how many more replicas of a pod the node pools may add nodes
// for, and why, pool by pool.
type Result struct {
	// Replicas is the sum over the compatible pools whose limits bound them:
	// the pools are alternatives the provisioner can each draw on up to its
	// own limit. With Unbounded it is a lower bound (see Within).
	Replicas int32
	// Unbounded: a compatible pool's limits do not bound the replicas; the
	// caller bounds them another way (the HPA's maxReplicas).
	Unbounded bool
	// Pools are the names of the compatible pools, sorted: those whose node
	// start-ups measure the node lead time.
	Pools []string
	// Fits has one entry per pool, by name.
	Fits []PoolFit
}

// Within is Replicas bounded by limit: limit itself when Unbounded.
func (r Result) Within(limit int32) int32 {
	if r.Unbounded {
		return max(limit, 0)
	}
	return min(r.Replicas, max(limit, 0))
}

// Summary is a one-line account for an Event message:
// "12 more on 2 of 3 pools (gpu-a 8, gpu-b 4); excluded: cpu Taint".
func (r Result) Summary() string {
	var fits, excluded []string
	for _, f := range r.Fits {
		switch {
		case f.Excluded != "":
			excluded = append(excluded, fmt.Sprintf("%s %s", f.Pool, f.Excluded))
		case f.Unbounded:
			fits = append(fits, f.Pool+" unbounded")
		default:
			fits = append(fits, fmt.Sprintf("%s %d", f.Pool, f.Replicas))
		}
	}
	total := fmt.Sprint(r.Replicas)
	if r.Unbounded {
		total = "unbounded"
	}
	s := fmt.Sprintf("%s more on %d of %d pools", total, len(r.Pools), len(r.Fits))
	if len(fits) > 0 {
		s += " (" + strings.Join(fits, ", ") + ")"
	}
	if len(excluded) > 0 {
		s += "; excluded: " + strings.Join(excluded, ", ")
	}
	return s
}

// Provisionable computes how many more replicas of pod the pools may add
// nodes for. pod is the pod the scheduler and Karpenter see: an admitted
// pod of the target, or PodFromTemplate's. A pod rather than a template,
// because Karpenter's checks and the scheduler's helpers (tolerations,
// PodRequests) are defined on pods, and a caller holding a real pod of the
// target then gets every admission default for free.
//
// For each compatible pool, replicas = min over the limited resources r
// the pod requests of ⌊remaining_r / request_r⌋, where remaining_r =
// limits_r − status.resources_r (never negative); for the GPU resource with
// gpusPerNode > 0, per-node packing (see packedReplicas); for the node
// count, remaining nodes × replicas per node. gpusPerNode ≤ 0 means the node
// size is not known: no packing.
func Provisionable(pools []Pool, pod *corev1.Pod, gpu corev1.ResourceName, gpusPerNode int) Result {
	request := podRequest(pod)
	sorted := slices.Clone(pools)
	slices.SortFunc(sorted, func(a, b Pool) int { return cmp.Compare(a.Name, b.Name) })
	var res Result
	var total int64
	for _, pool := range sorted {
		fit := poolFit(pool, pod, request, gpu, int64(max(gpusPerNode, 0)))
		res.Fits = append(res.Fits, fit)
		if fit.Excluded != "" {
			continue
		}
		res.Pools = append(res.Pools, pool.Name)
		res.Unbounded = res.Unbounded || fit.Unbounded
		if !fit.Unbounded {
			total += int64(fit.Replicas)
		}
	}
	res.Replicas = int32(min(total, math.MaxInt32))
	return res
}

// podRequest is one replica's request in scheduler units, as the scheduler
// and Karpenter count it (PodRequests: init containers, sidecars, pod-level
// resources, overhead), and one "pods".
func podRequest(pod *corev1.Pod) capacity.Resources {
	r := capacity.FromList(resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{}))
	r[corev1.ResourcePods] = 1
	return r
}

// bound is what one limited resource allows.
type bound struct {
	name     corev1.ResourceName
	replicas int64
	partial  int64
	detail   string
}

// poolFit is the pool's part of the result: excluded, unbounded, or bounded
// by its tightest limit.
func poolFit(pool Pool, pod *corev1.Pod, request capacity.Resources, gpu corev1.ResourceName, gpusPerNode int64) PoolFit {
	fit := PoolFit{Pool: pool.Name}
	if ex, detail := exclude(pool, pod); ex != "" {
		fit.Excluded, fit.Detail = ex, detail
		return fit
	}
	if g := request[gpu]; gpusPerNode > 0 && g > gpusPerNode {
		fit.Limit = gpu
		fit.Detail = fmt.Sprintf("a replica's %d %s exceed a node's %d", g, gpu, gpusPerNode)
		return fit
	}
	bounds := resourceBounds(pool, request, gpu, gpusPerNode)
	if b, ok := nodeBound(pool, request[gpu], gpusPerNode); ok {
		bounds = append(bounds, b)
	}
	if len(bounds) == 0 {
		fit.Unbounded = true
		fit.Detail = "no limit on what the pod requests"
		return fit
	}
	tightest := slices.MinFunc(bounds, func(a, b bound) int { return cmp.Compare(a.replicas, b.replicas) })
	fit.Replicas = int32(min(tightest.replicas, math.MaxInt32))
	fit.PartialNode = int32(min(tightest.partial, math.MaxInt32))
	fit.Limit, fit.Detail = tightest.name, tightest.detail
	return fit
}

// resourceBounds is, for each resource the pool limits and the pod
// requests, the replicas what is left of the limit allows, by name.
func resourceBounds(pool Pool, request capacity.Resources, gpu corev1.ResourceName, gpusPerNode int64) []bound {
	limits, held := capacity.FromList(pool.Limits), capacity.FromList(pool.Resources)
	names := make([]corev1.ResourceName, 0, len(limits))
	for name := range limits {
		names = append(names, name)
	}
	slices.Sort(names)
	var out []bound
	for _, name := range names {
		want := request[name]
		if want <= 0 {
			continue
		}
		left := max(limits[name]-held[name], 0)
		b := bound{name: name, replicas: left / want,
			detail: fmt.Sprintf("%s %s left of %s, %s per replica", name,
				amount(name, left), amount(name, limits[name]), amount(name, want))}
		if name == gpu && gpusPerNode > 0 {
			b.replicas, b.partial = packedReplicas(left, gpusPerNode, want)
			b.detail += fmt.Sprintf(", %d per node", gpusPerNode)
		}
		out = append(out, b)
	}
	return out
}

// packedReplicas is how many replicas of g GPUs each the R GPUs left of a
// pool's limit hold on nodes of G GPUs each, and how many of them need the
// last, smaller node. A pod never spans nodes, so a node of G GPUs holds
// ⌊G/g⌋ replicas and strands G mod g of its GPUs. R buys ⌊R/G⌋ whole nodes,
// which hold ⌊R/G⌋·⌊G/g⌋ replicas, and leaves R mod G GPUs, which at best
// make one smaller node holding ⌊(R mod G)/g⌋ more:
//
//	replicas = ⌊R/G⌋·⌊G/g⌋ + ⌊(R mod G)/g⌋
//
// For R = 20, G = 8, g = 3: 2 nodes × 2 + ⌊4/3⌋ = 5, where ⌊20/3⌋ = 6
// ignores the stranded GPUs. With g > G no node holds a replica: 0.
func packedReplicas(left, perNode, perReplica int64) (replicas, partial int64) {
	whole := (left / perNode) * (perNode / perReplica)
	partial = (left % perNode) / perReplica
	return whole + partial, partial
}

// nodeBound is what a node count limit allows: the nodes left, each
// holding ⌊G/g⌋ replicas with gpusPerNode G and a GPU request g. Where the
// node size is unknown, or the pod requests no GPU, a node is counted as
// one replica: a node added for the pod holds at least that one.
func nodeBound(pool Pool, gpusPerReplica, gpusPerNode int64) (bound, bool) {
	limit, ok := pool.Limits[ResourceNodes]
	if !ok {
		return bound{}, false
	}
	heldQ := pool.Resources[ResourceNodes]
	left := max(limit.Value()-heldQ.Value(), 0)
	perNode := int64(1)
	if gpusPerNode > 0 && gpusPerReplica > 0 {
		perNode = gpusPerNode / gpusPerReplica
	}
	replicas := int64(math.MaxInt64)
	if perNode == 0 || left <= math.MaxInt64/perNode {
		replicas = left * perNode
	}
	return bound{name: ResourceNodes, replicas: replicas,
		detail: fmt.Sprintf("nodes %d left of %d, %d replicas per node", left, limit.Value(), perNode)}, true
}

// amount formats a quantity in scheduler units (CPU in millicores).
func amount(name corev1.ResourceName, v int64) string {
	if name == corev1.ResourceCPU {
		return fmt.Sprintf("%dm", v)
	}
	return fmt.Sprint(v)
}

// PodFromTemplate is the pod a copy of template created in namespace
// becomes, as far as Provisionable needs: each container's unset requests
// default to its limits, as the API server's pod defaulting does (GPUs are
// usually written as limits only). Pod-level requests are not defaulted
// from pod-level limits, and LimitRange defaults and a RuntimeClass's
// overhead, node selector and tolerations are not applied (the capacity
// package's admission does that, unexported): they change cpu and memory
// requests, which bound only pools with cpu or memory limits, and rarely
// the GPU pool a pod may use. A caller holding an admitted pod of the
// target passes it to Provisionable instead. The template is not modified.
func PodFromTemplate(namespace string, template *corev1.PodTemplateSpec) *corev1.Pod {
	pod := &corev1.Pod{ObjectMeta: *template.ObjectMeta.DeepCopy(), Spec: *template.Spec.DeepCopy()}
	pod.Namespace = namespace
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range cs {
			r := &cs[i].Resources
			for name, q := range r.Limits {
				if r.Requests == nil {
					r.Requests = corev1.ResourceList{}
				}
				if _, set := r.Requests[name]; !set {
					r.Requests[name] = q.DeepCopy()
				}
			}
		}
	}
	return pod
}
