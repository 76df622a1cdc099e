package daemon

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/prescaler/prescaler/config"
)

// fakeNodes answers every target with one outlook.
type fakeNodes struct {
	outlook NodeOutlook
	err     error
}

func (f *fakeNodes) Outlook(context.Context, *config.Target) (NodeOutlook, error) {
	return f.outlook, f.err
}

// fakePlaceholders records the placeholders kept per target.
type fakePlaceholders struct {
	mu      sync.Mutex
	kept    map[PlaceholderRef]int32
	keeps   int
	removed []PlaceholderRef
}

func newFakePlaceholders() *fakePlaceholders {
	return &fakePlaceholders{kept: map[PlaceholderRef]int32{}}
}

func (f *fakePlaceholders) Keep(_ context.Context, t *config.Target, n int32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keeps++
	f.kept[PlaceholderRef{Namespace: t.Namespace, Target: t.Name}] = n
	return nil
}

func (f *fakePlaceholders) Owned(context.Context) ([]PlaceholderRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []PlaceholderRef
	for ref := range f.kept {
		out = append(out, ref)
	}
	return out, nil
}

func (f *fakePlaceholders) Remove(_ context.Context, ref PlaceholderRef) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.kept, ref)
	f.removed = append(f.removed, ref)
	return nil
}

