package config

import (
	"testing"
	"time"
)

func TestNodesDefaults(t *testing.T) {
	n := DefaultTarget().Nodes
	if n.Provisioner != ProvisionerAuto || !n.LeadTime.Auto || n.Placeholders.Enabled ||
		n.Placeholders.PriorityClassName != DefaultPlaceholderPriorityClass || n.Placeholders.Image != DefaultPlaceholderImage {
		t.Fatalf("default nodes = %+v", n)
	}
	if got := n.ConfiguredNodeLead(); got != DefaultNodeLeadTime {
		t.Errorf("ConfiguredNodeLead() = %s, want %s until measured", got, DefaultNodeLeadTime)
	}
	n.LeadTime = LeadTime{Duration: 7 * time.Minute}
	if got := n.ConfiguredNodeLead(); got != 7*time.Minute {
		t.Errorf("ConfiguredNodeLead() = %s, want the fixed 7m", got)
	}
}

func TestNodesAccepted(t *testing.T) {
	for name, mutate := range map[string]func(n *Nodes){
		"karpenter with placeholders": func(n *Nodes) {
			n.Provisioner, n.GPUsPerNode, n.Placeholders.Enabled = ProvisionerKarpenter, 4, true
		},
		"cluster autoscaler with its limit": func(n *Nodes) { n.Provisioner, n.MaxGPUs = ProvisionerClusterAutoscaler, 32 },
		"fixed pool":                        func(n *Nodes) { n.Provisioner = ProvisionerNone },
		"fixed node lead":                   func(n *Nodes) { n.LeadTime = LeadTime{Duration: 4 * time.Minute} },
	} {
		cfg := validConfig()
		mutate(&cfg.Targets[0].Nodes)
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestNodesRejected(t *testing.T) {
	const path = "targets[0].nodes"
	tests := []struct {
		name      string
		mutate    func(n *Nodes)
		wantField string
		wantText  string
	}{
		{"unknown provisioner", func(n *Nodes) { n.Provisioner = "gke" }, path + ".provisioner", `"gke" must be one of auto`},
		{"zero node lead", func(n *Nodes) { n.LeadTime = LeadTime{} }, path + ".leadTime", `"0s" must be > 0 or "auto"`},
		{"negative gpus per node", func(n *Nodes) { n.GPUsPerNode = -4 }, path + ".gpusPerNode", "-4 must be >= 0"},
		{"cluster autoscaler without its limit", func(n *Nodes) { n.Provisioner = ProvisionerClusterAutoscaler },
			path + ".maxGPUs", "must be set with provisioner clusterAutoscaler"},
		{"maxGPUs with karpenter", func(n *Nodes) { n.Provisioner, n.MaxGPUs = ProvisionerKarpenter, 8 },
			path + ".maxGPUs", "8 is read only with provisioner clusterAutoscaler, not karpenter"},
		{"negative maxGPUs", func(n *Nodes) { n.MaxGPUs = -1 }, path + ".maxGPUs", "-1 must be >= 0"},
		{"placeholders on a fixed pool", func(n *Nodes) { n.Provisioner, n.Placeholders.Enabled = ProvisionerNone, true },
			path + ".placeholders.enabled", "need a provisioner other than none"},
		{"placeholder priority class name", func(n *Nodes) {
			n.Placeholders.Enabled, n.Placeholders.PriorityClassName = true, "Low_Priority"
		}, path + ".placeholders.priorityClassName", `"Low_Priority" is not a valid object name`},
		{"placeholder image", func(n *Nodes) { n.Placeholders.Enabled, n.Placeholders.Image = true, "" },
			path + ".placeholders.image", "must be set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.mutate(&cfg.Targets[0].Nodes)
			assertProblem(t, cfg.Validate(), tt.wantField, tt.wantText)
		})
	}
}
