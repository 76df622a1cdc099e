package adapters

import (
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/resource"

	"github.com/prescaler/prescaler/collector/capacity"
	"github.com/prescaler/prescaler/collector/nodepool"
	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/daemon"
)

// DefaultGPUResource is the GPU resource of a template that requests no
// resource of NVIDIA's device plugin.
const DefaultGPUResource corev1.ResourceName = "nvidia.com/gpu"

// Nodes reads what a target's node autoscaler may still add: Karpenter's
// NodePools the pod template fits (or the cluster autoscaler's configured
// limit), and the node lead time measured from NodeClaims (or Nodes).
type Nodes struct {
	Targets  *ScaleTargets
	Capacity *capacity.Collector
	Pools    *nodepool.Collector
	// Window is how far back node start-ups count.
	Window time.Duration
	Now    func() time.Time
}

// Outlook implements daemon.NodeSource.
func (n Nodes) Outlook(ctx context.Context, t *config.Target) (daemon.NodeOutlook, error) {
	prov := n.provisioner(t.Nodes.Provisioner)
	if prov == config.ProvisionerNone {
		return daemon.NodeOutlook{Provisioner: prov}, nil
	}
	name, err := n.Targets.Deployment(ctx, t)
	if err != nil {
		return daemon.NodeOutlook{}, err
	}
	dep, err := n.Capacity.GetDeployment(t.Namespace, name)
	if err != nil {
		return daemon.NodeOutlook{}, err
	}
	pod := nodepool.PodFromTemplate(t.Namespace, &dep.Spec.Template)
	gpu := gpuResource(pod)
	res, err := n.provisionable(prov, t, &dep.Spec.Template, gpu)
	if err != nil {
		return daemon.NodeOutlook{}, err
	}
	held, err := heldByPlaceholders(n.Capacity, t)
	if err != nil {
		return daemon.NodeOutlook{}, err
	}
	// The pools' limits count the nodes the placeholders keep up as held;
	// the room on them is the target's (its pods preempt the placeholders),
	// so it is added back: otherwise each placeholder scheduled would lower
	// the bound the next decision sizes the placeholders by.
	out := daemon.NodeOutlook{Provisioner: prov, Replicas: wholeNodes(res, t.Nodes.GPUsPerNode) + held, Unbounded: res.Unbounded,
		GPUsPerReplica: gpusOf(pod, gpu)}
	if est, err := n.Pools.NodeLeadP90(res.Pools, n.Window, n.Now()); err == nil {
		out.Lead, out.Measured = est.P90, true
	}
	return out, nil
}

// provisioner resolves auto: Karpenter where its NodePools are served,
// else a fixed pool.
func (n Nodes) provisioner(p config.Provisioner) config.Provisioner {
	if p != config.ProvisionerAuto {
		return p
	}
	if n.Pools != nil && n.Pools.Karpenter() {
		return config.ProvisionerKarpenter
	}
	return config.ProvisionerNone
}

func (n Nodes) provisionable(prov config.Provisioner, t *config.Target, template *corev1.PodTemplateSpec, gpu corev1.ResourceName) (nodepool.Result, error) {
	if prov == config.ProvisionerClusterAutoscaler {
		return n.Pools.ClusterAutoscalerProvisionable(t.Namespace, template, gpu, t.Nodes.GPUsPerNode, t.Nodes.MaxGPUs)
	}
	if !n.Pools.Karpenter() {
		return nodepool.Result{}, nodepool.ErrNoKarpenter
	}
	return n.Pools.Provisionable(t.Namespace, template, gpu, t.Nodes.GPUsPerNode)
}

// wholeNodes is what the pools may add in whole nodes of gpusPerNode GPUs:
// Karpenter launches a node only when its whole capacity fits within the
// pool's limit, so the replicas of a partial node's GPUs (PoolFit.PartialNode)
// would stay Pending where the pool offers only that node size.
func wholeNodes(res nodepool.Result, gpusPerNode int) int32 {
	n := res.Replicas
	if gpusPerNode > 0 {
		for _, f := range res.Fits {
			n -= f.PartialNode
		}
	}
	return max(n, 0)
}

// gpuResource is the NVIDIA device plugin resource the pod requests (a
// whole GPU or a MIG slice), DefaultGPUResource when none.
func gpuResource(pod *corev1.Pod) corev1.ResourceName {
	requests := resource.PodRequests(pod, resource.PodResourcesOptions{})
	if _, ok := requests[DefaultGPUResource]; ok {
		return DefaultGPUResource
	}
	for name := range requests {
		if strings.HasPrefix(string(name), "nvidia.com/") {
			return name
		}
	}
	return DefaultGPUResource
}

// gpusOf is the pod's request of gpu, as the scheduler counts it.
func gpusOf(pod *corev1.Pod, gpu corev1.ResourceName) int64 {
	q := resource.PodRequests(pod, resource.PodResourcesOptions{})[gpu]
	return q.Value()
}