// nodeRig is a rig whose daemon reads nodes and keeps placeholders.
func nodeRig(t *testing.T, nodes NodeSource, sink PlaceholderSink, capacity int32, targets ...config.Target) *rig {
	t.Helper()
	r := newRig(t, fixedCapacity{n: capacity}) // for the trace and the fakes
	var err error
	r.d, err = New(testConfig(targets...), Options{Demand: r.demand, Capacity: fixedCapacity{n: capacity}, Startup: fixedStartup{},
		Scaler: r.scale, Metrics: NewMetrics(prometheus.NewRegistry()), Nodes: nodes, Placeholders: sink})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func karpenterTarget(name string) config.Target {
	tc := testTarget(name)
	tc.Nodes.Provisioner = config.ProvisionerKarpenter
	return tc
}

// The evening demand needs about ten replicas; the nodes hold four.
const nodesHoldNow = 4

// beforeSurge is 8:45 on the rig's Monday: the synthetic trace's 9:00
// surge is inside a 20-minute node lead, not inside the 3-minute pod lead.
func beforeSurge(r *rig) time.Time { return r.evening.Add(-9*time.Hour - 15*time.Minute) }

const surgeNodeLead = 20 * time.Minute

func TestFixedPoolClampsToTheNodes(t *testing.T) {
	tc := testTarget("a")
	tc.Nodes.Provisioner = config.ProvisionerNone
	nodes := &fakeNodes{outlook: NodeOutlook{Provisioner: config.ProvisionerKarpenter, Replicas: 20}}
	r := nodeRig(t, nodes, nil, nodesHoldNow, tc)
	out := r.d.RunOnce(context.Background(), r.evening)[0]
	if out.Decision.Floor != nodesHoldNow || out.Decision.Reason != "gpu_capacity" || out.Nodes.provisioning() {
		t.Fatalf("provisioner none: floor %d (%s), nodes %+v; want the nodes' %d, gpu_capacity", out.Decision.Floor,
			out.Decision.Reason, out.Nodes, nodesHoldNow)
	}
}

func TestPoolsLetTheFloorAskForNewNodes(t *testing.T) {
	nodes := &fakeNodes{outlook: NodeOutlook{Provisioner: config.ProvisionerKarpenter, Replicas: 20, Lead: surgeNodeLead, Measured: true}}
	r := nodeRig(t, nodes, nil, nodesHoldNow, karpenterTarget("a"))
	fixed := nodeRig(t, nil, nil, nodesHoldNow+20, karpenterTarget("a")).d.RunOnce(context.Background(), beforeSurge(r))[0]
	out := r.d.RunOnce(context.Background(), beforeSurge(r))[0]
	// Without a node lead the floor covers the pod lead only; with it, the
	// surge one node lead ahead.
	if out.Decision.Floor <= fixed.Decision.Floor {
		t.Errorf("node lead %s: floor %d, no higher than the %d of nodes that are already there", surgeNodeLead, out.Decision.Floor, fixed.Decision.Floor)
	}
	if len(out.Errs) > 0 || out.Decision.Floor <= nodesHoldNow || !out.Decision.NodesDue {
		t.Fatalf("floor %d, nodes due %v, errors %v; want above the nodes' %d, new nodes due", out.Decision.Floor,
			out.Decision.NodesDue, out.Errs, nodesHoldNow)
	}
	if out.Nodes.Lead != surgeNodeLead || !out.Nodes.Measured || out.Nodes.Provisionable != 20 {
		t.Errorf("nodes %+v; want the measured %s and 20 provisionable", out.Nodes, surgeNodeLead)
	}
	if got := testutil.ToFloat64(r.d.metrics.nodeLead.WithLabelValues(labelsOf("a")...)); got != surgeNodeLead.Seconds() {
		t.Errorf("node_lead_time_seconds %v, want %v", got, surgeNodeLead.Seconds())
	}
	// The pools' limit bounds the floor, with its own reason.
	nodes.outlook.Replicas = 2
	out = r.d.RunOnce(context.Background(), beforeSurge(r).Add(time.Minute))[0]
	if out.Decision.Floor != nodesHoldNow+2 || out.Decision.Reason != "pool_limit" {
		t.Errorf("pools allow 2 more: floor %d (%s), want %d with pool_limit", out.Decision.Floor, out.Decision.Reason, nodesHoldNow+2)
	}
}

func TestUnboundedPoolIsBoundedByMaxReplicas(t *testing.T) {
	nodes := &fakeNodes{outlook: NodeOutlook{Provisioner: config.ProvisionerKarpenter, Unbounded: true}}
	r := nodeRig(t, nodes, nil, nodesHoldNow, karpenterTarget("a"))
	out := r.d.RunOnce(context.Background(), r.evening)[0]
	// fakeScaler: maxReplicas 50.
	if out.Nodes.Provisionable != 50-nodesHoldNow {
		t.Errorf("unbounded pool: provisionable %d, want maxReplicas − the nodes' = %d", out.Nodes.Provisionable, 50-nodesHoldNow)
	}
	if out.Nodes.Lead != config.DefaultNodeLeadTime || out.Nodes.Measured {
		t.Errorf("nothing measured: node lead %s (measured %v), want the default %s", out.Nodes.Lead, out.Nodes.Measured, config.DefaultNodeLeadTime)
	}
}

func TestNodeSourceFailureFallsBackToAFixedPool(t *testing.T) {
	nodes := &fakeNodes{err: errors.New("nodepools not synced")}
	r := nodeRig(t, nodes, nil, nodesHoldNow, karpenterTarget("a"))
	out := r.d.RunOnce(context.Background(), r.evening)[0]
	if out.Decision.Floor != nodesHoldNow || out.Decision.Reason != "gpu_capacity" {
		t.Errorf("unreadable pools: floor %d (%s), want the nodes' %d with gpu_capacity", out.Decision.Floor, out.Decision.Reason, nodesHoldNow)
	}
	if len(out.Errs) != 1 || !strings.Contains(out.Errs[0].Error(), "treated as a fixed pool") {
		t.Errorf("errors %v, want one saying the pools are treated as fixed", out.Errs)
	}
}

func TestMeasuredNodeLeadHoldsWhenTooFewNodesStart(t *testing.T) {
	nodes := &fakeNodes{outlook: NodeOutlook{Provisioner: config.ProvisionerKarpenter, Replicas: 20, Lead: 3 * time.Minute, Measured: true}}
	r := nodeRig(t, nodes, nil, nodesHoldNow, karpenterTarget("a"))
	r.d.RunOnce(context.Background(), r.evening)
	nodes.outlook.Measured, nodes.outlook.Lead = false, 0
	out := r.d.RunOnce(context.Background(), r.evening.Add(time.Minute))[0]
	if out.Nodes.Lead != 3*time.Minute || out.Nodes.Measured {
		t.Errorf("node lead %s (measured %v), want the last measurement 3m held", out.Nodes.Lead, out.Nodes.Measured)
	}
}

func TestPlaceholdersAreKeptAndPriced(t *testing.T) {
	tc := karpenterTarget("a")
	tc.Nodes.Placeholders.Enabled = true
	tc.Nodes.LeadTime = config.LeadTime{Duration: surgeNodeLead}
	nodes := &fakeNodes{outlook: NodeOutlook{Provisioner: config.ProvisionerKarpenter, Replicas: 20, GPUsPerReplica: 2}}
	sink := newFakePlaceholders()
	r := nodeRig(t, nodes, sink, nodesHoldNow, tc)
	ref := PlaceholderRef{Namespace: "default", Target: "a"}
	out := r.d.RunOnce(context.Background(), beforeSurge(r))[0]
	n := out.Decision.Placeholders
	if n <= 0 || sink.kept[ref] != n || out.Placeholders != n {
		t.Fatalf("placeholders decided %d, kept %d, outcome %d; want some, all kept", n, sink.kept[ref], out.Placeholders)
	}
	keeps := sink.keeps
	out = r.d.RunOnce(context.Background(), beforeSurge(r).Add(30*time.Second))[0]
	if sink.keeps != keeps && out.Decision.Placeholders == n {
		t.Errorf("an unchanged count was written again")
	}
	// n placeholders of 2 GPUs for 30 s.
	if want := float64(n) * 2 * 30; out.PlaceholderGPUSeconds != want {
		t.Errorf("placeholder GPU-seconds %v, want %v", out.PlaceholderGPUSeconds, want)
	}
	if got := testutil.ToFloat64(r.d.metrics.placeholderGPUSeconds.WithLabelValues(labelsOf("a")...)); got != float64(n)*2*30 {
		t.Errorf("placeholder_gpu_seconds_total %v", got)
	}
}

func TestPlaceholdersOfTargetsThatNoLongerKeepThemAreSwept(t *testing.T) {
	tc := karpenterTarget("a")
	tc.Nodes.Placeholders.Enabled = true
	sink := newFakePlaceholders()
	sink.kept[PlaceholderRef{Namespace: "default", Target: "gone"}] = 3
	nodes := &fakeNodes{outlook: NodeOutlook{Provisioner: config.ProvisionerKarpenter, Replicas: 20}}
	r := nodeRig(t, nodes, sink, nodesHoldNow, tc)
	r.d.RunOnce(context.Background(), r.evening)
	if _, ok := sink.kept[PlaceholderRef{Namespace: "default", Target: "gone"}]; ok {
		t.Fatalf("the placeholders of a target not in the config were kept: %v", sink.kept)
	}
	if _, ok := sink.kept[PlaceholderRef{Namespace: "default", Target: "a"}]; !ok {
		t.Fatalf("the configured target's placeholders were removed: %v", sink.kept)
	}
	// Turning them off is a config change: the next loop sweeps them.
	off := tc
	off.Nodes.Placeholders.Enabled = false
	if err := r.d.Update(context.Background(), testConfig(off)); err != nil {
		t.Fatal(err)
	}
	r.d.RunOnce(context.Background(), r.evening.Add(time.Minute))
	if len(sink.kept) != 0 {
		t.Errorf("placeholders left after the target turned them off: %v", sink.kept)
	}
}

func TestPlaceholdersNeedASink(t *testing.T) {
	tc := karpenterTarget("a")
	tc.Nodes.Placeholders.Enabled = true
	_, err := New(testConfig(tc), Options{Demand: &synthDemand{}, Capacity: fixedCapacity{}, Startup: fixedStartup{},
		Scaler: newFakeScaler(), Metrics: NewMetrics(prometheus.NewRegistry())})
	if err == nil || !strings.Contains(err.Error(), "targets[0].nodes.placeholders.enabled") {
		t.Errorf("err = %v, want the field named", err)
	}
}
