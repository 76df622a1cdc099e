package cluster

import (
	"cmp"
	"slices"
	"strconv"
	"time"
)

// Phase is where a pod is in its life, as the simulator sees it.
type Phase int

const (
	// PhasePending: created, not scheduled; holds no GPU, never serves.
	PhasePending Phase = iota
	// PhaseStarting: scheduled, holding its GPUs, loading the model.
	PhaseStarting
	// PhaseReady: serving ReplicaCapacity requests per minute.
	PhaseReady
)

func (p Phase) String() string {
	switch p {
	case PhasePending:
		return "Pending"
	case PhaseStarting:
		return "Starting"
	case PhaseReady:
		return "Ready"
	}
	return "Phase(" + strconv.Itoa(int(p)) + ")"
}

// pod is one replica. Times are offsets from the start of the run, so the
// lifecycle arithmetic is exact integer nanoseconds.
type pod struct {
	id        int
	created   time.Duration
	scheduled time.Duration // valid when node >= 0
	readyAt   time.Duration // valid when node >= 0
	deletedAt time.Duration // valid when deleted
	node      int           // -1 while unscheduled
	deleted   bool
	sampled   bool // Ready at the end of the last tick: has a metric sample
	holder    bool // a placeholder pod, not the Deployment's
}

func (p *pod) isScheduled() bool { return p.node >= 0 }

// phaseAt is the pod's phase at offset t.
func (p *pod) phaseAt(t time.Duration) Phase {
	switch {
	case !p.isScheduled():
		return PhasePending
	case p.readyAt <= t:
		return PhaseReady
	default:
		return PhaseStarting
	}
}

// overlap is the length of [from, to) ∩ [lo, hi).
func overlap(from, to, lo, hi time.Duration) time.Duration {
	return max(min(to, hi)-max(from, lo), 0)
}

// endOf is when the pod stops existing (far future while it lives).
func (p *pod) endOf() time.Duration {
	if p.deleted {
		return p.deletedAt
	}
	return farFuture
}

const farFuture = time.Duration(1<<63 - 1)

// deletionOrder sorts live pods so that the ones the ReplicaSet controller
// deletes first come first, at offset now. It follows the rules of
// ActivePodsWithRanks.Less in kubernetes/kubernetes
// pkg/controller/controller_utils.go that this model can tell apart:
//
//  1. unscheduled before scheduled;
//  2. (phase: every scheduled pod here is Running, so no difference);
//  3. not Ready before Ready;
//  4. (pod-deletion-cost: not modelled);
//  5. higher rank first, the rank being the number of this Deployment's pods
//     on the same node ("doubled up" pods go first);
//  6. both Ready: the one Ready for the shorter time first;
//  7. (container restarts: not modelled);
//  8. the more recently created first;
//
// and, where Kubernetes leaves the order open, the higher id (the later
// created) first, so the result is deterministic. Kubernetes compares the
// times in 6 and 8 on a log₂ scale (LogarithmicScaleDown) and breaks ties by
// UID, i.e. at random among pods of similar age; this model compares them
// exactly. All Ready pods are identical here, so that only changes which pod
// identities survive, not capacity or cost.
func deletionOrder(pods []*pod, now time.Duration) {
	onNode := map[int]int{}
	for _, p := range pods {
		if p.isScheduled() {
			onNode[p.node]++
		}
	}
	slices.SortStableFunc(pods, func(a, b *pod) int {
		if c := cmp.Compare(boolInt(a.isScheduled()), boolInt(b.isScheduled())); c != 0 {
			return c // 1: unscheduled first
		}
		aReady, bReady := a.phaseAt(now) == PhaseReady, b.phaseAt(now) == PhaseReady
		if c := cmp.Compare(boolInt(aReady), boolInt(bReady)); c != 0 {
			return c // 3: not ready first
		}
		if a.isScheduled() {
			if c := cmp.Compare(onNode[b.node], onNode[a.node]); c != 0 {
				return c // 5: more pods on its node first
			}
		}
		if aReady {
			if c := cmp.Compare(b.readyAt, a.readyAt); c != 0 {
				return c // 6: ready more recently first
			}
		}
		if c := cmp.Compare(b.created, a.created); c != 0 {
			return c // 8: created more recently first
		}
		return cmp.Compare(b.id, a.id)
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
