package config

import (
	"slices"
	"time"
)

// Provisioner names what adds nodes for a target's pods.
type Provisioner string

const (
	// ProvisionerAuto uses Karpenter where its NodePools are served and
	// treats the nodes as a fixed pool otherwise.
	ProvisionerAuto Provisioner = "auto"
	// ProvisionerNone is a fixed pool: the floor never asks for more
	// replicas than the nodes that exist hold.
	ProvisionerNone Provisioner = "none"
	// ProvisionerKarpenter reads the NodePools the pod template fits and
	// their limits, and measures NodeClaims from creation to Ready.
	ProvisionerKarpenter Provisioner = "karpenter"
	// ProvisionerClusterAutoscaler is the cluster autoscaler: its node group
	// limits are not readable through the API, so nodes.maxGPUs says them;
	// nodes are measured from creation to Ready.
	ProvisionerClusterAutoscaler Provisioner = "clusterAutoscaler"
)

// provisioners are the declared provisioners.
var provisioners = []Provisioner{ProvisionerAuto, ProvisionerNone, ProvisionerKarpenter, ProvisionerClusterAutoscaler}

func (p Provisioner) valid() bool { return slices.Contains(provisioners, p) }

// DefaultNodeLeadTime is the node lead time used while it is measured
// ("auto") but fewer than three nodes have been seen to become Ready: a GPU
// node's launch, join and driver load commonly take minutes.
const DefaultNodeLeadTime = 5 * time.Minute

// DefaultPlaceholderPriorityClass is the PriorityClass placeholder pods run
// at, created by the install manifests.
const DefaultPlaceholderPriorityClass = "prescaler-placeholder"

// DefaultPlaceholderImage is the container placeholder pods run: it does
// nothing and holds the room the pod requests.
const DefaultPlaceholderImage = "registry.k8s.io/pause:3.10"

// Nodes says how a target's nodes are added, and whether prescaler asks for
// them ahead of a forecast peak.
type Nodes struct {
	// Provisioner is what adds nodes: auto, none, karpenter or clusterAutoscaler.
	Provisioner Provisioner `yaml:"provisioner"`
	// LeadTime is how long a new node takes to be Ready: "auto" measures it
	// (p90 over the last day), or a fixed duration.
	LeadTime LeadTime `yaml:"leadTime"`
	// GPUsPerNode is the GPUs of the nodes the pools add, for per-node
	// packing; 0 counts the pools' GPUs without packing.
	GPUsPerNode int `yaml:"gpusPerNode"`
	// MaxGPUs is, with clusterAutoscaler, the GPUs its node groups may hold
	// in all (their maximum sizes times the GPUs of a node).
	MaxGPUs int `yaml:"maxGPUs"`
	// Placeholders holds the replicas that need new nodes as preemptible
	// placeholder pods instead of raising the floor a node lead earlier.
	Placeholders Placeholders `yaml:"placeholders"`
}

// Placeholders configures the placeholder pods of a target.
type Placeholders struct {
	Enabled           bool   `yaml:"enabled"`
	PriorityClassName string `yaml:"priorityClassName"`
	Image             string `yaml:"image"`
}

func defaultNodes() Nodes {
	return Nodes{
		Provisioner: ProvisionerAuto,
		LeadTime:    LeadTime{Auto: true},
		Placeholders: Placeholders{
			PriorityClassName: DefaultPlaceholderPriorityClass,
			Image:             DefaultPlaceholderImage,
		},
	}
}

// ConfiguredNodeLead is the node lead time in force before any is
// measured: the fixed value, or DefaultNodeLeadTime with "auto".
func (n Nodes) ConfiguredNodeLead() time.Duration {
	if n.LeadTime.Auto {
		return DefaultNodeLeadTime
	}
	return n.LeadTime.Duration
}

func (n Nodes) validate(r *report, path string) {
	if !n.Provisioner.valid() {
		r.add(path+".provisioner", "%q must be one of %s, %s, %s, %s", n.Provisioner,
			ProvisionerAuto, ProvisionerNone, ProvisionerKarpenter, ProvisionerClusterAutoscaler)
	}
	if !n.LeadTime.Auto && n.LeadTime.Duration <= 0 {
		r.add(path+".leadTime", "%q must be > 0 or \"auto\"", n.LeadTime)
	}
	if n.GPUsPerNode < 0 {
		r.add(path+".gpusPerNode", "%d must be >= 0 (0: no per-node packing)", n.GPUsPerNode)
	}
	switch {
	case n.MaxGPUs < 0:
		r.add(path+".maxGPUs", "%d must be >= 0", n.MaxGPUs)
	case n.Provisioner == ProvisionerClusterAutoscaler && n.MaxGPUs == 0:
		r.add(path+".maxGPUs", "must be set with provisioner %s: its node group limits cannot be read through the API", ProvisionerClusterAutoscaler)
	case n.Provisioner != ProvisionerClusterAutoscaler && n.MaxGPUs != 0:
		r.add(path+".maxGPUs", "%d is read only with provisioner %s, not %s", n.MaxGPUs, ProvisionerClusterAutoscaler, n.Provisioner)
	}
	n.Placeholders.validate(r, path+".placeholders", n.Provisioner)
}

func (p Placeholders) validate(r *report, path string, provisioner Provisioner) {
	if !p.Enabled {
		return
	}
	if provisioner == ProvisionerNone {
		r.add(path+".enabled", "placeholders bring new nodes up ahead: they need a provisioner other than %s", ProvisionerNone)
	}
	r.dnsSubdomain(path+".priorityClassName", p.PriorityClassName)
	if p.Image == "" {
		r.add(path+".image", "must be set")
	}
}
